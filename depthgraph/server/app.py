"""The FastAPI app: the Roboflow Workflows HTTP surface.

``create_app(settings)`` builds the app; ``run_server(settings)`` serves it with uvicorn.

Endpoints: ``POST /workflows/run``, ``POST /workflows/validate``, ``POST /workflows/blocks/describe``,
``GET /workflows/definition/schema``, ``GET /healthz``, ``GET /info``.

Every error is JSON ``{message, error_type, context, blocks_errors}``; client mistakes are 4xx.
Inference runs in worker threads (:mod:`depthgraph.server.workers`) with a per-request time limit,
so the event loop (and ``/healthz``) keeps answering while a long inference runs. Sinks write only
under the output root (:mod:`depthgraph.output_root`). See ``docs/security.md``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import sys
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import depthgraph
from depthgraph.engine.errors import WorkflowError, WorkflowTimeoutError
from depthgraph.malloc_tuning import retain_freed_memory
from depthgraph.malloc_tuning import status as malloc_status
from depthgraph.output_root import writing_under
from depthgraph.server.bodies import DescribeRequest, WorkflowRunRequest, json_depth
from depthgraph.server.cache import WorkflowCache
from depthgraph.server.editor import router as editor_router
from depthgraph.server.errors import ServerError, combined_error_body, error_body
from depthgraph.server.inputs import prepare_inputs
from depthgraph.server.limits import BodySizeLimit
from depthgraph.server.settings import ServerSettings
from depthgraph.server.workers import InferenceSlots, RequestExpired, SlotsFull

logger = logging.getLogger("depthgraph.server")


def _loaded_models() -> list[dict[str, str]]:
    """The DA3 models held in memory (the model layer's cache; importing it loads no torch)."""
    from depthgraph.models.loading import loaded_models

    return [{"model_version": version, "device": device} for version, device in loaded_models()]


def _backend() -> str:
    from depthgraph.models.loading import current_backend

    try:
        return current_backend()
    except ValueError as exc:  # a bad $DEPTHGRAPH_BACKEND: say so rather than fail /info
        return f"invalid ({exc})"


def _device() -> str:
    from depthgraph.models.loading import DEVICE_ENV

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
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:  # opt-in: lets hosted editors (other origins) call this server
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["*"])
    app.include_router(editor_router)  # the visual editor: /, /editor, /editor/static, examples

    # --- auth ------------------------------------------------------------------------------------

    def _header_key(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.headers.get("x-api-key") or request.query_params.get("api_key")

    def _key_matches(given: Any) -> bool:
        expected = settings.api_key
        if expected is None:
            return True
        if not isinstance(given, str):  # a number, a list...: simply not the key (401, never 500)
            return False
        return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))

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

    docs_paths = {p for p in (app.docs_url, app.redoc_url, app.openapi_url,
                              getattr(app, "swagger_ui_oauth2_redirect_url", None)) if p}

    @app.middleware("http")
    async def _docs_need_key(request: Request, call_next: Callable) -> Any:
        """With a key set, /docs, /redoc and /openapi.json need it too (unless public_docs)."""
        if (settings.api_key is not None and not settings.public_docs
                and request.url.path in docs_paths and not _key_matches(_header_key(request))):
            return JSONResponse(error_body("missing or wrong API key (the API description needs "
                                           "it too; start the server with --public-docs to "
                                           "serve it openly)", "Unauthorized"), 401)
        return await call_next(request)

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

    async def in_worker(fn: Callable[[float], Any]) -> Any:
        """Run ``fn(seconds_left)`` in an inference slot under the request time limit.

        On timeout the client gets 504 at once; the work stops at its next step boundary and
        keeps its slot until then (see :mod:`depthgraph.server.workers`).
        """
        try:
            return await slots.run(fn, settings.request_timeout_s)
        except SlotsFull:
            raise ServerError(503, "server busy: too many requests running or waiting; retry "
                              "later", "ServerBusy") from None
        except (asyncio.TimeoutError, RequestExpired):
            raise WorkflowTimeoutError(
                f"request took longer than the limit of {settings.request_timeout_s:g} s; its "
                "work stops at the next step") from None

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
            "backend": _backend(),
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
                "max_total_pixels": settings.max_total_pixels,
                "max_response_bytes": settings.max_response_bytes,
                "max_input_depth": settings.max_input_depth,
                "max_workflow_steps": settings.max_workflow_steps,
                "allow_sinks": settings.allow_sinks,
            },
            "workers": slots.snapshot(),
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

        check_depth(body, "request body")
        definition = body.get("specification", body)
        check_size(definition)
        if not isinstance(definition, dict):
            raise ServerError(400, "specification: expected a JSON object", "DefinitionParsingError")
        # not in the inference pool: validation imports no model and must not queue behind one
        errors = await run_in_threadpool(validate_definition, definition, registry)
        if not errors:
            return {"status": "ok"}
        body_out = combined_error_body(errors)
        return JSONResponse(body_out, status_code=max(e.http_status for e in errors))

    def check_depth(value: Any, where: str) -> None:
        depth = json_depth(value, settings.max_input_depth + 1)
        if depth > settings.max_input_depth:
            raise ServerError(400, f"{where}: lists/objects nested more than "
                              f"{settings.max_input_depth} deep", "InputTooDeep", where)

    def check_size(definition: Any) -> None:
        """A definition with more steps than the limit is refused before compiling (compiling
        costs time in proportion; 32 MiB of JSON could hold hundreds of thousands of steps)."""
        parts = definition.get("steps") if isinstance(definition, dict) else None
        count = len(parts) if isinstance(parts, list) else 0
        if count > settings.max_workflow_steps:
            raise ServerError(413, f"specification: {count} steps, more than the limit of "
                              f"{settings.max_workflow_steps}", "WorkflowTooLarge",
                              "specification.steps")

    @app.post("/workflows/run", dependencies=[Depends(require_key)])
    async def run(body: WorkflowRunRequest) -> Response:
        """Compile (cached by hash) and run a workflow; one output dict per batch element."""
        from depthgraph.engine.serialization import ResponseBudget, serialize_outputs

        check_depth(body.specification, "specification")
        check_depth(body.inputs, "inputs")
        check_size(body.specification)
        if not settings.allow_sinks:
            refuse_sinks(body.specification, registry)

        def work(seconds_left: float) -> bytes:
            workflow = app.state.cache.get_or_compile(body.specification)
            inputs = prepare_inputs(workflow, body.inputs, settings)
            with writing_under(settings.output_root if settings.allow_sinks else None):
                results = workflow.run_inputs(inputs, timeout=seconds_left)
            if body.excluded_fields:
                results = [{k: v for k, v in r.items() if k not in body.excluded_fields}
                           for r in results]
            budget = ResponseBudget(settings.max_response_bytes)
            outputs = serialize_outputs(results, include_points=body.include_points,
                                        array_format=body.array_format, budget=budget)
            del results, inputs
            data = json.dumps({"outputs": outputs}, allow_nan=False, separators=(",", ":"))
            budget.check_final(len(data))
            return data.encode("utf-8")

        return Response(await in_worker(work), media_type="application/json")

    return app


def run_server(settings: ServerSettings | None = None, log_level: str = "info") -> None:
    """Serve :func:`create_app` with uvicorn (blocks until stopped)."""
    import uvicorn

    # before any thread starts: the inference threads then reuse freed tensor memory too
    retain_freed_memory(single_arena=True)
    settings = settings or ServerSettings.from_env()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level)
