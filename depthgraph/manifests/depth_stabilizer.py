"""Manifest of ``depthgraph/depth_stabilizer@v1``: depth whose scale stays steady over a video."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from depthgraph.engine.kinds import (
    BOOLEAN_KIND,
    DEPTH_MAP_KIND,
    FLOAT_KIND,
    IMAGE_KIND,
    NUMPY_ARRAY_KIND,
    VIDEO_METADATA_KIND,
)
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector


class DepthStabilizerManifest(BlockManifest):
    """Keep a video's depth scale steady: align each frame to a running estimate, smooth the range."""

    model_config = ConfigDict(
        json_schema_extra={
            "name": "Depth Stabilizer",
            "version": "v1",
            "short_description": "Steady depth over a video: no flicker from frame to frame.",
            "long_description": (
                "Monocular depth is relative: each frame comes with its own unknown scale and "
                "shift, and per-frame normalisation makes colour maps flicker even when nothing "
                "moves. This block keeps, per video, a running estimate of the (inverse) depth; "
                "aligns each new frame to it with a robust least-squares scale and shift; and "
                "smooths the normalisation range with a time constant in seconds. A frame that "
                "cannot be aligned (a cut) restarts the estimate. Still images (no video "
                "metadata) are passed through with per-frame normalisation. A metric depth (in "
                "metres, from depth-anything-v3/metric-large) is never re-scaled: it passes "
                "through unchanged and only its normalisation range is smoothed."
            ),
            "license": "Apache-2.0",
            "block_type": "transformation",
            "ui_manifest": {"section": "transformation", "icon": "far fa-wave-square"},
        }
    )

    type: Literal["depthgraph/depth_stabilizer@v1"]
    depth: Selector(kind=[DEPTH_MAP_KIND, NUMPY_ARRAY_KIND]) = Field(  # type: ignore[valid-type]
        description="Raw depth of the frame (HxW), larger = farther.",
        examples=["$steps.depth.depth"],
    )
    image: Selector(kind=[IMAGE_KIND, VIDEO_METADATA_KIND]) = Field(  # type: ignore[valid-type]
        description=(
            "The frame the depth belongs to (or its video metadata): its video identifier keys "
            "the running state, its timestamp drives the smoothing."
        ),
        examples=["$inputs.image"],
    )
    space: Literal["inverse_depth", "depth"] = Field(
        default="inverse_depth",
        description=(
            "Where scale and shift are fitted: inverse_depth (right for relative-depth models "
            "such as Depth Anything, whose output is affine-ambiguous in disparity) or depth."
        ),
    )
    time_constant: float = Field(
        default=1.0, ge=0.0, le=3600.0,
        description=(
            "Seconds over which the running estimate and the normalisation range follow the "
            "video (exponential smoothing; 0 = no smoothing, per-frame range)."
        ),
    )
    percentile_low: float = Field(default=2.0, ge=0.0, le=100.0,
                                  description="Low percentile of the normalisation range.")
    percentile_high: float = Field(default=98.0, ge=0.0, le=100.0,
                                   description="High percentile of the normalisation range.")
    cut_threshold: float = Field(
        default=0.15, gt=0.0, le=10.0,
        description=(
            "Median alignment residual, as a fraction of the range, above which a frame counts "
            "as a cut and the running estimate restarts from it."
        ),
    )

    @model_validator(mode="after")
    def _check_percentiles(self) -> "DepthStabilizerManifest":
        if self.percentile_low >= self.percentile_high:
            raise ValueError(
                f"percentile_low ({self.percentile_low}) must be below percentile_high "
                f"({self.percentile_high})"
            )
        return self

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="depth", kind=[DEPTH_MAP_KIND],
                             description="Stabilised depth, larger = farther, steady scale."),
            OutputDefinition(name="normalized_depth", kind=[NUMPY_ARRAY_KIND],
                             description="float32 HxW in [0, 1], 1 = nearest, smoothed range."),
            OutputDefinition(name="scale", kind=[FLOAT_KIND],
                             description="Scale applied to this frame's (inverse) depth."),
            OutputDefinition(name="shift", kind=[FLOAT_KIND],
                             description="Shift applied after the scale."),
            OutputDefinition(name="reset", kind=[BOOLEAN_KIND],
                             description="True on a video's first frame and after a cut."),
        ]
