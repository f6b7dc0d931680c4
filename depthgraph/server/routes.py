"""The workflow endpoints: run, validate, describe, the definition schema, /info and /healthz.

Bodies of ``/workflows/run`` and ``/workflows/validate`` are kept as bytes until a thread parses
them (never on the event loop): a queued request holds its body and nothing more, and the parse
counts against the request's time. Before parsing, the lists and objects are counted on the bytes
(``max_json_elements``); after, the nesting depth, the steps, inputs, outputs and excluded fields
are bounded (see ``docs/security.md``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

import depthgraph
from depthgraph.engine.errors import WorkflowTimeoutError
from depthgraph.malloc_tuning import status as malloc_status
from depthgraph.output_root import writing_under
from depthgraph.server import model_status
from depthgraph.server.auth import require_key
from depthgraph.server.bodies import (BodyValidationError, DescribeRequest, WorkflowRunRequest,
                                      count_containers, json_depth, parse_json)
from depthgraph.server.errors import ServerError, combined_error_body
from depthgraph.server.inputs import check_image_inputs
from depthgraph.server.progress import step_reporter
from depthgraph.server.settings import ServerSettings
from depthgraph.server.workers import InferenceSlots, RequestExpired, SlotsFull


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


def _body_schema(model: Any) -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that parses its body itself."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


class Limits:
    """The request-shape checks of one server (steps, depth, inputs, outputs, fields)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    def elements(self, raw: bytes) -> None:
        count = count_containers(raw)
        if count > self.settings.max_json_elements:
            raise ServerError(413, f"request body: about {count} lists/objects, more than the "
                              f"limit of {self.settings.max_json_elements}", "TooManyElements",
                              "request body")

    def depth(self, value: Any, where: str) -> None:
        limit = self.settings.max_input_depth
        if json_depth(value, limit + 1) > limit:
            raise ServerError(400, f"{where}: lists/objects nested more than {limit} deep",
                              "InputTooDeep", where)

    def definition(self, definition: Any) -> None:
        """Steps and outputs are counted before compiling (compiling costs time in proportion)."""
        if not isinstance(definition, dict):
            return
        for part, limit, error in (("steps", self.settings.max_workflow_steps, "WorkflowTooLarge"),
                                   ("outputs", self.settings.max_outputs, "TooManyOutputs")):
            items = definition.get(part)
            count = len(items) if isinstance(items, list) else 0
            if count > limit:
                raise ServerError(413, f"specification: {count} {part}, more than the limit of "
                                  f"{limit}", error, f"specification.{part}")

    def parse(self, raw: bytes, where: str = "request body") -> Any:
        value, problem = parse_json(raw)
        if problem is not None:
            status, kind = (400, "InputTooDeep") if "deep" in problem else (422, "InvalidJSON")
            raise ServerError(status, f"{where}: {problem}", kind, where)
        return value

    def run_body(self, raw: bytes) -> WorkflowRunRequest:
        value = self.parse(raw)
        if not isinstance(value, dict):
            raise BodyValidationError([{"loc": ("body",), "msg": "expected a JSON object"}])
        try:
            body = WorkflowRunRequest.model_validate(value)
        except ValidationError as exc:
            raise BodyValidationError(list(exc.errors())) from None
        settings = self.settings
        self.depth(body.specification, "specification")
        self.depth(body.inputs, "inputs")
        self.definition(body.specification)
        if len(body.inputs) > settings.max_inputs:
            raise ServerError(413, f"inputs: {len(body.inputs)} inputs, more than the limit of "
                              f"{settings.max_inputs}", "TooManyInputs", "inputs")
        excluded = body.excluded_fields or []
        if len(excluded) > settings.max_excluded_fields:
            raise ServerError(413, f"excluded_fields: {len(excluded)} names, more than the limit "
                              f"of {settings.max_excluded_fields}", "TooManyExcludedFields",
                              "excluded_fields")
        return body


def workflow_router(settings: ServerSettings, slots: InferenceSlots, registry: Any,
                    state: Any) -> APIRouter:
    """The endpoints, bound to one server's settings, worker slots, registry and app state."""
    router = APIRouter()
    limits = Limits(settings)

    async def in_worker(fn: Callable[[float], Any], request: Request) -> Any:
        """Run ``fn(seconds_left)`` in an inference slot; the time counts from arrival.

        On timeout the client gets 504 at once; the work stops at its next step boundary and
        keeps its slot until then (see :mod:`depthgraph.server.workers`).
        """
        arrived = request.scope.get("state", {}).get("depthgraph_arrived", time.monotonic())
        left = settings.request_timeout_s - (time.monotonic() - arrived)
        try:
            if left <= 0:
                raise RequestExpired()
            return await slots.run(fn, left)
        except SlotsFull:
            raise ServerError(503, "server busy: too many requests running or waiting; retry "
                              "later", "ServerBusy") from None
        except (asyncio.TimeoutError, RequestExpired):
            raise WorkflowTimeoutError(
                f"request took longer than the limit of {settings.request_timeout_s:g} s; its "
                "work stops at the next step") from None

    @router.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: answers while inference runs in the worker threads."""
        return {"status": "ok"}

    @router.get("/info", dependencies=[Depends(require_key)])
    async def info() -> dict[str, Any]:
        """Version, device and what the server holds in memory."""
        return {
            "name": "depthgraph",
            "version": depthgraph.__version__,
            "device": model_status.device(),
            "backend": model_status.backend(),
            "loaded_models": model_status.loaded_models(),
            "cached_workflows": len(state.cache),
            "uptime_s": round(time.time() - state.started, 3),
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
                "max_json_elements": settings.max_json_elements,
                "max_inputs": settings.max_inputs,
                "max_outputs": settings.max_outputs,
                "max_excluded_fields": settings.max_excluded_fields,
                "allow_sinks": settings.allow_sinks,
            },
            "workers": slots.snapshot(),
        }

    @router.get("/workflows/definition/schema", dependencies=[Depends(require_key)])
    async def definition_schema() -> dict[str, Any]:
        """JSON schema of a workflow definition."""
        from depthgraph.engine.describe import definition_schema as schema

        return {"schema": await run_in_threadpool(schema, registry)}

    @router.post("/workflows/blocks/describe", dependencies=[Depends(require_key)])
    async def blocks_describe(_: DescribeRequest | None = None) -> dict[str, Any]:
        """Every block with its inputs, outputs and kinds (for visual editors)."""
        from depthgraph.engine.describe import describe

        return await run_in_threadpool(describe, registry)

    @router.post("/workflows/validate", dependencies=[Depends(require_key)],
                 openapi_extra=_body_schema(WorkflowRunRequest))
    async def validate(request: Request) -> Any:
        """Check a definition (the body itself, or its ``specification``): every error at once."""
        from depthgraph.engine.compiler import validate_definition

        raw = await request.body()
        limits.elements(raw)

        def check() -> list[Any]:
            body = limits.parse(raw)
            limits.depth(body, "request body")
            definition = body.get("specification", body) if isinstance(body, dict) else body
            if not isinstance(definition, dict):
                raise ServerError(400, "specification: expected a JSON object",
                                  "DefinitionParsingError")
            limits.definition(definition)
            return validate_definition(definition, registry)

        # not in the inference pool: validation imports no model and must not queue behind one
        errors = await run_in_threadpool(check)
        if not errors:
            return {"status": "ok"}
        return JSONResponse(combined_error_body(errors),
                            status_code=max(e.http_status for e in errors))

    @router.post("/workflows/run", dependencies=[Depends(require_key)],
                 openapi_extra=_body_schema(WorkflowRunRequest))
    async def run(request: Request, on_step: Any = Depends(step_reporter)) -> Response:
        """Compile (cached by hash) and run a workflow; one output dict per batch element."""
        from depthgraph.server.responses import response_body

        raw = await request.body()
        limits.elements(raw)

        def work(seconds_left: float) -> bytes:
            deadline = time.monotonic() + seconds_left
            body = limits.run_body(raw)  # parsed here: counted against the time limit
            if not settings.allow_sinks:
                refuse_sinks(body.specification, registry)
            workflow = state.cache.get_or_compile(body.specification)
            inputs = check_image_inputs(workflow, body.inputs, settings)  # decoded by the engine
            with writing_under(settings.output_root if settings.allow_sinks else None):
                results = workflow.run_inputs(inputs, timeout=max(0.0, deadline - time.monotonic()),
                                              on_step=on_step)
            if body.excluded_fields:
                excluded = set(body.excluded_fields)
                results = [{k: v for k, v in r.items() if k not in excluded} for r in results]
            if time.monotonic() > deadline:
                raise WorkflowTimeoutError("the request's time ran out before its answer was built")
            del inputs
            # the request's array format, else the server's (lists: Roboflow's wire format)
            return response_body(results, include_points=body.include_points,
                                 array_format=body.array_format or settings.array_format,
                                 limit=settings.max_response_bytes)

        return Response(await in_worker(work, request), media_type="application/json")

    return router
