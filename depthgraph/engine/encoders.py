"""One encoder per value kind, shared by every writer (numpy and OpenCV only).

The result file writer (:mod:`depthgraph.output_writer`), the video sinks
(:mod:`depthgraph.video.sinks`) and the JSON serializer (:mod:`depthgraph.engine.serialization`)
walk results by value type; whatever they write of a value they write through this module, so a
depth map looks the same in a ``results.json``, a JSON Lines frame and a server answer.

- 16-bit PNG: :func:`png16_encode` / :func:`png16_decode`, the one quantiser (min..max of the
  finite values -> 0..65535, non-finite pixels written as 0).
- ``.npy``: :func:`npy_bytes` (a depth map as its float32 values).
- JSON: :func:`depth_to_json` / :func:`depth_from_json` (a :class:`DepthMap` with its unit),
  :func:`point_cloud_header` (what is said of a :class:`PointCloud` besides its points, its unit
  included),
  :func:`array_summary` (what a large array becomes where its values are not written),
  :func:`json_safe` (NaN and infinities as ``null``).
"""

from __future__ import annotations

import io
import math
from typing import Any, Callable

import numpy as np

from depthgraph.engine.values import RELATIVE, DepthMap, PointCloud

#: Arrays with at most this many values are always written inline as JSON lists (intrinsics,
#: boxes...); larger ones go to files, compact encodings or summaries, as each writer chooses.
INLINE_ARRAY_VALUES = 64
#: How a 16-bit PNG maps back to values (written next to every PNG16 so a reader needs no docs).
PNG16_DECODE = "value = min + png / 65535 * (max - min)"


# --- 16-bit PNG --------------------------------------------------------------------------------


def png16_quantize(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A 2-D array as uint16 scaled from the finite minimum (0) to the maximum (65535).

    Returns ``(pixels, min, max)``; non-finite values become 0, a constant array all zeros.
    """
    array = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(array)
    low = float(array[finite].min()) if finite.any() else 0.0
    high = float(array[finite].max()) if finite.any() else 0.0
    scaled = np.zeros(array.shape, dtype=np.float64)
    if high > low:
        scaled[finite] = (array[finite] - low) * (65535.0 / (high - low))
    return np.clip(np.round(scaled), 0, 65535).astype(np.uint16), low, high


def png16_encode(values: np.ndarray) -> tuple[bytes, dict[str, float]]:
    """A 2-D array as the bytes of a 16-bit PNG, and the ``{"min", "max"}`` that decode it."""
    import cv2

    pixels, low, high = png16_quantize(values)
    ok, buf = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover - cv2 encodes every uint16 image
        raise ValueError("could not encode the array as a 16-bit PNG")
    return buf.tobytes(), {"min": low, "max": high}


def png16_decode(data: bytes, low: float, high: float) -> np.ndarray:
    """The float32 values a :func:`png16_encode` PNG stands for (up to quantisation)."""
    import cv2

    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ValueError("not a PNG image")
    return (float(low) + pixels.astype(np.float64) / 65535.0 * (float(high) - float(low))).astype(np.float32)


# --- .npy --------------------------------------------------------------------------------------


def npy_bytes(value: np.ndarray | DepthMap) -> bytes:
    """The bytes of a ``.npy`` file: an array as it is, a depth map as its float32 values."""
    array = value.values if isinstance(value, DepthMap) else np.asarray(value)
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# --- JSON --------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """A JSON-safe copy of plain data: NaN and infinities become None (JSON cannot spell them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def array_summary(array: np.ndarray) -> dict[str, Any]:
    """A large array in a few numbers: shape, dtype and, for numbers, finite min / max / mean."""
    summary: dict[str, Any] = {"type": "array", "shape": list(array.shape), "dtype": str(array.dtype)}
    if np.issubdtype(array.dtype, np.number) and array.size:
        finite = array[np.isfinite(array)] if np.issubdtype(array.dtype, np.floating) else array
        if finite.size:
            summary.update(min=float(finite.min()), max=float(finite.max()), mean=float(finite.mean()))
    return summary


def depth_header(depth: DepthMap) -> dict[str, Any]:
    """What every writer says about a depth map besides its pixels: kind, unit, size."""
    height, width = depth.shape
    return {"type": "depth_map", **depth.summary(), "height": int(height), "width": int(width)}


def point_cloud_header(cloud: PointCloud) -> dict[str, Any]:
    """What every writer says about a point cloud besides its points: kind, size, frame, unit
    (``relative``: no unit, never metres), colours or not, bounds."""
    return {"type": "point_cloud", **cloud.summary()}


def depth_to_json(depth: DepthMap, values: Callable[[np.ndarray], Any]) -> dict[str, Any]:
    """A depth map as JSON: :func:`depth_header` plus ``values`` written by ``values(array)``.

    The caller chooses how the array itself is written (nested lists, base64, PNG16): the
    serializer passes its ``array_format`` encoder, so the arrays' wire format is unchanged.
    """
    out = depth_header(depth)
    if depth.parent_id is not None:
        out["parent_id"] = depth.parent_id
    out["values"] = values(depth.values)
    return out


def depth_from_json(value: Any, decode_array: Callable[[Any], np.ndarray]) -> DepthMap:
    """A depth map read back from :func:`depth_to_json` (or from a bare array: relative depth)."""
    if isinstance(value, dict) and value.get("type") == "depth_map":
        return DepthMap(
            values=decode_array(value["values"]),
            unit=str(value.get("unit", RELATIVE)),
            source=str(value.get("source", "")),
            parent_id=value.get("parent_id"),
        )
    return DepthMap(values=decode_array(value))


__all__ = [
    "INLINE_ARRAY_VALUES",
    "PNG16_DECODE",
    "array_summary",
    "depth_from_json",
    "depth_header",
    "depth_to_json",
    "json_safe",
    "npy_bytes",
    "png16_decode",
    "png16_encode",
    "png16_quantize",
    "point_cloud_header",
]
