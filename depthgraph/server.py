"""The HTTP server: the Roboflow Workflows HTTP surface on FastAPI.

``create_app(settings)`` builds the app; ``run_server(settings)`` serves it with uvicorn.

Endpoints: ``POST /workflows/run``, ``POST /workflows/validate``, ``POST /workflows/blocks/describe``,
``GET /workflows/definition/schema``, ``GET /healthz``, ``GET /info``.

Every error is JSON ``{message, error_type, context, blocks_errors}``; client mistakes are 4xx.
Inference runs in a worker thread pool with a per-request time limit, so the event loop (and
``/healthz``) keeps answering while a long inference runs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import depthgraph
from depthgraph.engine.errors import RuntimeInputError, WorkflowError, WorkflowTimeoutError
from depthgraph.engine.values import WorkflowImageData
from depthgraph.image_files import ImageReadError, decode_image_bytes
from depthgraph.malloc_tuning import retain_freed_memory
from depthgraph.malloc_tuning import status as malloc_status

logger = logging.getLogger("depthgraph.server")

API_KEY_ENV = "DEPTHGRAPH_API_KEY"


def _env_number(name: str, default: Any, cast: Callable[[str], Any]) -> Any:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return cast(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r}: expected a "
                         f"{cast.__name__}") from None


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int)


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ServerSettings:
    """Server configuration. :meth:`from_env` reads ``DEPTHGRAPH_*`` environment variables."""

    host: str = "127.0.0.1"
    port: int = 9001
    #: requests without this key get 401 (None: no key needed)
    api_key: str | None = None
    #: largest request body, bytes (checked on Content-Length and on the bytes actually received)
    max_body_bytes: int = 32 * 1024 * 1024
    #: largest image, width x height, checked from the header before decoding
    max_image_pixels: int = 40_000_000
    #: most images in one request (over all image inputs)
    max_batch_size: int = 16
    #: seconds one request may spend compiling and running its workflow
    request_timeout_s: float = 120.0
    #: threads running workflows (more threads share the CPU/GPU; 1 serialises inference)
    inference_workers: int = 1
    #: requests waiting for a worker beyond this number are refused with 503
    max_queued_requests: int = 16
    #: compiled workflows kept, keyed by the definition's hash
    workflow_cache_size: int = 32
    #: allow images given as {"type": "url"} (fetched by the server)
    allow_url_images: bool = False
    #: timeout of one URL image fetch, seconds
    url_fetch_timeout_s: float = 10.0
    #: allow blocks of type "sink" (they write files on the server)
    allow_sinks: bool = False

    @classmethod
    def from_env(cls, **overrides: Any) -> "ServerSettings":
        """Settings from ``DEPTHGRAPH_API_KEY`` and ``DEPTHGRAPH_SERVER_*`` variables, then overrides."""
        base = cls(
            api_key=os.environ.get(API_KEY_ENV) or None,
            max_body_bytes=_env_int("DEPTHGRAPH_SERVER_MAX_BODY_BYTES", cls.max_body_bytes),
            max_image_pixels=_env_int("DEPTHGRAPH_SERVER_MAX_IMAGE_PIXELS", cls.max_image_pixels),
            max_batch_size=_env_int("DEPTHGRAPH_SERVER_MAX_BATCH_SIZE", cls.max_batch_size),
            request_timeout_s=_env_float("DEPTHGRAPH_SERVER_REQUEST_TIMEOUT_S", cls.request_timeout_s),
            inference_workers=_env_int("DEPTHGRAPH_SERVER_WORKERS", cls.inference_workers),
            max_queued_requests=_env_int("DEPTHGRAPH_SERVER_MAX_QUEUED", cls.max_queued_requests),
            workflow_cache_size=_env_int("DEPTHGRAPH_SERVER_CACHE_SIZE", cls.workflow_cache_size),
            allow_url_images=_env_bool("DEPTHGRAPH_SERVER_ALLOW_URL_IMAGES", cls.allow_url_images),
            allow_sinks=_env_bool("DEPTHGRAPH_SERVER_ALLOW_SINKS", cls.allow_sinks),
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


# --- errors --------------------------------------------------------------------------------------


def error_body(message: str, error_type: str, context: str | None = None,
               blocks_errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON shape of every error the server returns."""
    return {"message": message, "error_type": error_type, "context": context,
            "blocks_errors": blocks_errors or []}


def combined_error_body(errors: list[WorkflowError]) -> dict[str, Any]:
    """One error body for several workflow errors: every message, every block error."""
    if len(errors) == 1:
        return errors[0].to_dict()
    dicts = [e.to_dict() for e in errors]
    message = f"{len(errors)} errors: " + "; ".join(d["message"] for d in dicts)
    blocks = [b for d in dicts for b in d["blocks_errors"]]
    types = {d["error_type"] for d in dicts}
    return error_body(message, types.pop() if len(types) == 1 else "WorkflowCompilationError",
                      "workflow definition", blocks)


class ServerError(Exception):
    """A client or server problem found by the HTTP layer itself (not by the engine)."""

    def __init__(self, status: int, message: str, error_type: str, context: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.context = context


class PayloadTooLarge(StarletteHTTPException):
    """Raised from inside the body stream when it grows past the limit (FastAPI re-raises it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than the limit of {limit} bytes")


class BodySizeLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes, by header and by bytes received."""

    def __init__(self, app: Callable, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit or declared < 0:
                    message = (f"request body larger than the limit of {self.limit} bytes"
                               if declared > self.limit else "invalid Content-Length header")
                    status = 413 if declared > self.limit else 400
                    response = JSONResponse(error_body(message, "PayloadTooLarge" if status == 413
                                                       else "BadRequest"), status_code=status)
                    await response(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise PayloadTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)


# --- request bodies ------------------------------------------------------------------------------


class WorkflowRunRequest(BaseModel):
    """Body of ``POST /workflows/run`` (the Roboflow shape)."""

    model_config = ConfigDict(extra="allow")

    specification: dict[str, Any] = Field(description="The workflow definition (JSON).")
    inputs: dict[str, Any] = Field(default_factory=dict, description="Runtime inputs by name.")
    api_key: str | None = Field(default=None, description="API key, when the server needs one.")
    excluded_fields: list[str] | None = Field(default=None, description="Outputs to leave out.")
    include_points: bool = Field(default=False, description="Inline point-cloud points.")


class DescribeRequest(BaseModel):
    """Body of ``POST /workflows/blocks/describe`` (optional; Roboflow fields are ignored)."""

    model_config = ConfigDict(extra="allow")

    api_key: str | None = None


# --- compiled workflow cache ---------------------------------------------------------------------


def definition_hash(definition: dict[str, Any]) -> str:
    """SHA-256 of a definition's canonical JSON (keys sorted): equal definitions, equal hash."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class WorkflowCache:
    """A bounded LRU of compiled workflows keyed by definition hash (thread-safe)."""

    def __init__(self, size: int, registry: Any = None) -> None:
        self.size = max(0, size)
        self.registry = registry
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compile(self, definition: dict[str, Any]) -> Any:
        from depthgraph.engine.workflow import Workflow

        key = definition_hash(definition)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        workflow = Workflow.from_definition(definition, self.registry)
        with self._lock:
            self._items[key] = workflow
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return workflow

    def __len__(self) -> int:
        return len(self._items)


# --- image inputs --------------------------------------------------------------------------------


def _image_bytes(value: Any, where: str, settings: ServerSettings) -> bytes:
    """The encoded bytes of one image input value (base64 dict, bare base64 string or URL)."""
    kind = "base64"
    if isinstance(value, dict):
        kind = str(value.get("type", "base64")).lower()
        if "value" not in value:
            raise RuntimeInputError(f"{where}: image object has no 'value'", property=where)
        value = value["value"]
    if not isinstance(value, str):
        raise RuntimeInputError(
            f"{where}: expected an image as {{'type': 'base64', 'value': ...}} or a base64 string, "
            f"got {type(value).__name__}", property=where)
    if kind == "url" or (kind == "base64" and value.startswith(("http://", "https://"))):
        return _fetch_url(value, where, settings)
    if kind != "base64":
        raise RuntimeInputError(f"{where}: image type '{kind}' is not supported (use 'base64')",
                                property=where)
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RuntimeInputError(f"{where}: image value is not valid base64", property=where) from None


def _fetch_url(url: str, where: str, settings: ServerSettings) -> bytes:
    if not settings.allow_url_images:
        raise ServerError(403, f"{where}: URL images are disabled on this server; send the image "
                          "as base64 (or start the server with --allow-url-images)",
                          "URLImagesDisabled")
    import httpx

    try:
        with httpx.stream("GET", url, timeout=settings.url_fetch_timeout_s,
                          follow_redirects=True) as response:
            response.raise_for_status()
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > settings.max_body_bytes:
                    raise RuntimeInputError(f"{where}: image at {url} is larger than "
                                            f"{settings.max_body_bytes} bytes", property=where)
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise RuntimeInputError(f"{where}: could not fetch {url} ({type(exc).__name__}: {exc})",
                                property=where) from None


def _decode_one(value: Any, where: str, settings: ServerSettings) -> WorkflowImageData:
    data = _image_bytes(value, where, settings)
    try:
        array = decode_image_bytes(data, where, max_pixels=settings.max_image_pixels)
    except ImageReadError as exc:
        status = 413 if "more than the limit" in str(exc) else 400
        raise ServerError(status, str(exc), "ImageTooLarge" if status == 413 else "InvalidImage",
                          where) from None
    return WorkflowImageData(numpy_image=array)


def prepare_inputs(workflow: Any, inputs: dict[str, Any], settings: ServerSettings) -> dict[str, Any]:
    """Decode the image inputs (with the size limits) and check the batch size."""
    prepared = dict(inputs)
    total = 0
    for name in getattr(workflow, "image_input_names", []):
        if name not in inputs:
            continue
        value = inputs[name]
        if isinstance(value, list):
            total += len(value)
            if total > settings.max_batch_size:
                raise ServerError(413, f"inputs: {total} images or more, more than the batch limit "
                                  f"of {settings.max_batch_size}", "BatchTooLarge", name)
            prepared[name] = [_decode_one(v, f"inputs.{name}[{i}]", settings)
                              for i, v in enumerate(value)]
        else:
            total += 1
            prepared[name] = _decode_one(value, f"inputs.{name}", settings)
    return prepared


# --- the app -------------------------------------------------------------------------------------


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
