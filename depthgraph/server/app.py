"""The FastAPI app: the Roboflow Workflows HTTP surface, put together.

``create_app(settings)`` builds the app from its parts; ``run_server(settings)`` serves it with
uvicorn:

- :mod:`depthgraph.server.gate`: Host check, HEAD, the API key (headers before the body; a body
  searched, not parsed), anti-framing headers; :mod:`depthgraph.server.limits`: the body size;
- :mod:`depthgraph.server.auth`: the key itself and the ``require_key`` route dependency;
- :mod:`depthgraph.server.handlers`: every error as JSON ``{message, error_type, context,
  blocks_errors}``, client mistakes 4xx;
- :mod:`depthgraph.server.routes`: the workflow endpoints (``POST /workflows/run``,
  ``/workflows/validate``, ``/workflows/blocks/describe``, ``GET /workflows/definition/schema``,
  ``/healthz``, ``/info``); :mod:`depthgraph.server.editor`: the visual editor's routes;
  :mod:`depthgraph.server.progress`: the step progress of a run as Server-Sent Events
  (``GET /workflows/runs/{run_id}/events``).

Inference runs in worker threads (:mod:`depthgraph.server.workers`) with a per-request time limit,
so the event loop (and ``/healthz``) keeps answering while a long inference runs. Sinks write only
under the output root (:mod:`depthgraph.output_root`). See ``docs/security.md``.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI

import depthgraph
from depthgraph.malloc_tuning import retain_freed_memory
from depthgraph.server.cache import WorkflowCache
from depthgraph.server.editor import router as editor_router
from depthgraph.server.gate import RequestGate
from depthgraph.server.handlers import install_error_handlers
from depthgraph.server.limits import BodySizeLimit
from depthgraph.server.progress import router as progress_router
from depthgraph.server.routes import refuse_sinks, workflow_router
from depthgraph.server.settings import ServerSettings
from depthgraph.server.workers import InferenceSlots

__all__ = ["create_app", "refuse_sinks", "run_server"]


def create_app(settings: ServerSettings | None = None, registry: Any = None) -> FastAPI:
    """The FastAPI app serving depthgraph workflows under ``settings``.

    ``registry`` (a :class:`~depthgraph.engine.registry.BlockRegistry`) replaces the process-wide
    block registry, for tests and embedding.
    """
    settings = settings or ServerSettings.from_env()
    slots = InferenceSlots(settings.inference_workers, settings.max_queued_requests)
    from depthgraph.server.urls import parse_networks

    parse_networks(settings.url_allowed_networks)  # a bad network fails at start, not per request

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        slots.shutdown()  # queued requests are dropped on exit

    app = FastAPI(title="depthgraph", version=depthgraph.__version__, lifespan=lifespan,
                  description="Depth Anything 3 workflows over the Roboflow Workflows HTTP surface.")
    app.state.settings = settings
    app.state.cache = WorkflowCache(settings.workflow_cache_size, registry)
    app.state.slots = slots
    app.state.started = time.time()
    docs_paths = {p for p in (app.docs_url, app.redoc_url, app.openapi_url,
                              getattr(app, "swagger_ui_oauth2_redirect_url", None)) if p}
    # the last added runs first: body size, then the gate (host, key), then CORS and the routes
    if settings.cors_origins:  # opt-in: lets hosted editors (other origins) call this server
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["*"])
    app.add_middleware(RequestGate, settings=settings, docs_paths=docs_paths)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(editor_router)  # the visual editor: /, /editor, /editor/static, examples
    app.include_router(workflow_router(settings, slots, registry, app.state))
    app.include_router(progress_router)  # step events of a run (X-Depthgraph-Run-Id)
    return app


class _RedactKeys(logging.Filter):
    """Take API keys out of access-log lines (``?api_key=...`` in a request's path)."""

    _KEY = re.compile(r"(api_key=)[^&\s\"]*", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(self._KEY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = self._KEY.sub(r"\1[redacted]", record.msg)
        return True


def log_config(log_level: str) -> dict[str, Any]:
    """uvicorn's logging, plus: depthgraph's own messages at the same level, keys redacted."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {**LOGGING_CONFIG, "filters": {"redact_keys": {"()": _RedactKeys}}}
    config["handlers"] = {name: {**handler, "filters": ["redact_keys"]}
                          for name, handler in LOGGING_CONFIG["handlers"].items()}
    config["loggers"] = {**LOGGING_CONFIG["loggers"],
                         "depthgraph": {"handlers": ["default"], "level": log_level.upper(),
                                        "propagate": False}}
    return config


def run_server(settings: ServerSettings | None = None, log_level: str = "info") -> None:
    """Serve :func:`create_app` with uvicorn (blocks until stopped)."""
    import uvicorn

    # before any thread starts: the inference threads then reuse freed tensor memory too
    retain_freed_memory(single_arena=True)
    settings = settings or ServerSettings.from_env()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level,
                log_config=log_config(log_level))
