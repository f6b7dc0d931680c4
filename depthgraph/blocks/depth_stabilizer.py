"""``depthgraph/depth_stabilizer@v1``: steady depth scale and normalisation over a video.

Per video (state kept through :class:`~depthgraph.engine.state.VideoStateStore`):

1. Work in the fitting space ``x`` (inverse depth by default) on a sampling grid of at most
   about 4096 pixels.
2. Fit ``scale * x + shift`` to the running estimate ``r``: a Theil-Sen start (median of the
   slopes of random pixel pairs), then iteratively re-weighted least squares with Tukey's
   biweight, so that moving objects and bad pixels weigh little or nothing.
3. If the median residual exceeds ``cut_threshold`` times the range, or the scale is not
   positive, the frame is a cut: the estimate restarts from it (``reset`` is True).
4. The aligned frame updates the running estimate, and its percentile range (on the sampling
   grid) updates the
   normalisation range, both by exponential smoothing with weight ``1 - exp(-dt / time_constant)``
   where ``dt`` is the time since the previous frame (from the video metadata).

Outputs the aligned depth, the depth normalised by the smoothed range (1 = nearest), and the
scale and shift used.

A metric depth (``DepthMap`` in metres, e.g. from depth-anything-v3/metric-large) is NOT
re-scaled: steps 2-3 are skipped (scale 1, shift 0, ``reset`` only on a video's first frame), the
depth passes through unchanged, and only the normalisation range is smoothed (step 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depthgraph.engine.block import WorkflowBlock
from depthgraph.blocks.depth_utils import as_depth_map, normalize_depth
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.state import VideoStateStore
from depthgraph.manifests.depth_stabilizer import DepthStabilizerManifest

#: Seconds without frames after which a video's state is dropped.
IDLE_SECONDS = 120.0
_MAX_SAMPLES = 4096
_TUKEY_C = 4.685
_PAIRS = 2048
_DEFAULT_DT = 1.0 / 30.0


@dataclass
class StabilizerState:
    """What the block remembers about one video."""

    shape: tuple[int, int] | None = None
    stride: int = 1
    reference: np.ndarray | None = None  # running estimate of x on the sampling grid
    low: float = 0.0
    high: float = 1.0
    last_time: float | None = None
    frames: int = 0
    resets: list[int] = field(default_factory=list)


def fit_scale_shift(x: np.ndarray, r: np.ndarray, passes: int = 5) -> tuple[float, float, float]:
    """Robust least squares ``scale * x + shift ~ r``; returns (scale, shift, median |residual|).

    Theil-Sen start on random pairs (deterministic seed), then Tukey-biweight IRLS passes.
    """
    x = x.astype(np.float64, copy=False)
    r = r.astype(np.float64, copy=False)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(x), _PAIRS), rng.integers(0, len(x), _PAIRS)
    dx = x[i] - x[j]
    keep = np.abs(dx) > 1e-12
    scale = float(np.median((r[i] - r[j])[keep] / dx[keep])) if keep.any() else 1.0
    shift = float(np.median(r - scale * x))
    for _ in range(passes):
        residual = scale * x + shift - r
        sigma = 1.4826 * float(np.median(np.abs(residual))) + 1e-12
        u = residual / (_TUKEY_C * sigma)
        w = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        sw = w.sum()
        if sw <= 0:
            break
        mx, mr = (w * x).sum() / sw, (w * r).sum() / sw
        var = (w * (x - mx) ** 2).sum()
        if var <= 1e-30:
            scale, shift = 1.0, mr - mx
        else:
            scale = float((w * (x - mx) * (r - mr)).sum() / var)
            shift = float(mr - scale * mx)
    residual = np.abs(scale * x + shift - r)
    return float(scale), float(shift), float(np.median(residual))


def _to_space(depth: np.ndarray, space: str) -> tuple[np.ndarray, np.ndarray]:
    valid = np.isfinite(depth)
    if space == "inverse_depth":
        valid &= depth > 0
        x = np.where(valid, 1.0 / np.where(valid, depth, 1.0), 0.0)
    else:
        x = np.where(valid, depth, 0.0)
    return x.astype(np.float32), valid


def _from_space(y: np.ndarray, valid: np.ndarray, space: str, floor: float) -> np.ndarray:
    if space == "inverse_depth":
        out = 1.0 / np.maximum(y, floor)
    else:
        out = y.copy()
    out = out.astype(np.float32)
    out[~valid] = np.nan  # no depth stays no depth (a DepthMap is NaN there, never infinite)
    return out


class DepthStabilizerBlock(WorkflowBlock):
    """Aligns each frame's depth to the video's running estimate; see the module docstring."""

    manifest_class = DepthStabilizerManifest

    def __init__(self, manifest: Any = None) -> None:
        super().__init__(manifest)
        self.states = VideoStateStore(idle_seconds=IDLE_SECONDS)

    def run(  # type: ignore[override]
        self,
        depth: Any,
        image: Any = None,
        space: str = "inverse_depth",
        time_constant: float = 1.0,
        percentile_low: float = 2.0,
        percentile_high: float = 98.0,
        cut_threshold: float = 0.15,
        **_: Any,
    ) -> dict[str, Any]:
        given = as_depth_map(depth, "depth")
        depth_map = given.masked_values()
        metadata = getattr(image, "video_metadata", image)
        state = self.states.get(metadata, factory=StabilizerState)
        x, valid = _to_space(depth_map, space)
        if not valid.any():
            raise StepInputError("property 'depth': no finite positive depth value in the frame")
        if state is None:  # a still image: nothing to align to
            return {"depth": given, "normalized_depth": normalize_depth(depth_map),
                    "scale": 1.0, "shift": 0.0, "reset": True}
        timestamp = getattr(metadata, "frame_timestamp", None)
        fps = float(getattr(metadata, "fps", 0.0) or 0.0)
        dt = _DEFAULT_DT if fps <= 0 else 1.0 / fps
        if timestamp is not None and state.last_time is not None and timestamp > state.last_time:
            dt = float(timestamp) - state.last_time
        weight = 1.0 if time_constant <= 0 else 1.0 - math.exp(-dt / float(time_constant))

        if state.shape != depth_map.shape:
            state.shape = depth_map.shape
            state.stride = max(1, int(math.sqrt(depth_map.size / _MAX_SAMPLES)))
            state.reference = None
        s = state.stride
        xs, vs = x[::s, ::s], valid[::s, ::s]
        scale, shift, reset = 1.0, 0.0, state.reference is None
        # a metric depth (metres) already has its scale: it is never re-fitted, only the
        # normalisation range is smoothed (cuts cannot be detected from a fit: none is made)
        if not reset and not given.is_metric:
            both = vs & np.isfinite(state.reference)
            if both.sum() < 16:
                reset = True
            else:
                scale, shift, median = fit_scale_shift(xs[both], state.reference[both])
                span = max(state.high - state.low, 1e-12)
                if not (scale > 0 and math.isfinite(scale) and median <= cut_threshold * span):
                    reset, scale, shift = True, 1.0, 0.0
        y = x * np.float32(scale) + np.float32(shift)
        ys = np.where(vs, y[::s, ::s], np.nan).astype(np.float32)
        sampled = ys[np.isfinite(ys)]  # percentiles of the sampling grid: robust, and cheap
        low, high = (float(v) for v in np.percentile(sampled if sampled.size >= 64 else y[valid],
                                                     [percentile_low, percentile_high]))
        if reset:
            state.reference = ys
            state.low, state.high = low, high
            state.resets.append(state.frames)
        else:
            ref = state.reference
            fresh = np.isnan(ref)
            state.reference = np.where(fresh, ys, ref + np.float32(weight) * (ys - ref))
            state.low += weight * (low - state.low)
            state.high += weight * (high - state.high)
        state.last_time = None if timestamp is None else float(timestamp)
        state.frames += 1

        span = state.high - state.low
        normalized = np.zeros(depth_map.shape, dtype=np.float32)
        if span > 0:
            normalized = (y - np.float32(state.low)) / np.float32(span)
            if space == "depth":
                normalized = 1.0 - normalized
            normalized = np.clip(normalized, 0.0, 1.0).astype(np.float32)
            normalized[~valid] = 0.0
        floor = max(abs(state.high), 1e-12) * 1e-6
        stabilised = given if given.is_metric else given.replace(values=_from_space(y, valid, space, floor))
        return {"depth": stabilised, "normalized_depth": normalized,
                "scale": float(scale), "shift": float(shift), "reset": bool(reset)}
