"""The sky rule of DA3METRIC-LARGE / DA3MONO-LARGE, deterministic and per image (spec
``da3-metric.md`` section 6.2).

The official code fills the sky with a randomly sub-sampled quantile pooled over a whole batch;
we compute the exact quantile over each image's own non-sky pixels, so a batch equals the singles
and two runs give the same numbers. numpy only.
"""

from __future__ import annotations

import numpy as np

#: pixels with a sky score >= this get the fill depth (``non_sky = score < 0.3``)
SKY_FILL_THRESHOLD = 0.3
#: pixels with a sky score >= this are reported as sky (a different constant, kept as official)
SKY_MASK_THRESHOLD = 0.5
#: the fill is this quantile of the non-sky depths
FILL_QUANTILE = 0.99
#: the rule does nothing unless both the sky and the non-sky pixels number more than this
MIN_COUNT = 10


def sky_fill_value(depth: np.ndarray, sky: np.ndarray) -> float | None:
    """The depth the sky pixels of ONE image get, or None when the rule does not fire.

    ``depth``, ``sky``: (h, w) at the network resolution. The 0.99 quantile with linear
    interpolation over all pixels with ``sky < 0.3``, computed in float64.
    """
    non_sky = sky < SKY_FILL_THRESHOLD
    n_non_sky = int(non_sky.sum())
    n_sky = int(non_sky.size - n_non_sky)
    if n_non_sky <= MIN_COUNT or n_sky <= MIN_COUNT:
        return None
    values = np.sort(depth[non_sky].astype(np.float64))
    pos = FILL_QUANTILE * (n_non_sky - 1)
    i = int(np.floor(pos))
    upper = values[i + 1] if i + 1 < n_non_sky else values[i]
    return float(values[i] + (pos - i) * (upper - values[i]))


def fill_sky(depth: np.ndarray, sky: np.ndarray) -> tuple[np.ndarray, float | None]:
    """``depth`` with every pixel of score >= 0.3 set to :func:`sky_fill_value` (float32), and the
    fill (None when the rule did not fire; the depth is then returned unchanged)."""
    fill = sky_fill_value(depth, sky)
    if fill is None:
        return depth.astype(np.float32, copy=True), None
    out = depth.astype(np.float32, copy=True)
    out[sky >= SKY_FILL_THRESHOLD] = np.float32(fill)
    return out, fill
