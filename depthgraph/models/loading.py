"""The process-wide model cache, the device setting and the backend switch.

Blocks, the CLI and the server ask :func:`get_model` for a DA3 model; it is loaded once per
process per (model version, device, backend), behind a lock. This module imports no torch
(``/info`` and ``depthgraph validate`` read it for free); torch loads with the first model.

Settings, read when a model is first asked for:

- ``DEPTHGRAPH_DEVICE``: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; unset means automatic;
- ``DEPTHGRAPH_BACKEND``: ``"torch"`` (default), ``"onnxruntime"`` or ``"openvino"``: the
  network as an exported ONNX graph on that runtime, with the same pre- and post-processing.
"""

from __future__ import annotations

import os
import threading
from typing import Any

#: Environment variable choosing the device ("cpu", "cuda", "cuda:1"...); unset means automatic.
DEVICE_ENV = "DEPTHGRAPH_DEVICE"
#: Environment variable choosing the backend (one of :data:`BACKENDS`); unset means "torch".
BACKEND_ENV = "DEPTHGRAPH_BACKEND"
BACKENDS = ("torch", "onnxruntime", "openvino")
DEFAULT_BACKEND = "torch"

_MODEL_CACHE: dict[tuple[str, str], Any] = {}
_MODEL_LOCK = threading.Lock()


def check_backend(backend: str | None, where: str = "backend") -> str:
    """``backend`` lower-cased and checked against :data:`BACKENDS` (``None`` -> the default)."""
    if backend is None:
        return DEFAULT_BACKEND
    name = str(backend).strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"{where}: unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    return name


def current_backend() -> str:
    """The backend ``$DEPTHGRAPH_BACKEND`` selects (``"torch"`` when unset)."""
    return check_backend(os.environ.get(BACKEND_ENV) or None, f"${BACKEND_ENV}")


def current_device() -> str | None:
    """The device ``$DEPTHGRAPH_DEVICE`` selects (``None`` = automatic)."""
    return os.environ.get(DEVICE_ENV) or None


def use_device(device: str | None) -> None:
    """Set the device for models loaded from now on in this process (and its children)."""
    if device:
        os.environ[DEVICE_ENV] = device


def use_backend(backend: str | None) -> None:
    """Set the backend for models loaded from now on in this process (and its children)."""
    if backend:
        os.environ[BACKEND_ENV] = check_backend(backend)


def cache_key(model_version: str, device: str | None, backend: str) -> tuple[str, str]:
    """``(model_version, where)``: ``where`` is the device (``"auto"`` when automatic) for
    torch, ``"<backend>/cpu"`` for the exported-graph backends."""
    if backend == DEFAULT_BACKEND:
        return (model_version, device or "auto")
    return (model_version, f"{backend}/cpu")


def get_model(model_version: str, device: str | None = None, backend: str | None = None) -> Any:
    """The DA3 model for ``model_version`` on ``device`` with ``backend``, loaded once per
    process and cached (``None`` reads :data:`DEVICE_ENV` / :data:`BACKEND_ENV`)."""
    device = device or current_device()
    backend = check_backend(backend) if backend else current_backend()
    key = cache_key(model_version, device, backend)
    with _MODEL_LOCK:
        model = _MODEL_CACHE.get(key)
        if model is None:
            from depthgraph.models.depth_anything_v3 import AutoModel  # imports torch

            model = AutoModel.from_pretrained(model_version, device=device, backend=backend)
            _MODEL_CACHE[key] = model
        return model


def put_model(model_version: str, model: Any, device: str | None = None, backend: str = DEFAULT_BACKEND) -> None:
    """Put an already-loaded model in the cache (tests, benchmarks, embedding applications)."""
    with _MODEL_LOCK:
        _MODEL_CACHE[cache_key(model_version, device, check_backend(backend))] = model


def clear_model_cache() -> None:
    """Forget every loaded model (tests; freeing memory)."""
    with _MODEL_LOCK:
        _MODEL_CACHE.clear()


def loaded_models() -> list[tuple[str, str]]:
    """The (model_version, device) keys currently cached (see :func:`cache_key`)."""
    with _MODEL_LOCK:
        return list(_MODEL_CACHE)


__all__ = [
    "BACKENDS", "BACKEND_ENV", "DEFAULT_BACKEND", "DEVICE_ENV", "check_backend", "clear_model_cache",
    "current_backend", "current_device", "get_model", "loaded_models", "put_model", "use_backend",
    "use_device",
]  # fmt: skip
