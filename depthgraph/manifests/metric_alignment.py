"""Manifest of ``depthgraph/metric_alignment@v1``: a relative depth scaled to metres by a metric
depth of the same image."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import ConfigDict, Field

from depthgraph.engine.kinds import DEPTH_MAP_KIND, FLOAT_KIND, INTEGER_KIND, NUMPY_ARRAY_KIND
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector


class MetricAlignmentManifest(BlockManifest):
    """Scale a relative depth to metres with one metric depth of the same image (or scene)."""

    model_config = ConfigDict(
        json_schema_extra={
            "name": "Metric Alignment",
            "version": "v1",
            "short_description": "Relative depth to metres, using a metric depth of the same image.",
            "long_description": (
                "Scales a relative depth (DA3 small/base, a video frame, or every view of a "
                "multi-view scene) to metres with a metric depth of the same image "
                "(depth-anything-v3/metric-large). The scale is a robust ratio, the median of "
                "metric / relative over pixels that are valid in both, finite, positive, not sky "
                "and (when a confidence map is given) confident. Reports the scale and how well "
                "the two depths agree after scaling. mode 'per_image' fits one scale per image "
                "(and per video frame); 'batch' one scale for every image of the batch (every "
                "view of a scene, whose depths share one scale)."
            ),
            "license": "Apache-2.0",
            "block_type": "transformation",
            "ui_manifest": {"section": "transformation", "icon": "far fa-ruler"},
        }
    )

    type: Literal["depthgraph/metric_alignment@v1"]
    depth: Selector(kind=[DEPTH_MAP_KIND, NUMPY_ARRAY_KIND]) = Field(  # type: ignore[valid-type]
        description="The relative depth to scale (HxW, larger = farther).",
        examples=["$steps.depth.depth"],
    )
    metric_depth: Selector(kind=[DEPTH_MAP_KIND]) = Field(  # type: ignore[valid-type]
        description="A metric depth of the same image (a depth map in metres), same size.",
        examples=["$steps.metric.depth"],
    )
    confidence: Optional[Selector(kind=[NUMPY_ARRAY_KIND])] = Field(  # type: ignore[valid-type]
        default=None,
        description="Confidence of the relative depth (HxW); with min_confidence_percentile.",
        examples=["$steps.depth.confidence"],
    )
    min_confidence_percentile: float = Field(
        default=0.0, ge=0.0, le=99.0,
        description="Use only pixels whose confidence is at or above this percentile (0 = all).",
    )
    mode: Literal["per_image", "batch"] = Field(
        default="per_image",
        description="One scale per image (per video frame), or one for every image of the batch (a scene).",
    )
    agreement_tolerance: float = Field(
        default=0.1, gt=0.0, le=10.0,
        description="A pixel agrees when the scaled depth is within this fraction of the metric one.",
    )
    min_pixels: int = Field(
        default=100, ge=1, le=10_000_000,
        description="Fewest usable pixels a fit needs; fewer is an error naming the image.",
    )

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="depth", kind=[DEPTH_MAP_KIND], description="The depth in metres."),
            OutputDefinition(name="scale", kind=[FLOAT_KIND], description="Metres per relative unit."),
            OutputDefinition(
                name="agreement", kind=[FLOAT_KIND],
                description="Fraction of the used pixels within agreement_tolerance after scaling (0..1).",
            ),
            OutputDefinition(
                name="median_relative_error", kind=[FLOAT_KIND],
                description="Median |scaled - metric| / metric over the used pixels.",
            ),
            OutputDefinition(name="pixels_used", kind=[INTEGER_KIND], description="Pixels the fit used."),
        ]

    @classmethod
    def batch_parameters(cls) -> list[str]:
        return ["depth", "metric_depth", "confidence"]
