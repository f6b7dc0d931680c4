"""Depth Anything 3 (small / base) written from the project's spec.

``AutoModel`` and ``DepthPrediction`` import torch, so they load lazily; the recipe helpers
(:mod:`.recipe`) need only numpy and safetensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["AutoModel", "DepthPrediction", "ScenePrediction", "DA3Config"]

_LAZY = {
    "AutoModel": "depthgraph.models.depth_anything_v3.model",
    "DepthPrediction": "depthgraph.models.depth_anything_v3.model",
    "ScenePrediction": "depthgraph.models.depth_anything_v3.scene",
    "DA3Config": "depthgraph.models.depth_anything_v3.config",
}

if TYPE_CHECKING:  # pragma: no cover
    from depthgraph.models.depth_anything_v3.config import DA3Config
    from depthgraph.models.depth_anything_v3.model import AutoModel, DepthPrediction
    from depthgraph.models.depth_anything_v3.scene import ScenePrediction


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
