"""JSON for depthgraph's kinds when Roboflow runs with ``serialize_results=True``.

The values are written exactly as depthgraph's own engine writes them
(:func:`depthgraph.engine.serialization.serialize_value`): ``depth_map`` and
``camera_intrinsics`` as nested lists (non-finite values as null), a ``point_cloud`` as its
summary (number of points, frame, colours or not, bounds, parent id). Deserialisers turn the same
lists given as runtime inputs back into float32 arrays.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from roboflow_workflows.errors import RuntimeInputError

from depthgraph.engine.serialization import serialize_value
from depthgraph.engine.values import PointCloud


def serialize_depthgraph_value(value: Any) -> Any:
    """A depthgraph value as JSON-able data (numpy arrays as lists, point clouds as summaries)."""
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


KINDS_SERIALIZERS: dict[str, Callable[[Any], Any]] = {
    "depth_map": serialize_depthgraph_value,
    "camera_intrinsics": serialize_depthgraph_value,
    "point_cloud": serialize_point_cloud,
}

KINDS_DESERIALIZERS: dict[str, Callable[[str, Any], Any]] = {
    "depth_map": _array_deserializer("depth_map", 2),
    "camera_intrinsics": _array_deserializer("camera_intrinsics", 2, (3, 3)),
}
