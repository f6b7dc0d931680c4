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
)
from depthgraph.manifests.base import BlockManifest, OutputDefinition, Selector
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
                "the original image with a given alpha."
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
    image: Optional[Selector(kind=[IMAGE_KIND])] = Field(  # type: ignore[valid-type]
        default=None, description="Optional photo to blend the colour map over."
    )
    alpha: Union[float, Selector(kind=[FLOAT_KIND])] = Field(  # type: ignore[valid-type]
        default=0.6, description="Weight of the colour map when blending over 'image' (0..1)."
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> "DepthColormapManifest":
        if self.percentile_low >= self.percentile_high:
            raise ValueError(
                f"percentile_low ({self.percentile_low}) must be below percentile_high "
                f"({self.percentile_high})"
            )
        if isinstance(self.alpha, float) and not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be within [0, 1], got {self.alpha}")
        return self

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="image", kind=[IMAGE_KIND], description="BGR colour map.")]
