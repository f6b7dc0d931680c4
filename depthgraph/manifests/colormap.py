"""Manifest of ``depthgraph/depth_colormap@v1``: a depth map as a colour picture."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import ConfigDict, Field, model_validator

from depthgraph.engine.kinds import (
    DEPTH_MAP_KIND,
    FLOAT_KIND,
    IMAGE_KIND,
    NUMPY_ARRAY_KIND,
    STRING_KIND,
    VIDEO_METADATA_KIND,
)
from depthgraph.engine.manifest import BlockManifest, Number, OutputDefinition, Selector
from depthgraph.manifests.depth_estimation import ColormapName


class DepthColormapManifest(BlockManifest):
    """Colour-map a depth map (OpenCV colour maps), optionally blended over the photo."""

    model_config = ConfigDict(
        json_schema_extra={
            "name": "Depth Colour Map",
            "version": "v1",
            "short_description": "Turn a depth map into a colour picture.",
            "long_description": (
                "Maps depth (or inverse depth, the default, so that near objects stand out) to one "
                "of OpenCV's colour maps after clipping to percentiles; can blend the result over "
                "the original image with a given alpha. For video, range_mode 'fixed' uses a "
                "given range and 'smoothed' follows each video's percentile range with a time "
                "constant, so colours do not flicker from frame to frame."
            ),
            "license": "Apache-2.0",
            "block_type": "visualization",
            "ui_manifest": {"section": "visualization", "icon": "far fa-palette"},
        }
    )

    type: Literal["depthgraph/depth_colormap@v1"]
    depth: Selector(kind=[DEPTH_MAP_KIND, NUMPY_ARRAY_KIND]) = Field(  # type: ignore[valid-type]
        description="Depth map (HxW), larger = farther.", examples=["$steps.depth.depth"]
    )
    colormap: Union[ColormapName, Selector(kind=[STRING_KIND])] = Field(  # type: ignore[valid-type]
        default="turbo", description="OpenCV colour map."
    )
    mode: Literal["inverse_depth", "depth"] = Field(
        default="inverse_depth",
        description="inverse_depth: near is hot (disparity look); depth: far is hot.",
    )
    percentile_low: float = Field(default=2.0, ge=0.0, le=100.0, description="Low clip percentile.")
    percentile_high: float = Field(
        default=98.0, ge=0.0, le=100.0, description="High clip percentile."
    )
    range_mode: Literal["per_frame", "fixed", "smoothed"] = Field(
        default="per_frame",
        description=(
            "per_frame: clip each picture to its own percentiles; fixed: use range_low..range_high; "
            "smoothed: per video, follow the percentiles with time_constant (steady colours)."
        ),
    )
    range_low: Optional[Number(ge=-1e9, le=1e9)] = Field(  # type: ignore[valid-type]
        default=None,
        description="fixed mode: value at the cold end, in the mode's units (inverse depth or depth).",
    )
    range_high: Optional[Number(ge=-1e9, le=1e9)] = Field(  # type: ignore[valid-type]
        default=None,
        description="fixed mode: value at the hot end, in the mode's units (inverse depth or depth).",
    )
    time_constant: float = Field(
        default=1.0, ge=0.0, le=3600.0,
        description="smoothed mode: seconds over which the range follows the video (0 = per frame).",
    )
    video_metadata: Optional[Selector(kind=[VIDEO_METADATA_KIND, IMAGE_KIND])] = Field(  # type: ignore[valid-type]
        default=None,
        description=(
            "smoothed mode: the frame (or its video metadata) whose video the range belongs to; "
            "defaults to 'image'. Without video metadata the range is per frame."
        ),
    )
    image: Optional[Selector(kind=[IMAGE_KIND])] = Field(  # type: ignore[valid-type]
        default=None, description="Optional photo to blend the colour map over."
    )
    alpha: Union[Number(ge=0.0, le=1.0), Selector(kind=[FLOAT_KIND])] = Field(  # type: ignore[valid-type]
        default=0.6, description="Weight of the colour map when blending over 'image' (0..1)."
    )
    color_bar: bool = Field(
        default=False,
        description=(
            "Append a colour bar on the right with the depth at both ends and its unit "
            "('m' for metric depth, 'relative' otherwise); the picture gets wider."
        ),
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> "DepthColormapManifest":
        if self.percentile_low >= self.percentile_high:
            raise ValueError(
                f"percentile_low ({self.percentile_low}) must be below percentile_high "
                f"({self.percentile_high})"
            )
        if self.range_mode == "fixed":
            if self.range_low is None or self.range_high is None or self.range_low >= self.range_high:
                raise ValueError(
                    "range_mode 'fixed' needs range_low below range_high, got "
                    f"{self.range_low} and {self.range_high}"
                )
        if isinstance(self.alpha, float) and not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be within [0, 1], got {self.alpha}")
        return self

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="image", kind=[IMAGE_KIND], description="BGR colour map.")]
