"""What /info says about the model: the one place the server looks at the depth block's state.

The server never imports torch or the depth block to answer; it reads what is loaded through
``sys.modules``. A module being imported by another thread (torch while a model first loads) is
partially initialised, so every attribute is read defensively.
"""

from __future__ import annotations

import os
import sys

DEPTH_BLOCK_MODULE = "depthgraph.blocks.depth_estimation"
DEVICE_ENV = "DEPTHGRAPH_DEVICE"


def loaded_models() -> list[dict[str, str]]:
    """The DA3 models the depth block holds in memory (none before the block is imported)."""
    module = sys.modules.get(DEPTH_BLOCK_MODULE)
    loaded = getattr(module, "loaded_models", None)
    if loaded is None:
        return []
    try:
        return [{"model_version": version, "device": device} for version, device in loaded()]
    except Exception:  # noqa: BLE001 - a model still loading: report none rather than fail
        return []


def device() -> str:
    """The device inference uses or will use, without importing torch."""
    if os.environ.get(DEVICE_ENV):
        return os.environ[DEVICE_ENV]
    torch = sys.modules.get("torch")  # never import torch just to answer /info
    if torch is None:
        return "auto (torch not loaded yet)"
    try:
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    except AttributeError:  # torch is being imported by a worker (partially initialised)
        return "auto (torch loading)"
