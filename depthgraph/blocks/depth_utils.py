"""Numeric helpers shared by the depth blocks (numpy and OpenCV only, no torch).

- :func:`normalize_depth`: Roboflow's ``normalized_depth`` (per image, 1 = nearest, 0 = farthest).
- :func:`colorize_depth`: the one colour-mapping function, used by the depth estimation block for
  its ``image`` output and by the colour-map block.
- :func:`as_depth_map`, :func:`as_float_map`, :func:`as_intrinsics`: check a value handed to a
  block and say which property was wrong when it is not what the block expects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import DepthMap

#: OpenCV colour maps a block may name (lower-case name -> ``cv2.COLORMAP_*`` attribute).
COLORMAPS: dict[str, str] = {
    "turbo": "COLORMAP_TURBO",
    "inferno": "COLORMAP_INFERNO",
    "magma": "COLORMAP_MAGMA",
    "plasma": "COLORMAP_PLASMA",
    "viridis": "COLORMAP_VIRIDIS",
    "jet": "COLORMAP_JET",
    "bone": "COLORMAP_BONE",
    "gray": "",  # plain grey ramp, no OpenCV map
}

COLOR_MODES = ("inverse_depth", "depth")


def as_depth_map(value: Any, prop: str = "depth") -> DepthMap:
    """``value`` as a :class:`DepthMap`, or a StepInputError naming ``prop``.

    A DepthMap is taken as it is; a bare array (HxW, or HxWx1 / 1xHxW, squeezed) is a relative
    depth with no mask.
    """
    if isinstance(value, DepthMap):
        return value
    return DepthMap(values=as_float_map(value, prop, "a depth map"))


def as_float_map(value: Any, prop: str, what: str = "a map") -> np.ndarray:
    """``value`` as a float32 HxW array (a confidence map...), or a StepInputError naming ``prop``.

    Accepts an HxW array or an HxWx1 / 1xHxW one (squeezed).
    """
    if isinstance(value, DepthMap):
        return value.values
    if not isinstance(value, np.ndarray):
        raise StepInputError(
            f"property '{prop}': expected {what} (numpy array HxW), got {type(value).__name__}"
        )
    array = value
    if array.ndim == 3 and 1 in (array.shape[0], array.shape[2]):
        array = array[0] if array.shape[0] == 1 else array[:, :, 0]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise StepInputError(
            f"property '{prop}': expected {what} of 2 dimensions (H, W), "
            f"got an array of shape {value.shape}"
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise StepInputError(
            f"property '{prop}': expected {what} of numbers, got dtype {array.dtype}"
        )
    return array.astype(np.float32, copy=False)


def as_intrinsics(value: Any, prop: str = "intrinsics") -> np.ndarray:
    """``value`` as a float64 3x3 pinhole matrix with positive focal lengths, or a ValueError."""
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise StepInputError(
            f"property '{prop}': expected a 3x3 intrinsics matrix, got {type(value).__name__}"
        ) from None
    if matrix.shape != (3, 3):
        raise StepInputError(
            f"property '{prop}': expected a 3x3 intrinsics matrix, got shape {matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)):
        raise StepInputError(f"property '{prop}': the intrinsics matrix holds NaN or infinite values")
    if matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        raise StepInputError(
            f"property '{prop}': focal lengths must be positive, "
            f"got fx={matrix[0, 0]}, fy={matrix[1, 1]}"
        )
    return matrix


def normalize_depth(depth: np.ndarray) -> np.ndarray:
    """Per-image normalisation with Roboflow's meaning: 1.0 = nearest, 0.0 = farthest.

    Non-finite pixels become 0. A constant map (max == min) gives zeros, never NaN.
    """
    depth = np.asarray(depth, dtype=np.float32)
    finite = np.isfinite(depth)
    out = np.zeros(depth.shape, dtype=np.float32)
    if not finite.any():
        return out
    lo = float(depth[finite].min())
    hi = float(depth[finite].max())
    if hi - lo <= 0.0:
        return out
    out[finite] = (hi - depth[finite]) / (hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)


def _scaled_for_display(
    depth: np.ndarray, mode: str, percentiles: tuple[float, float], sky: np.ndarray | None = None
) -> np.ndarray:
    """Depth as values in [0, 1] where 1 gets the 'hot' end of the colour map.

    ``inverse_depth``: near is hot (1/depth, percentile-clipped). ``depth``: far is hot.
    ``sky`` pixels are left out of the range and drawn as the farthest value.
    """
    values = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(values)
    if sky is not None:
        valid &= ~np.asarray(sky, dtype=bool)
    if mode == "inverse_depth":
        valid &= values > 0
        values = np.where(valid, 1.0 / np.where(valid, values, 1.0), 0.0)
    elif not isinstance(mode, str) or mode != "depth":
        raise StepInputError(f"property 'mode': expected one of {list(COLOR_MODES)}, got {mode!r}")
    out = np.zeros(values.shape, dtype=np.float64)
    if not valid.any():
        return out
    lo, hi = np.percentile(values[valid], [percentiles[0], percentiles[1]])
    if hi - lo <= 0:
        return out
    out[valid] = (values[valid] - lo) / (hi - lo)
    np.clip(out, 0.0, 1.0, out=out)
    if sky is not None:
        out[np.asarray(sky, dtype=bool)] = 0.0 if mode == "inverse_depth" else 1.0
    return out


#: the two greys of the checkerboard drawn where a depth map has no value (no colour map uses it)
NO_DATA_GREYS = (96, 160)
NO_DATA_TILE = 8


def mark_no_data(picture: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, int]:
    """``picture`` (BGR of ``depth``) with the non-finite pixels of ``depth`` drawn as a grey
    checkerboard, so "no data" never reads as "farthest"; and how many pixels that was."""
    missing = ~np.isfinite(np.asarray(depth))
    count = int(missing.sum())
    if count:
        picture = picture.copy()
        rows, cols = np.nonzero(missing)
        dark = ((rows // NO_DATA_TILE + cols // NO_DATA_TILE) % 2) == 0
        picture[rows, cols] = np.where(dark, NO_DATA_GREYS[0], NO_DATA_GREYS[1])[:, None]
    return picture, count


def colorize_depth(
    depth: np.ndarray,
    colormap: str = "turbo",
    mode: str = "inverse_depth",
    percentiles: tuple[float, float] = (2.0, 98.0),
    sky: np.ndarray | None = None,
) -> np.ndarray:
    """A BGR uint8 HxWx3 picture of a depth map.

    Args:
        depth: float HxW, larger = farther (non-finite or, in ``inverse_depth`` mode, non-positive
            pixels are drawn as the cold end of the map).
        colormap: one of :data:`COLORMAPS`.
        mode: ``inverse_depth`` (near objects hot, the usual disparity look) or ``depth``.
        percentiles: low and high percentiles clipped before scaling (robust to outliers).
        sky: bool HxW or None: sky pixels are drawn as the farthest colour and left out of the
            percentile range.
    """
    import cv2

    if not isinstance(colormap, str) or colormap not in COLORMAPS:
        raise StepInputError(
            f"property 'colormap': expected one of {sorted(COLORMAPS)}, got {colormap!r}"
        )
    try:
        low, high = float(percentiles[0]), float(percentiles[1])
    except (TypeError, ValueError, IndexError):
        raise StepInputError(
            "properties 'percentile_low'/'percentile_high': expected numbers, got "
            f"{percentiles!r}"
        ) from None
    if not (0.0 <= low < high <= 100.0):
        raise StepInputError(
            "properties 'percentile_low'/'percentile_high': expected 0 <= low < high <= 100, "
            f"got {low} and {high}"
        )
    scaled = _scaled_for_display(depth, mode, (low, high), sky)
    gray = np.round(scaled * 255.0).astype(np.uint8)
    if colormap == "gray":
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    return cv2.applyColorMap(gray, getattr(cv2, COLORMAPS[colormap]))


def blend_over(
    picture: np.ndarray, background: np.ndarray, alpha: float
) -> np.ndarray:
    """``alpha * picture + (1 - alpha) * background``, resizing ``picture`` to the background."""
    import cv2

    h, w = background.shape[:2]
    if picture.shape[:2] != (h, w):
        picture = cv2.resize(picture, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.addWeighted(picture, float(alpha), background, 1.0 - float(alpha), 0.0)
