"""Manifests of the visualization blocks.

``depthgraph/bounding_box_visualization@v1`` and ``depthgraph/label_visualization@v1``.
"""

from __future__ import annotations

import re
import string
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
        max_length=64,
        description="Detections data field shown by 'Data' / 'Class and Data' (e.g. depth).",
    )
    data_format: str = Field(
        default="{:.2f}", min_length=2, max_length=64, description="Python format for the data value, e.g. '{:.1f} m'."
    )
    text_position: TextPosition = Field(default="TOP_LEFT", description="Anchor of the label.")
    text_scale: float = Field(default=0.5, gt=0.0, le=10.0, description="Font scale.")
    text_thickness: int = Field(default=1, ge=1, le=20, description="Font thickness.")
    text_padding: int = Field(default=6, ge=0, le=100, description="Padding around the text.")

    @field_validator("data_format")
    @classmethod
    def _format_works(cls, value: str) -> str:
        return check_number_format(value)


#: A standard format spec for one number: [[fill]align][sign][z][#][0][width][,_][.precision][type]
_FORMAT_SPEC = re.compile(
    r"^(?:.?[<>=^])?[+\- ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?[eEfFgGn%]?$"
)
MAX_FORMAT_WIDTH = 64
MAX_FORMAT_PRECISION = 20


def check_number_format(value: str) -> str:
    """``value`` if it formats one number with a bounded width and precision, else ValueError.

    The template is parsed, never tried: ``'{:>1500000000}'.format(1.5)`` alone would allocate
    1.5 GB. One replacement field, ``{}`` or ``{0}``, no attribute or index access, no
    conversion, no nested fields; width at most 64, precision at most 20.
    """
    usage = f"data_format must format one number, like '{{:.2f}} m', got {value[:40]!r}"
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as error:
        raise ValueError(f"{usage} ({error})") from None
    fields = [p for p in parts if p[1] is not None]
    if len(fields) != 1:
        raise ValueError(f"{usage} (it has {len(fields)} replacement fields)")
    _, name, spec, conversion = fields[0]
    if name not in ("", "0") or conversion is not None:
        raise ValueError(f"{usage} (only '{{}}' or '{{0}}' with a format spec is allowed)")
    match = _FORMAT_SPEC.match(spec or "")
    if match is None:
        raise ValueError(f"{usage} (the format spec {spec!r} is not one for a number)")
    width = int(match["width"] or 0)
    precision = int(match["precision"] or 0)
    if width > MAX_FORMAT_WIDTH or precision > MAX_FORMAT_PRECISION:
        raise ValueError(
            f"{usage} (width at most {MAX_FORMAT_WIDTH}, precision at most {MAX_FORMAT_PRECISION})"
        )
    return value
