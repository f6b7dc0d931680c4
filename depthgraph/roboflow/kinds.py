"""depthgraph kinds as Roboflow kinds.

A kind whose name Roboflow already knows (``image``, ``numpy_array``,
``object_detection_prediction``, ``video_metadata``, ...) becomes Roboflow's own ``Kind`` object,
so that selectors connect depthgraph's steps with Roboflow's. Every other kind (``depth_map``,
``camera_intrinsics``, ``point_cloud``, and any kind a new depthgraph block brings) is declared
once as a new Roboflow ``Kind`` carrying depthgraph's description; :func:`declared_kinds` lists
them for the plugin's ``load_kinds()``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

from roboflow_workflows.core_steps.loader import load_kinds as load_roboflow_core_kinds
from roboflow_workflows.execution_engine.entities.types import Kind as RoboflowKind

from depthgraph.engine.kinds import Kind

#: Serialised and in-process forms of the kinds depthgraph adds, for Roboflow's kind docs.
_DATA_TYPES: dict[str, tuple[str, str]] = {
    "depth_map": (
        "Dict[str, Any] (type, unit, metric, height, width, values: List[List[float]])",
        "depthgraph.engine.values.DepthMap",
    ),
    "camera_intrinsics": ("List[List[float]]", "numpy.ndarray (float32, 3x3)"),
    "point_cloud": (
        "Dict[str, Any] (num_points, frame, unit, has_colors, bounds_min, bounds_max)",
        "depthgraph.engine.values.PointCloud",
    ),
}


@lru_cache(maxsize=1)
def roboflow_core_kinds() -> dict[str, RoboflowKind]:
    """Roboflow's own kinds by name (those of its core blocks)."""
    return {kind.name: kind for kind in load_roboflow_core_kinds()}


class KindMapper:
    """Turns depthgraph kinds into Roboflow kinds, creating each new kind exactly once."""

    def __init__(self) -> None:
        self._declared: dict[str, RoboflowKind] = {}

    def __call__(self, kind: Kind) -> RoboflowKind:
        core = roboflow_core_kinds().get(kind.name)
        if core is not None:
            return core
        declared = self._declared.get(kind.name)
        if declared is None:
            serialised, internal = _DATA_TYPES.get(kind.name, (None, None))
            description = kind.description
            if kind.batch_level:  # Roboflow has no per-batch values of a step
                description += (
                    " In Roboflow's engine the value is repeated for every image of the batch, "
                    "and steps fed only with it run once per image."
                )
            declared = RoboflowKind(
                name=kind.name,
                description=f"{description} (declared by depthgraph)".strip(),
                docs=kind.docs or kind.description,
                serialised_data_type=serialised,
                internal_data_type=internal,
            )
            self._declared[kind.name] = declared
        return declared

    def map_all(self, kinds: Iterable[Kind]) -> list[RoboflowKind]:
        return [self(kind) for kind in kinds]

    def declared(self) -> list[RoboflowKind]:
        """The kinds depthgraph adds to Roboflow (those Roboflow does not know)."""
        return list(self._declared.values())

    def generic(self) -> list[str]:
        """Names of added kinds without a known serialised form (mapped generically)."""
        return [name for name in self._declared if name not in _DATA_TYPES]
