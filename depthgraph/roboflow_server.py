"""Roboflow's own inference HTTP server, started without docker, with depthgraph's blocks in it.

Roboflow ships its server as docker images whose entry point builds the ASGI app from
``HttpInterface(model_manager)``; that module is not in the ``inference`` wheel. This one builds
the same app from the wheel's public classes, so a plain ``pip install`` can serve it::

    pip install "inference[http]==1.8.3" "depthgraph[roboflow]"
    export WORKFLOWS_PLUGINS=depthgraph.roboflow
    uvicorn depthgraph.roboflow_server:app --host 127.0.0.1 --port 9001

Offline (no Roboflow API), also set ``OFFLINE_MODE=True DISABLE_VERSION_CHECK=True
METRICS_ENABLED=False``. Everything else is Roboflow's: its routes (``/workflows/run``,
``/workflows/blocks/describe``, ...), its core blocks, its serialisers; depthgraph adds blocks
through ``WORKFLOWS_PLUGINS`` only. See docs/roboflow.md.

This module sits beside the ``depthgraph.roboflow`` package, not in it: importing that package
imports Roboflow's Workflows engine, which must not happen before the server has installed its
process-wide Workflows configuration (offline mode and the rest); the server imports the plugin
itself, when it reads ``WORKFLOWS_PLUGINS``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

#: the landing-page folders Roboflow's app mounts, relative to the working directory at start-up
_LANDING_FOLDERS = ("inference/landing/out/static", "inference/landing/out/_next/static")


def create_app() -> Any:
    """Roboflow's FastAPI app (``HttpInterface`` over a ``ModelManager`` with Roboflow's registry).

    The app insists on its landing page's folders under the working directory; empty ones in a
    temporary folder satisfy it without writing into the caller's directory (the landing page
    itself is not served).
    """
    from inference.core.interfaces.http.http_api import HttpInterface
    from inference.core.managers.base import ModelManager
    from inference.core.registries.roboflow import RoboflowModelRegistry
    from inference.models.utils import ROBOFLOW_MODEL_TYPES

    manager = ModelManager(model_registry=RoboflowModelRegistry(ROBOFLOW_MODEL_TYPES))
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="depthgraph-inference-") as scratch:
        for folder in _LANDING_FOLDERS:
            Path(scratch, folder).mkdir(parents=True, exist_ok=True)
        os.chdir(scratch)
        try:
            return HttpInterface(manager).app
        finally:
            os.chdir(here)


app = create_app()
