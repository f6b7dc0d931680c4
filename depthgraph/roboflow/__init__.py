"""depthgraph as a Roboflow Workflows plugin.

Install ``pip install "depthgraph[roboflow]"`` and set ``WORKFLOWS_PLUGINS=depthgraph.roboflow``:
Roboflow's engine (``roboflow-workflows``, the ``inference`` server, ``InferencePipeline``) then
offers every depthgraph block next to its own. The blocks are generated from depthgraph's
manifests and blocks when this module is imported (see :mod:`depthgraph.roboflow.blocks`); the
``roboflow_core/depth_estimation@v1`` alias is left out (it is Roboflow's own block).

Plugin interface (what Roboflow's loader reads): :func:`load_blocks`, :func:`load_kinds`,
``REGISTERED_INITIALIZERS``, ``KINDS_SERIALIZERS``, ``KINDS_DESERIALIZERS``.
"""

from __future__ import annotations

EXTRA_HINT = 'pip install "depthgraph[roboflow]"'

try:
    import roboflow_workflows  # noqa: F401
except ImportError as _error:
    raise ImportError(
        "depthgraph.roboflow is the Roboflow Workflows plugin and needs Roboflow's engine, "
        f"which is not installed: {EXTRA_HINT}"
    ) from _error

try:
    from depthgraph.roboflow.blocks import DepthgraphRoboflowBlock, generate
    from depthgraph.roboflow.serializers import (
        KINDS_DESERIALIZERS,
        KINDS_SERIALIZERS,
        serialize_depthgraph_value,
    )
except ImportError as _error:  # e.g. torchvision that does not match torch
    raise ImportError(
        "depthgraph.roboflow: Roboflow's Workflows engine is installed but cannot be imported "
        f"({type(_error).__name__}: {_error}); reinstall it with {EXTRA_HINT} and a torchvision "
        "that matches torch"
    ) from _error

_GENERATED = generate()
for _kind in _GENERATED.kinds.declared():  # a kind of a new block: written as depthgraph writes it
    KINDS_SERIALIZERS.setdefault(_kind.name, serialize_depthgraph_value)

#: Block initialisers for Roboflow's engine: depthgraph's blocks need none.
REGISTERED_INITIALIZERS: dict[str, object] = {}


def load_blocks() -> list[type[DepthgraphRoboflowBlock]]:
    """Every depthgraph block as a Roboflow block class."""
    return list(_GENERATED.blocks)


def load_kinds() -> list:
    """The kinds depthgraph adds to Roboflow's (``depth_map``, ``camera_intrinsics``, ...)."""
    return _GENERATED.kinds.declared()


def generically_mapped_kinds() -> list[str]:
    """Added kinds with no serialiser of their own (they pass through Roboflow unchanged)."""
    return _GENERATED.kinds.generic()


__all__ = [
    "KINDS_DESERIALIZERS",
    "KINDS_SERIALIZERS",
    "REGISTERED_INITIALIZERS",
    "generically_mapped_kinds",
    "load_blocks",
    "load_kinds",
]
