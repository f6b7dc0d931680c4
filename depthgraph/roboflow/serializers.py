"""JSON for depthgraph's kinds when Roboflow runs with ``serialize_results=True``.

The values are written exactly as depthgraph's own engine writes them
(:func:`depthgraph.engine.serialization.serialize_value`): a ``depth_map`` as
``{"type": "depth_map", "unit", "metric", ..., "values": <nested lists>}`` (the unit says whether
the depth is relative or in which length unit), ``camera_intrinsics`` as nested lists
(non-finite values as null), a ``point_cloud`` as its summary (number of points, frame, unit,
colours or not, bounds, parent id). Deserialisers turn the same JSON given as runtime inputs back: a
``depth_map`` (that object, or bare nested lists: a relative depth) into a
:class:`~depthgraph.engine.values.DepthMap`, intrinsics into a float32 array.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from roboflow_workflows.errors import RuntimeInputError

from depthgraph.engine.serialization import depth_map_from_json, serialize_value
from depthgraph.engine.values import DepthMap, PointCloud


def serialize_depthgraph_value(value: Any) -> Any:
    """A depthgraph value as JSON-able data (arrays as lists, depth maps with their unit)."""
    return serialize_value(value)


def serialize_point_cloud(value: Any) -> Any:
    if not isinstance(value, PointCloud):
        raise TypeError(f"expected a depthgraph PointCloud, got {type(value).__name__}")
    return serialize_value(value)


def _array_deserializer(
    kind: str, dimensions: int, shape: tuple[int, ...] | None = None
) -> Callable[[str, Any], np.ndarray]:
    def deserialize(parameter: str, value: Any) -> np.ndarray:
        try:
            array = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            array = None
        if array is None or array.ndim != dimensions or (shape is not None and array.shape != shape):
            expected = "x".join(str(s) for s in shape) if shape else f"{dimensions}-D"
            found = getattr(array, "shape", type(value).__name__)
            raise RuntimeInputError(
                public_message=f"input `{parameter}` of kind `{kind}` must be a {expected} "
                f"array of numbers (nested lists), got {found}",
                context="workflow_execution | runtime_input_validation",
            )
        return array

    return deserialize


def deserialize_depth_map(parameter: str, value: Any) -> DepthMap:
    """A ``depth_map`` runtime input: the serializer's object (unit kept) or bare nested lists."""
    if isinstance(value, DepthMap):
        return value
    try:
        return depth_map_from_json(value)
    except (TypeError, ValueError, KeyError) as exc:
        raise RuntimeInputError(
            public_message=f"input `{parameter}` of kind `depth_map` must be a 2-D array of numbers "
            f"(nested lists) or a depth map object with 'values' and 'unit': {exc}",
            context="workflow_execution | runtime_input_validation",
        ) from None


KINDS_SERIALIZERS: dict[str, Callable[[Any], Any]] = {
    "depth_map": serialize_depthgraph_value,
    "camera_intrinsics": serialize_depthgraph_value,
    "point_cloud": serialize_point_cloud,
}

KINDS_DESERIALIZERS: dict[str, Callable[[str, Any], Any]] = {
    "depth_map": deserialize_depth_map,
    "camera_intrinsics": _array_deserializer("camera_intrinsics", 2, (3, 3)),
}
