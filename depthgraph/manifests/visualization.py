"""Manifests of the visualization blocks.

``depthgraph/bounding_box_visualization@v1`` and ``depthgraph/label_visualization@v1``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from depthgraph.engine.kinds import (
    IMAGE_KIND,
    INSTANCE_SEGMENTATION_PREDICTION_KIND,
    OBJECT_DETECTION_PREDICTION_KIND,
)
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector

PaletteName = Literal["DEFAULT", "ROBOFLOW", "LEGACY"]
ColorAxis = Literal["CLASS", "INDEX", "TRACK"]
TextPosition = Literal[
    "TOP_LEFT", "TOP_CENTER", "TOP_RIGHT", "CENTER_LEFT", "CENTER", "CENTER_RIGHT",
    "BOTTOM_LEFT", "BOTTOM_CENTER", "BOTTOM_RIGHT", "CENTER_OF_MASS",
]
LabelText = Literal[
    "Class", "Confidence", "Class and Confidence", "Index", "Data", "Class and Data"
]

_PREDICTION_KINDS = [OBJECT_DETECTION_PREDICTION_KIND, INSTANCE_SEGMENTATION_PREDICTION_KIND]


def _metadata(name: str, short: str) -> dict:
    return {
        "name": name,
        "version": "v1",
        "short_description": short,
        "long_description": short + " Drawn with supervision's annotators on a copy of the image.",
        "license": "Apache-2.0",
        "block_type": "visualization",
        "ui_manifest": {"section": "visualization", "icon": "far fa-object-group"},
    }


class _AnnotatorManifest(BlockManifest):
    image: Selector(kind=[IMAGE_KIND]) = Field(  # type: ignore[valid-type]
        description="Image to draw on (not modified).", examples=["$inputs.image"]
    )
    predictions: Selector(kind=_PREDICTION_KINDS) = Field(  # type: ignore[valid-type]
        description="Detections to draw.", examples=["$steps.detector.predictions"]
    )
    color_palette: PaletteName = Field(default="DEFAULT", description="supervision colour palette.")
    color_axis: ColorAxis = Field(
        default="CLASS", description="Pick colours by class, index or track."
    )

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="image", kind=[IMAGE_KIND], description="Annotated copy.")]


class BoundingBoxVisualizationManifest(_AnnotatorManifest):
    """Draw detection boxes."""

    model_config = ConfigDict(
        json_schema_extra=_metadata("Bounding Box Visualization", "Draw boxes.")
    )

    type: Literal["depthgraph/bounding_box_visualization@v1"]
    thickness: int = Field(default=2, ge=1, le=50, description="Line thickness in pixels.")


class LabelVisualizationManifest(_AnnotatorManifest):
    """Draw a label per detection: class, confidence, index or a data field such as depth."""

    model_config = ConfigDict(
        json_schema_extra=_metadata(
            "Label Visualization",
            "Write a label per detection: class, confidence, index or a data field (e.g. depth).",
        )
    )

    type: Literal["depthgraph/label_visualization@v1"]
    text: LabelText = Field(default="Class", description="What each label says.")
    data_field: str = Field(
        default="depth",
        min_length=1,
        description="Detections data field shown by 'Data' / 'Class and Data' (e.g. depth).",
    )
    data_format: str = Field(
        default="{:.2f}", description="Python format for the data value, e.g. '{:.1f} m'."
    )
    text_position: TextPosition = Field(default="TOP_LEFT", description="Anchor of the label.")
    text_scale: float = Field(default=0.5, gt=0.0, le=10.0, description="Font scale.")
    text_thickness: int = Field(default=1, ge=1, le=20, description="Font thickness.")
    text_padding: int = Field(default=6, ge=0, le=100, description="Padding around the text.")

    @field_validator("data_format")
    @classmethod
    def _format_works(cls, value: str) -> str:
        try:
            value.format(1.5)
        except (ValueError, IndexError, KeyError) as error:
            raise ValueError(
                f"data_format must format one number, like '{{:.2f}}', got {value!r} ({error})"
            ) from None
        return value
