"""depthgraph: monocular depth (Depth Anything 3) as blocks in a small DAG workflow engine.

Importing depthgraph does not import torch: the model names below load lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from depthgraph import decoder_limits as _decoder_limits

__version__ = "0.1.0"

_decoder_limits.set_opencv_limit()  # before any depthgraph module loads cv2

_LAZY = {
    # engine (pydantic + numpy + networkx only)
    "Workflow": "depthgraph.engine.workflow",
    "run_workflow": "depthgraph.engine.workflow",
    "describe": "depthgraph.engine.describe",
    "WorkflowError": "depthgraph.engine.errors",
    "WorkflowImageData": "depthgraph.engine.values",
    "PointCloud": "depthgraph.engine.values",
    "DepthMap": "depthgraph.engine.values",
    # model (imports torch)
    "AutoModel": "depthgraph.models.depth_anything_v3",
    "DepthPrediction": "depthgraph.models.depth_anything_v3",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from depthgraph.engine.describe import describe
    from depthgraph.engine.errors import WorkflowError
    from depthgraph.engine.values import DepthMap, PointCloud, WorkflowImageData
    from depthgraph.engine.workflow import Workflow, run_workflow
    from depthgraph.models.depth_anything_v3 import AutoModel, DepthPrediction


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'depthgraph' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
