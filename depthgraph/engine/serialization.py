"""Runtime values <-> JSON: images, arrays, detections, point clouds.

- :func:`decode_image` turns what a user hands in (numpy BGR / gray / BGRA, a file path, raw bytes,
  base64 text, ``{"type": "base64", "value": ...}``, a PIL image) into a :class:`WorkflowImageData`.
  URLs are refused: depthgraph never fetches from the network at run time.
- :func:`serialize_value` turns any runtime value into JSON-able data: images become
  ``{"type": "base64", "value": <JPEG or PNG>, "parent_id": ...}``, numpy arrays nested lists
  (or, past 64 values, compact base64 / 16-bit PNG with ``array_format``; the server's default),
  ``supervision.Detections`` the Roboflow inference predictions JSON, point clouds a summary
  with their ``unit`` (:func:`depthgraph.engine.encoders.point_cloud_header`; the points too
  with ``include_points``),
  depth maps ``{"type": "depth_map", "unit", ..., "values": <array as above>}``
  (:func:`depthgraph.engine.encoders.depth_to_json`).
- :func:`detections_from_inference_json` reads that predictions JSON back into Detections.

supervision is imported lazily (only when detections are decoded).
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthgraph.engine.errors import ResponseTooLargeError, RuntimeInputError
from depthgraph.engine.encoders import (
    INLINE_ARRAY_VALUES,
    PNG16_DECODE,
    depth_from_json,
    depth_to_json,
    png16_decode,
    png16_encode,
    point_cloud_header,
)
from depthgraph.engine.values import DepthMap, PointCloud, WorkflowImageData
from depthgraph.image_decoding import (
    DEFAULT,
    ImageReadError,
    decode_image_bytes,
    pil_to_bgr_uint8,
    to_bgr_uint8,
)

IMAGE_FORMATS = ("jpeg", "png")
_DATA_URI_PREFIX = "data:"


# --- images in ---------------------------------------------------------------------------------


def _decoding_error(input_name: str, exc: ImageReadError) -> RuntimeInputError:
    return RuntimeInputError(str(exc), context=f"input '{input_name}'")


def _array_to_bgr(array: np.ndarray, input_name: str) -> np.ndarray:
    """An array handed in by the caller, by the rules of :mod:`depthgraph.image_decoding`."""
    try:
        return to_bgr_uint8(array, f"input '{input_name}'")
    except ImageReadError as exc:
        raise _decoding_error(input_name, exc) from None


@dataclass(frozen=True)
class EncodedImage:
    """Encoded image bytes a front end has checked (size from the header, request totals) and
    hands on undecoded: :func:`decode_image` decodes them, under ``max_pixels``, when the
    workflow runs. The server sends images this way, so there is one decoder."""

    data: bytes
    max_pixels: Any = DEFAULT
    parent_id: str | None = None


def base64_bytes(text: str) -> bytes:
    """The one base64 parser for images: optional ``data:...;base64,`` prefix, whitespace
    ignored, standard or URL-safe alphabet; ValueError when it is not base64."""
    if text.startswith(_DATA_URI_PREFIX) and "," in text:
        _, _, text = text.partition(",")
    compact = "".join(text.split())
    try:
        if "-" in compact or "_" in compact:
            return base64.b64decode(compact, altchars=b"-_", validate=True)
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not valid base64 ({exc})") from None


def _decode_bytes(data: bytes, input_name: str, max_pixels: Any = DEFAULT) -> np.ndarray:
    """Encoded bytes, decoded by :mod:`depthgraph.image_decoding` (pixel limit, truncation)."""
    try:
        return decode_image_bytes(data, f"input '{input_name}'", max_pixels=max_pixels)
    except ImageReadError as exc:
        raise _decoding_error(input_name, exc) from None


def _decode_base64(text: str, input_name: str) -> np.ndarray:
    try:
        data = base64_bytes(text)
    except ValueError as exc:
        raise RuntimeInputError.for_input(input_name, str(exc)) from None
    return _decode_bytes(data, input_name)


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://", "ftp://", "s3://", "gs://"))


def _decode_string(text: str, input_name: str) -> tuple[np.ndarray, str | None]:
    if _is_url(text):
        raise RuntimeInputError.for_input(
            input_name,
            f"URLs are not fetched ('{text[:80]}'); download the image and pass a path, bytes or base64",
        )
    if len(text) < 4096 and not text.startswith(_DATA_URI_PREFIX):
        path = Path(text).expanduser()
        if path.is_file():
            data = path.read_bytes()
            return _decode_bytes(data, input_name), str(path)
        looks_like_path = os.sep in text or "." in text[-6:]
        if looks_like_path and not _is_probably_base64(text):
            raise RuntimeInputError.for_input(input_name, f"file '{text}' does not exist")
    return _decode_base64(text, input_name), None


def _is_probably_base64(text: str) -> bool:
    if len(text) < 16 or len(text) % 4 not in (0, 2, 3):
        return False
    stripped = text.rstrip("=")
    return all(c.isalnum() or c in "+/-_" for c in stripped[:256])


def decode_image(value: Any, input_name: str = "image") -> WorkflowImageData:
    """One runtime image as a :class:`WorkflowImageData`; errors name ``input_name``.

    Accepted: numpy arrays (HxWx3 BGR, HxW gray, HxWx4 BGRA; uint8, uint16, bool or float by the
    rules of :mod:`depthgraph.image_decoding`), a WorkflowImageData, a path
    (str or Path), raw encoded bytes, base64 text (optionally a ``data:`` URI), a dict
    ``{"type": "base64" | "file" | "numpy_object", "value": ...}``, or a PIL image.
    """
    if isinstance(value, WorkflowImageData):
        return value
    file_name: str | None = None
    if isinstance(value, EncodedImage):
        array = _decode_bytes(value.data, input_name, value.max_pixels)
        if value.parent_id:
            return WorkflowImageData(numpy_image=array, parent_id=value.parent_id)
        return WorkflowImageData(numpy_image=array)
    if isinstance(value, np.ndarray):
        array = _array_to_bgr(value, input_name)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        array = _decode_bytes(bytes(value), input_name)
    elif isinstance(value, Path):
        if not value.is_file():
            raise RuntimeInputError.for_input(input_name, f"file '{value}' does not exist")
        array, file_name = _decode_bytes(value.read_bytes(), input_name), str(value)
    elif isinstance(value, str):
        array, file_name = _decode_string(value, input_name)
    elif isinstance(value, dict):
        return _decode_dict(value, input_name)
    elif hasattr(value, "convert") and hasattr(value, "size"):  # PIL.Image.Image
        try:
            array = pil_to_bgr_uint8(value, f"input '{input_name}'")
        except ImageReadError as exc:
            raise _decoding_error(input_name, exc) from None
    elif value is None:
        raise RuntimeInputError.for_input(input_name, "no image given (None)")
    else:
        raise RuntimeInputError.for_input(
            input_name,
            f"cannot read an image from {type(value).__name__}; pass a numpy array, a path, bytes or base64",
        )
    return WorkflowImageData(numpy_image=array, file_name=file_name)


def _decode_dict(value: dict[str, Any], input_name: str) -> WorkflowImageData:
    kind = value.get("type")
    payload = value.get("value")
    if kind == "base64" and isinstance(payload, str):
        array = _decode_base64(payload, input_name)
    elif kind == "file" and isinstance(payload, (str, Path)):
        image = decode_image(Path(payload), input_name)
        array = image.numpy_image
    elif kind == "numpy_object" and isinstance(payload, np.ndarray):
        array = _array_to_bgr(payload, input_name)
    elif kind == "url":
        raise RuntimeInputError.for_input(input_name, "URLs are not fetched; pass a path, bytes or base64")
    else:
        raise RuntimeInputError.for_input(
            input_name,
            "image objects look like {\"type\": \"base64\", \"value\": \"...\"}; got "
            f"type={kind!r} with a {type(payload).__name__} value",
        )
    parent = value.get("parent_id")
    if isinstance(parent, str) and parent:
        return WorkflowImageData(numpy_image=array, parent_id=parent)
    return WorkflowImageData(numpy_image=array)


# --- values out --------------------------------------------------------------------------------


def encode_image(image: WorkflowImageData | np.ndarray, image_format: str = "jpeg", quality: int = 95) -> str:
    """An image as base64 text of a JPEG (default) or PNG file."""
    import cv2

    array = image.numpy_image if isinstance(image, WorkflowImageData) else image
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    if image_format == "jpeg":
        ok, buf = cv2.imencode(".jpg", array, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    else:
        ok, buf = cv2.imencode(".png", array)
    if not ok:  # pragma: no cover - cv2 encodes every uint8 image
        raise ValueError("could not encode the image")
    return base64.b64encode(buf.tobytes()).decode("ascii")


#: How larger arrays are written: raw little-endian values in base64, a 16-bit PNG, nested lists.
ARRAY_FORMATS = ("list", "base64", "png16")
#: JSON bytes charged per value of an array written as nested lists (float32 text is ~10-20).
_LIST_BYTES_PER_VALUE = 20


class ResponseBudget:
    """A byte budget for one serialized result: charged *before* each large value is built."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.used = 0

    def charge(self, nbytes: int, what: str) -> None:
        self.used += int(nbytes)
        if self.used > self.limit:
            raise ResponseTooLargeError(
                f"the response would exceed the limit of {self.limit} bytes (at {what}); leave "
                "outputs out with 'excluded_fields', or ask for a compact 'array_format'",
                context="response")

    def check_final(self, nbytes: int) -> None:
        if nbytes > self.limit:
            raise ResponseTooLargeError(
                f"the response is {nbytes} bytes, more than the limit of {self.limit}; leave "
                "outputs out with 'excluded_fields'", context="response")


def _array_to_json(array: np.ndarray) -> Any:
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        obj = array.astype(object)
        obj[~np.isfinite(array)] = None
        return obj.tolist()
    return array.tolist()


def _png16(array: np.ndarray) -> dict[str, Any]:
    """A 2-D numeric array as a 16-bit PNG scaled min..max (non-finite values written as 0)."""
    data, scale = png16_encode(array)
    return {"type": "png16", "value": base64.b64encode(data).decode("ascii"),
            "shape": list(array.shape), **scale, "decode": PNG16_DECODE}


def _array_out(array: np.ndarray, array_format: str, budget: ResponseBudget | None, what: str) -> Any:
    """An array as JSON: small ones and ``list`` as nested lists, else compact (see ARRAY_FORMATS)."""
    numeric = array.dtype.kind in "fiub"
    if array_format == "list" or array.size <= INLINE_ARRAY_VALUES or not numeric:
        if budget is not None:
            budget.charge(array.size * _LIST_BYTES_PER_VALUE, what)
        return _array_to_json(array)
    if array_format not in ARRAY_FORMATS:
        raise ValueError(f"array_format must be one of {ARRAY_FORMATS}, got {array_format!r}")
    png16 = array_format == "png16" and array.ndim == 2 and array.dtype.kind in "fiu"
    if budget is not None:  # base64 of the raw values, or of at most 2 bytes a value for png16
        budget.charge((array.size * (2 if png16 else array.dtype.itemsize) * 4) // 3 + 200, what)
    if png16:
        return _png16(array)
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return {"type": "numpy_array", "encoding": "base64", "dtype": little.dtype.name,
            "byte_order": "little", "shape": list(array.shape),
            "value": base64.b64encode(little.tobytes()).decode("ascii")}


def array_from_json(value: Any) -> np.ndarray:
    """The array a client got back, whichever ``array_format`` wrote it (lists, base64, png16).

    A depth map gives its values; :func:`depth_map_from_json` keeps its unit too.
    """
    if isinstance(value, dict) and value.get("type") == "numpy_array":
        data = base64.b64decode(value["value"])
        dtype = np.dtype(value["dtype"]).newbyteorder("<")
        return np.frombuffer(data, dtype=dtype).reshape(value["shape"]).astype(dtype.newbyteorder("="))
    if isinstance(value, dict) and value.get("type") == "png16":
        return png16_decode(base64.b64decode(value["value"]), value["min"], value["max"])
    if isinstance(value, dict) and value.get("type") == "depth_map":
        return array_from_json(value["values"])
    return np.array(value, dtype=np.float64 if _has_none(value) else None)


def depth_map_from_json(value: Any) -> DepthMap:
    """A depth map a client got back (``{"type": "depth_map", "unit", "values"}``) with its unit."""
    return depth_from_json(value, array_from_json)


def _has_none(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None:
            return True
        if isinstance(item, list):
            stack.extend(item)
    return False


def is_detections(value: Any) -> bool:
    """True for a ``supervision.Detections`` (without importing supervision when nothing has)."""
    sv = sys.modules.get("supervision")
    return sv is not None and isinstance(value, sv.Detections)


def serialize_value(
    value: Any,
    *,
    include_points: bool = False,
    image_format: str = "jpeg",
    array_format: str = "list",
    budget: ResponseBudget | None = None,
    _what: str = "output",
) -> Any:
    """Any runtime value as JSON-able data (see the module docstring).

    ``array_format``: arrays of more than :data:`INLINE_ARRAY_VALUES` values as ``"list"``
    (nested lists), ``"base64"`` (``{"type": "numpy_array", "dtype", "shape", "value"}``, raw
    little-endian values) or ``"png16"`` (2-D arrays as a 16-bit PNG scaled min..max).
    ``budget`` refuses (:class:`ResponseTooLargeError`) a result that would grow past its limit,
    before the large value is built.
    """
    options = {"include_points": include_points, "image_format": image_format,
               "array_format": array_format, "budget": budget}
    if value is None or isinstance(value, (bool, int, str)):
        if budget is not None and isinstance(value, str) and len(value) > 1024:
            budget.charge(len(value), _what)
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, WorkflowImageData):
        if budget is not None:  # an estimate before encoding (base64 of a JPEG ~1/4 of the
            # raw pixels, of a PNG up to the raw size); the finished response is checked exactly
            raw = value.numpy_image.nbytes
            budget.charge(raw // 3 if image_format == "jpeg" else raw * 4 // 3, _what)
        return {
            "type": "base64",
            "value": encode_image(value, image_format),
            "format": image_format,
            "parent_id": value.parent_id,
            "width": value.width,
            "height": value.height,
        }
    if isinstance(value, np.ndarray):
        return _array_out(value, array_format, budget, _what)
    if isinstance(value, DepthMap):
        return depth_to_json(value, lambda values: _array_out(values, array_format, budget, f"{_what}.values"))
    if isinstance(value, np.generic):
        return serialize_value(value.item())
    if isinstance(value, PointCloud):
        out: dict[str, Any] = {**point_cloud_header(value), "parent_id": value.parent_id}
        if include_points:
            out["points"] = _array_out(value.points, array_format, budget, f"{_what}.points")
            out["colors"] = (None if value.colors is None else
                             _array_out(value.colors, array_format, budget, f"{_what}.colors"))
        return out
    if is_detections(value):
        if budget is not None:
            budget.charge(len(value) * 200, _what)
        return detections_to_inference_json(value)
    if isinstance(value, dict):
        return {str(k): serialize_value(v, **options, _what=f"{_what}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [serialize_value(v, **options, _what=f"{_what}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):  # pydantic models
        return serialize_value(value.model_dump(), **options, _what=_what)
    return repr(value)


def serialize_outputs(
    results: list[dict[str, Any]],
    include_points: bool = False,
    image_format: str = "jpeg",
    array_format: str = "list",
    budget: ResponseBudget | None = None,
) -> list[dict[str, Any]]:
    """Workflow results (one dict per batch element) as JSON-able data (see :func:`serialize_value`)."""
    return [
        {name: serialize_value(v, include_points=include_points, image_format=image_format,
                               array_format=array_format, budget=budget, _what=f"outputs[{i}].{name}")
         for name, v in r.items()}
        for i, r in enumerate(results)
    ]


# --- detections --------------------------------------------------------------------------------


def detections_to_inference_json(detections: Any, image_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """A ``supervision.Detections`` as Roboflow inference predictions JSON.

    ``image_size`` is (width, height); without it the size is read from the detections'
    ``metadata["image_dimensions"]`` or data column ``image_dimensions`` (both (height, width)).
    """
    data = dict(detections.data or {})
    n = len(detections)
    meta_dims = (getattr(detections, "metadata", None) or {}).get("image_dimensions")
    if image_size is None and meta_dims is not None:
        h, w = meta_dims[:2]
        image_size = (int(w), int(h))
    if image_size is None and "image_dimensions" in data and n:
        h, w = np.asarray(data["image_dimensions"])[0][:2]
        image_size = (int(w), int(h))
    predictions = []
    xyxy = np.asarray(detections.xyxy, dtype=np.float64).reshape(-1, 4)
    class_names = data.pop("class_name", None)
    detection_ids = data.pop("detection_id", None)
    data.pop("image_dimensions", None)
    for i in range(n):
        x1, y1, x2, y2 = xyxy[i]
        pred: dict[str, Any] = {
            "x": float((x1 + x2) / 2),
            "y": float((y1 + y2) / 2),
            "width": float(x2 - x1),
            "height": float(y2 - y1),
            "confidence": float(detections.confidence[i]) if detections.confidence is not None else None,
            "class": str(class_names[i]) if class_names is not None else None,
            "class_id": int(detections.class_id[i]) if detections.class_id is not None else None,
            "detection_id": str(detection_ids[i]) if detection_ids is not None else f"{i}",
        }
        if detections.tracker_id is not None:
            pred["tracker_id"] = int(detections.tracker_id[i])
        for key, column in data.items():
            pred[key] = serialize_value(column[i])
        predictions.append(pred)
    image = {"width": image_size[0], "height": image_size[1]} if image_size else {"width": None, "height": None}
    return {"image": image, "predictions": predictions}


_PREDICTION_KEYS = {"x", "y", "width", "height", "confidence", "class", "class_id", "detection_id", "tracker_id", "points"}


def detections_from_inference_json(
    payload: Any, image_size: tuple[int, int] | None = None, input_name: str = "predictions"
) -> Any:
    """Roboflow predictions JSON (``{"image": ..., "predictions": [...]}`` or a bare list of
    predictions) as a ``supervision.Detections`` (boxes; ``class_name``, ``detection_id`` and any
    other per-prediction field shared by all predictions go into ``data``).

    ``image_size`` is (width, height); it overrides the payload's ``image``.
    """
    import supervision as sv

    if isinstance(payload, dict):
        preds = payload.get("predictions")
        if not isinstance(preds, list):
            raise RuntimeInputError.for_input(input_name, "a predictions object needs a 'predictions' list")
        img = payload.get("image") or {}
        if image_size is None and isinstance(img, dict) and img.get("width") and img.get("height"):
            image_size = (int(img["width"]), int(img["height"]))
    elif isinstance(payload, list):
        preds = payload
    else:
        raise RuntimeInputError.for_input(input_name, f"expected a predictions object or list, got {type(payload).__name__}")
    xyxy = np.zeros((len(preds), 4), dtype=np.float32)
    confidence = np.ones(len(preds), dtype=np.float32)
    class_id = np.zeros(len(preds), dtype=int)
    class_name: list[str] = []
    detection_id: list[str] = []
    extra: dict[str, list[Any]] = {}
    for i, p in enumerate(preds):
        if not isinstance(p, dict):
            raise RuntimeInputError.for_input(input_name, f"predictions[{i}] must be an object, got {type(p).__name__}")
        try:
            x, y, w, h = (float(p[k]) for k in ("x", "y", "width", "height"))
        except KeyError as exc:
            raise RuntimeInputError.for_input(input_name, f"predictions[{i}] has no '{exc.args[0]}'") from exc
        except (TypeError, ValueError) as exc:
            raise RuntimeInputError.for_input(input_name, f"predictions[{i}]: x, y, width and height must be numbers") from exc
        xyxy[i] = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        if p.get("confidence") is not None:
            confidence[i] = float(p["confidence"])
        if p.get("class_id") is not None:
            class_id[i] = int(p["class_id"])
        class_name.append(str(p.get("class", p.get("class_name", ""))))
        detection_id.append(str(p.get("detection_id", i)))
        for key, v in p.items():
            if key not in _PREDICTION_KEYS and key != "class_name":
                extra.setdefault(key, []).append(v)
    data: dict[str, Any] = {"class_name": np.array(class_name, dtype=str), "detection_id": np.array(detection_id, dtype=str)}
    for key, values in extra.items():
        if len(values) == len(preds):
            data[key] = np.array(values)
    if image_size is not None and len(preds):
        data["image_dimensions"] = np.tile(np.array([image_size[1], image_size[0]]), (len(preds), 1))
    detections = sv.Detections(xyxy=xyxy, confidence=confidence, class_id=class_id, data=data)
    if image_size is not None:
        detections.metadata["image_dimensions"] = (image_size[1], image_size[0])
    return detections


__all__ = [
    "ResponseBudget",
    "array_from_json",
    "decode_image",
    "depth_map_from_json",
    "detections_from_inference_json",
    "detections_to_inference_json",
    "encode_image",
    "is_detections",
    "serialize_outputs",
    "serialize_value",
]
