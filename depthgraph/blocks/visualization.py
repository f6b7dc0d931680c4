"""``depthgraph/bounding_box_visualization@v1`` and ``depthgraph/label_visualization@v1``.

Both draw with supervision's annotators on a copy of the image (inputs are read-only).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import WorkflowImageData
from depthgraph.manifests.visualization import (
    BoundingBoxVisualizationManifest,
    LabelVisualizationManifest,
)


def _check_inputs(image: Any, predictions: Any) -> Any:
    import supervision as sv

    if not isinstance(image, WorkflowImageData):
        raise StepInputError(f"property 'image': expected an image, got {type(image).__name__}")
    if not isinstance(predictions, sv.Detections):
        raise StepInputError(
            "property 'predictions': expected detections (supervision.Detections), got "
            f"{type(predictions).__name__}"
        )
    return sv


def _colour_settings(sv: Any, detections: Any, palette: str, axis: str) -> tuple[Any, Any]:
    """supervision palette and colour lookup; falls back to INDEX when classes are missing."""
    if axis == "TRACK" and detections.tracker_id is None:
        raise StepInputError("property 'color_axis': 'TRACK' needs detections with tracker ids")
    if axis == "CLASS" and detections.class_id is None:
        axis = "INDEX"
    return getattr(sv.ColorPalette, palette), sv.ColorLookup[axis]


def format_value(value: Any, data_format: str) -> str:
    """One data value as label text: numbers through ``data_format``; NaN/None as ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return "(" + ", ".join(format_value(v, data_format) for v in value.ravel()) + ")"
    if isinstance(value, (float, np.floating)) and math.isnan(float(value)):
        return "n/a"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return data_format.format(float(value))
    return str(value)


#: data fields the detections-depth block writes in the depth map's unit (``depth_unit``)
DEPTH_FIELDS = ("depth", "depth_min", "depth_max")


def _with_unit(text: str, unit: Any, data_format: str) -> str:
    """A depth label with its unit: metric depths get it appended (``3.2 m``); a relative depth
    never carries a length unit, so a format that would add one is refused."""
    from depthgraph.engine.values import LENGTH_UNITS_IN_METRES, RELATIVE

    unit = str(unit)
    if unit == RELATIVE or unit not in LENGTH_UNITS_IN_METRES:
        suffix = data_format.rsplit("}", 1)[-1].strip()
        if suffix in LENGTH_UNITS_IN_METRES:
            raise StepInputError(
                f"property 'data_format': {data_format!r} labels a relative depth with the unit "
                f"{suffix!r}; relative depth has no unit (use depth-anything-v3/metric-large, or "
                "depthgraph/metric_alignment@v1, for metres)"
            )
        return text
    if text == "n/a" or text.endswith(unit):
        return text
    return f"{text} {unit}"


def detection_labels(detections: Any, text: str, data_field: str, data_format: str) -> list[str]:
    """The label of each detection for a ``text`` choice of the label manifest. Depth fields
    carry the depth map's unit: ``person 3.2 m`` when metric, a bare number when relative."""
    count = len(detections)
    names = detections.data.get("class_name")
    if names is None:
        if detections.class_id is not None:
            names = [str(c) for c in detections.class_id]
        else:
            names = ["object"] * count
    values: Any = None
    if text in ("Data", "Class and Data"):
        if data_field not in detections.data:
            raise StepInputError(
                f"property 'data_field': the detections carry no {data_field!r} data "
                f"(they have: {sorted(detections.data)})"
            )
        values = detections.data[data_field]
    units = detections.data.get("depth_unit") if data_field in DEPTH_FIELDS else None
    labels = []
    for index in range(count):
        if text == "Class":
            labels.append(str(names[index]))
        elif text == "Confidence":
            conf = detections.confidence
            labels.append(f"{conf[index]:.2f}" if conf is not None else "")
        elif text == "Class and Confidence":
            conf = detections.confidence
            suffix = f" {conf[index]:.2f}" if conf is not None else ""
            labels.append(f"{names[index]}{suffix}")
        elif text == "Index":
            labels.append(str(index))
        elif text in ("Data", "Class and Data"):
            value = format_value(values[index], data_format)
            if units is not None:
                value = _with_unit(value, units[index], data_format)
            labels.append(value if text == "Data" else f"{names[index]} {value}")
        else:
            raise StepInputError(f"property 'text': unknown choice {text!r}")
    return labels


class BoundingBoxVisualizationBlock(WorkflowBlock):
    """Draws each detection's box with ``supervision.BoxAnnotator``."""

    manifest_class = BoundingBoxVisualizationManifest

    def run(  # type: ignore[override]
        self,
        image: Any,
        predictions: Any,
        color_palette: str = "DEFAULT",
        color_axis: str = "CLASS",
        thickness: int = 2,
        **_: Any,
    ) -> dict[str, Any]:
        sv = _check_inputs(image, predictions)
        palette, lookup = _colour_settings(sv, predictions, color_palette, color_axis)
        annotator = sv.BoxAnnotator(color=palette, thickness=int(thickness), color_lookup=lookup)
        canvas = annotator.annotate(scene=image.numpy_image.copy(), detections=predictions)
        return {"image": image.derive(canvas, suffix="boxes")}


class LabelVisualizationBlock(WorkflowBlock):
    """Writes a label per detection with ``supervision.LabelAnnotator``."""

    manifest_class = LabelVisualizationManifest

    def run(  # type: ignore[override]
        self,
        image: Any,
        predictions: Any,
        color_palette: str = "DEFAULT",
        color_axis: str = "CLASS",
        text: str = "Class",
        data_field: str = "depth",
        data_format: str = "{:.2f}",
        text_position: str = "TOP_LEFT",
        text_scale: float = 0.5,
        text_thickness: int = 1,
        text_padding: int = 6,
        **_: Any,
    ) -> dict[str, Any]:
        sv = _check_inputs(image, predictions)
        palette, lookup = _colour_settings(sv, predictions, color_palette, color_axis)
        labels = detection_labels(predictions, text, data_field, data_format)
        annotator = sv.LabelAnnotator(
            color=palette,
            color_lookup=lookup,
            text_scale=float(text_scale),
            text_thickness=int(text_thickness),
            text_padding=int(text_padding),
            text_position=sv.Position[text_position],
        )
        canvas = annotator.annotate(
            scene=image.numpy_image.copy(), detections=predictions, labels=labels
        )
        return {"image": image.derive(canvas, suffix="labels")}
