"""The FastAPI app: the Roboflow Workflows HTTP surface.

``create_app(settings)`` builds the app; ``run_server(settings)`` serves it with uvicorn.

Endpoints: ``POST /workflows/run``, ``POST /workflows/validate``, ``POST /workflows/blocks/describe``,
``GET /workflows/definition/schema``, ``GET /healthz``, ``GET /info``.

Every error is JSON ``{message, error_type, context, blocks_errors}``; client mistakes are 4xx.
Inference runs in a worker thread pool with a per-request time limit, so the event loop (and
``/healthz``) keeps answering while a long inference runs.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import depthgraph
from depthgraph.engine.errors import WorkflowError, WorkflowTimeoutError
from depthgraph.malloc_tuning import retain_freed_memory
from depthgraph.malloc_tuning import status as malloc_status
from depthgraph.server.bodies import DescribeRequest, WorkflowRunRequest
from depthgraph.server.cache import WorkflowCache
from depthgraph.server.errors import ServerError, combined_error_body, error_body
from depthgraph.server.inputs import prepare_inputs
from depthgraph.server.limits import BodySizeLimit
from depthgraph.server.settings import ServerSettings

logger = logging.getLogger("depthgraph.server")


def _loaded_models() -> list[Any]:
    """Models the blocks hold in memory, if the model code exposes a registry of them."""
    for module_name in ("depthgraph.blocks.depth_estimation", "depthgraph.models.cache"):
        module = sys.modules.get(module_name)
        getter = getattr(module, "loaded_models", None) if module else None
        if callable(getter):
            try:
                return [
                    {"model_version": m[0], "device": m[1]}
                    if isinstance(m, (tuple, list)) and len(m) == 2 else m
                    for m in getter()
                ]
            except Exception:  # noqa: BLE001 - /info must answer
                return []
    return []


def _device() -> str:
    from depthgraph.blocks.depth_estimation import DEVICE_ENV

    if os.environ.get(DEVICE_ENV):
        return os.environ[DEVICE_ENV]
    torch = sys.modules.get("torch")  # never import torch just to answer /info
    if torch is None:
        return "auto (torch not loaded yet)"
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def refuse_sinks(definition: dict[str, Any], registry: Any = None) -> None:
    """Raise 403 when a step is a "sink" block (it would write files on the server)."""
    from depthgraph.engine.registry import get_registry

    registry = registry or get_registry()
    steps = definition.get("steps")
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        entry = registry.get(str(step.get("type", "")))
        if entry is not None and entry.manifest_class.block_metadata().get("block_type") == "sink":
            raise ServerError(403, f"step '{step.get('name')}' ({entry.identifier}) writes files on "
                              "the server; sink blocks are disabled here (start the server with "
                              "--allow-sinks to enable them)", "SinkBlocksDisabled",
                              f"step '{step.get('name')}'")


def create_app(settings: ServerSettings | None = None, registry: Any = None) -> FastAPI:
    """The FastAPI app serving depthgraph workflows under ``settings``.

    ``registry`` (a :class:`~depthgraph.engine.registry.BlockRegistry`) replaces the process-wide
    block registry, for tests and embedding.
    """
    settings = settings or ServerSettings.from_env()
    pool = ThreadPoolExecutor(max_workers=max(1, settings.inference_workers),
                              thread_name_prefix="depthgraph-infer")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        pool.shutdown(wait=False, cancel_futures=True)  # queued requests are dropped on exit

    app = FastAPI(title="depthgraph", version=depthgraph.__version__, lifespan=lifespan,
                  description="Depth Anything 3 workflows over the Roboflow Workflows HTTP surface.")
    app.state.settings = settings
    app.state.cache = WorkflowCache(settings.workflow_cache_size, registry)
    app.state.pool = pool
    app.state.pending = 0
    app.state.started = time.time()
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)

    # --- auth ------------------------------------------------------------------------------------

    def _header_key(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.headers.get("x-api-key") or request.query_params.get("api_key")

    def _key_matches(given: str | None) -> bool:
        expected = settings.api_key
        return expected is None or (
            given is not None and hmac.compare_digest(given.encode(), expected.encode()))

    async def require_key(request: Request) -> None:
        if settings.api_key is None or _key_matches(_header_key(request)):
            return
        body_key = None
        if request.method == "POST":
            try:
                body = await request.json()
                body_key = body.get("api_key") if isinstance(body, dict) else None
            except Exception:  # noqa: BLE001 - an unreadable body carries no key
                body_key = None
        if not _key_matches(body_key):
            raise ServerError(401, "missing or wrong API key (send it as 'api_key' in the body, "
                              "an 'Authorization: Bearer' header or an 'X-API-Key' header)",
                              "Unauthorized")

    # --- error handlers --------------------------------------------------------------------------

    @app.exception_handler(WorkflowError)
    async def _workflow_error(_: Request, exc: WorkflowError) -> JSONResponse:
        status = int(getattr(exc, "http_status", 400))
        if status >= 500:
            logger.error("workflow error: %s", exc, exc_info=exc)
        return JSONResponse(exc.to_dict(), status_code=status)

    @app.exception_handler(ServerError)
    async def _server_error(_: Request, exc: ServerError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.error_type, exc.context),
                            status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        if settings.api_key is not None and not _key_matches(_header_key(request)):
            return JSONResponse(error_body("missing or wrong API key", "Unauthorized"), 401)
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append({"step": None, "block_type": None, "property": loc,
                             "message": err.get("msg", "invalid")})
        message = "invalid request: " + "; ".join(f"{p['property']}: {p['message']}"
                                                  for p in problems[:5])
        return JSONResponse(error_body(message, "RequestValidationError", "request body",
                                       problems), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
        return JSONResponse(error_body(str(exc.detail), names.get(exc.status_code, "HTTPError")),
                            status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected server error")
        return JSONResponse(error_body(f"internal error: {type(exc).__name__}: {exc}",
                                       "InternalServerError"), status_code=500)

    # --- worker threads --------------------------------------------------------------------------

    async def in_worker(fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the inference pool under the request time limit."""
        if app.state.pending >= settings.inference_workers + settings.max_queued_requests:
            raise ServerError(503, "server busy: too many requests waiting; retry later",
                              "ServerBusy")
        app.state.pending += 1
        try:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(app.state.pool, fn)
            return await asyncio.wait_for(future, timeout=settings.request_timeout_s)
        except asyncio.TimeoutError:
            raise WorkflowTimeoutError(
                f"request took longer than the limit of {settings.request_timeout_s:g} s") from None
        finally:
            app.state.pending -= 1

    # --- endpoints -------------------------------------------------------------------------------

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: answers while inference runs in the worker threads."""
        return {"status": "ok"}

    @app.get("/info", dependencies=[Depends(require_key)])
    async def info() -> dict[str, Any]:
        """Version, device and what the server holds in memory."""
        return {
            "name": "depthgraph",
            "version": depthgraph.__version__,
            "device": _device(),
            "loaded_models": _loaded_models(),
            "cached_workflows": len(app.state.cache),
            "uptime_s": round(time.time() - app.state.started, 3),
            "malloc_tuning": malloc_status(),
            "limits": {
                "max_body_bytes": settings.max_body_bytes,
                "max_image_pixels": settings.max_image_pixels,
                "max_batch_size": settings.max_batch_size,
                "request_timeout_s": settings.request_timeout_s,
                "allow_url_images": settings.allow_url_images,
            },
        }

    @app.get("/workflows/definition/schema", dependencies=[Depends(require_key)])
    async def definition_schema() -> dict[str, Any]:
        """JSON schema of a workflow definition."""
        from depthgraph.engine.describe import definition_schema as schema

        return {"schema": await run_in_threadpool(schema, registry)}

    @app.post("/workflows/blocks/describe", dependencies=[Depends(require_key)])
    async def blocks_describe(_: DescribeRequest | None = None) -> dict[str, Any]:
        """Every block with its inputs, outputs and kinds (for visual editors)."""
        from depthgraph.engine.describe import describe

        return await run_in_threadpool(describe, registry)

    @app.post("/workflows/validate", dependencies=[Depends(require_key)])
    async def validate(body: dict[str, Any]) -> dict[str, Any]:
        """Check a definition (the body itself, or its ``specification``): every error at once."""
        from depthgraph.engine.compiler import validate_definition

        definition = body.get("specification", body)
        if not isinstance(definition, dict):
            raise ServerError(400, "specification: expected a JSON object", "DefinitionParsingError")
        # not in the inference pool: validation imports no model and must not queue behind one
        errors = await run_in_threadpool(validate_definition, definition, registry)
        if not errors:
            return {"status": "ok"}
        body_out = combined_error_body(errors)
        return JSONResponse(body_out, status_code=max(e.http_status for e in errors))

    @app.post("/workflows/run", dependencies=[Depends(require_key)])
    async def run(body: WorkflowRunRequest) -> dict[str, Any]:
        """Compile (cached by hash) and run a workflow; one output dict per batch element."""
        from depthgraph.engine.serialization import serialize_outputs

        if not settings.allow_sinks:
            refuse_sinks(body.specification, registry)

        def work() -> list[dict[str, Any]]:
            workflow = app.state.cache.get_or_compile(body.specification)
            inputs = prepare_inputs(workflow, body.inputs, settings)
            results = workflow.run_inputs(inputs, timeout=settings.request_timeout_s)
            if body.excluded_fields:
                results = [{k: v for k, v in r.items() if k not in body.excluded_fields}
                           for r in results]
            return serialize_outputs(results, include_points=body.include_points)

        return {"outputs": await in_worker(work)}

    return app


def run_server(settings: ServerSettings | None = None, log_level: str = "info") -> None:
    """Serve :func:`create_app` with uvicorn (blocks until stopped)."""
    import uvicorn

    # before any thread starts: the inference threads then reuse freed tensor memory too
    retain_freed_memory(single_arena=True)
    settings = settings or ServerSettings.from_env()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level)
