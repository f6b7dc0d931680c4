"""What /info says about the model: the one place the server looks at the model layer's state.

The server never imports torch or a block to answer: the model cache and the settings live in
:mod:`depthgraph.models.loading`, which imports no torch. torch is read through ``sys.modules``;
a module being imported by another thread (torch while a model first loads) is partially
initialised, so its attributes are read defensively.
"""

from __future__ import annotations

import os
import sys

from depthgraph.models import loading


def loaded_models() -> list[dict[str, str]]:
    """The DA3 models held in memory: ``device`` is the device for torch models and
    ``"<backend>/cpu"`` for the exported-graph backends."""
    return [{"model_version": version, "device": device} for version, device in loading.loaded_models()]


def backend() -> str:
    """The backend models load with (``$DEPTHGRAPH_BACKEND``, default torch)."""
    try:
        return loading.current_backend()
    except ValueError as exc:  # a bad $DEPTHGRAPH_BACKEND: say so rather than fail /info
        return f"invalid ({exc})"


def device() -> str:
    """The device inference uses or will use, without importing torch."""
    if os.environ.get(loading.DEVICE_ENV):
        return os.environ[loading.DEVICE_ENV]
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
