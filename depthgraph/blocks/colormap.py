"""``depthgraph/depth_colormap@v1``: a depth map as a colour picture, optionally over the photo."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.blocks.color_bar import add_color_bar, depth_range_ends
from depthgraph.blocks.depth_utils import COLORMAPS, as_depth_map, blend_over, colorize_depth
from depthgraph.engine.state import VideoStateStore
from depthgraph.engine.values import WorkflowImageData
from depthgraph.manifests.colormap import DepthColormapManifest


class DepthColormapBlock(WorkflowBlock):
    """Colour-maps ``depth``; with ``image``, blends over it at the image's size."""

    manifest_class = DepthColormapManifest

    def __init__(self, manifest: Any = None) -> None:
        super().__init__(manifest)
        self.ranges = VideoStateStore(idle_seconds=120.0)  # smoothed mode: one range per video

    def run(  # type: ignore[override]
        self,
        depth: Any,
        colormap: str = "turbo",
        mode: str = "inverse_depth",
        percentile_low: float = 2.0,
        percentile_high: float = 98.0,
        image: WorkflowImageData | None = None,
        alpha: float = 0.6,
        range_mode: str = "per_frame",
        range_low: float | None = None,
        range_high: float | None = None,
        time_constant: float = 1.0,
        video_metadata: Any = None,
        color_bar: bool = False,
        **_: Any,
    ) -> dict[str, Any]:
        given = as_depth_map(depth, "depth")
        depth_map = given.masked_values()  # invalid pixels drawn as no data; sky as the farthest
        percentiles = (percentile_low, percentile_high)
        if range_mode == "per_frame":
            picture = colorize_depth(depth_map, colormap, mode, percentiles, sky=given.sky)
            values, valid = _display_values(depth_map, mode)
            display_range = _percentiles(values, valid, percentiles, subsample=False)
        else:
            picture, display_range = self._ranged_picture(
                depth_map, colormap, mode, percentiles, range_mode, range_low, range_high, time_constant,
                video_metadata if video_metadata is not None else image, given.sky,
            )  # fmt: skip
        if image is None:
            if color_bar:
                picture = add_color_bar(picture, colormap, *depth_range_ends(*display_range, mode), given.unit)
            return {"image": WorkflowImageData(numpy_image=picture)}
        if not isinstance(image, WorkflowImageData):
            raise StepInputError(f"property 'image': expected an image, got {type(image).__name__}")
        try:
            weight = float(alpha)
        except (TypeError, ValueError):
            raise StepInputError(
                f"property 'alpha': expected a number in [0, 1], got {alpha!r}"
            ) from None
        if not 0.0 <= weight <= 1.0:
            raise StepInputError(f"property 'alpha': expected a number in [0, 1], got {weight}")
        blended = blend_over(picture, image.numpy_image, weight)
        if color_bar:
            blended = add_color_bar(blended, colormap, *depth_range_ends(*display_range, mode), given.unit)
        return {"image": image.derive(blended, suffix="depth-colormap")}

    def _ranged_picture(self, depth: np.ndarray, colormap: str, mode: str,
                        percentiles: tuple[float, float], range_mode: str, low: float | None,
                        high: float | None, time_constant: float, video: Any,
                        sky: np.ndarray | None = None) -> tuple[np.ndarray, tuple[float, float]]:
        """Colour map over a fixed range, or over a per-video exponentially smoothed range (and
        the range used); sky pixels get the farthest colour."""
        values, valid = _display_values(depth, mode)
        if range_mode == "fixed":
            if low is None or high is None or not low < high:
                raise StepInputError(f"properties 'range_low'/'range_high': range_mode 'fixed' needs "
                                 f"range_low below range_high, got {low} and {high}")
        elif range_mode == "smoothed":
            low, high = _percentiles(values, valid, percentiles)
            metadata = getattr(video, "video_metadata", video)
            state = self.ranges.get(metadata, factory=_RangeState)
            if state is not None:
                low, high = state.update(low, high, metadata, time_constant)
        else:
            raise StepInputError(f"property 'range_mode': expected per_frame, fixed or smoothed, got {range_mode!r}")
        scaled = np.zeros(values.shape, dtype=np.float32)
        if high > low:
            scaled = (values - np.float32(low)) * np.float32(255.0 / (high - low))
            scaled[~valid] = 0.0
        if sky is not None:
            scaled[sky] = 0.0 if mode == "inverse_depth" else 255.0
        gray = np.round(np.clip(scaled, 0.0, 255.0, out=scaled)).astype(np.uint8)
        if colormap not in COLORMAPS:
            raise StepInputError(f"property 'colormap': expected one of {sorted(COLORMAPS)}, got {colormap!r}")
        used = (float(low), float(high))
        if colormap == "gray":
            return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2)), used
        import cv2

        return cv2.applyColorMap(gray, getattr(cv2, COLORMAPS[colormap])), used


def _display_values(depth: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(values)
    if mode == "inverse_depth":
        valid &= values > 0
        values = np.divide(1.0, values, out=np.zeros_like(values), where=valid)
    elif mode != "depth":
        raise StepInputError(f"property 'mode': expected inverse_depth or depth, got {mode!r}")
    return values, valid


def _percentiles(values: np.ndarray, valid: np.ndarray, percentiles: tuple[float, float],
                 subsample: bool = True) -> tuple[float, float]:
    step = max(1, int((values.size / 65536) ** 0.5)) if subsample else 1  # at most ~65k pixels
    if step > 1 and valid[::step, ::step].sum() >= 1024:
        values, valid = values[::step, ::step], valid[::step, ::step]
    if not valid.any():
        return 0.0, 0.0
    low, high = np.percentile(values[valid], [float(percentiles[0]), float(percentiles[1])])
    return float(low), float(high)


@dataclass
class _RangeState:
    """The smoothed colour range of one video."""

    low: float = 0.0
    high: float = 0.0
    last_time: float | None = None
    started: bool = False

    def update(self, low: float, high: float, metadata: Any, time_constant: float) -> tuple[float, float]:
        timestamp = getattr(metadata, "frame_timestamp", None)
        fps = float(getattr(metadata, "fps", 0.0) or 0.0)
        dt = 1.0 / fps if fps > 0 else 1.0 / 30.0
        if timestamp is not None and self.last_time is not None and timestamp > self.last_time:
            dt = float(timestamp) - self.last_time
        weight = 1.0 if time_constant <= 0 or not self.started else 1.0 - math.exp(-dt / time_constant)
        self.low += weight * (low - self.low)
        self.high += weight * (high - self.high)
        self.last_time = None if timestamp is None else float(timestamp)
        self.started = True
        return self.low, self.high
