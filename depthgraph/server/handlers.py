"""How errors become answers: JSON ``{message, error_type, context, blocks_errors}``.

Client mistakes are 4xx; a 500 says only the exception's type (the details, which may hold
paths of the server, go to the log).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from depthgraph.engine.errors import WorkflowError
from depthgraph.server.bodies import BodyValidationError
from depthgraph.server.errors import ServerError, error_body

logger = logging.getLogger("depthgraph.server")


def validation_error_response(errors: list[dict], where: str = "request body") -> JSONResponse:
    """422 naming each property a request body got wrong."""
    problems = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append({"step": None, "block_type": None, "property": loc,
                         "message": err.get("msg", "invalid")})
    message = "invalid request: " + "; ".join(f"{p['property']}: {p['message']}"
                                              for p in problems[:5])
    return JSONResponse(error_body(message, "RequestValidationError", where, problems),
                        status_code=422)


#: an absolute path of two or more parts (``/srv/app/x.py``, ``/home/u/.cache``)
_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.\-~]+/)+[\w.\-~]*")


def without_paths(value: Any) -> Any:
    """``value`` (an error body) with absolute paths of the server replaced by ``<path>``."""
    if isinstance(value, str):
        return _PATH.sub("<path>", value)
    if isinstance(value, list):
        return [without_paths(v) for v in value]
    if isinstance(value, dict):
        return {k: without_paths(v) for k, v in value.items()}
    return value


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the JSON error shape."""

    @app.exception_handler(WorkflowError)
    async def _workflow_error(_: Request, exc: WorkflowError) -> JSONResponse:
        status = int(getattr(exc, "http_status", 400))
        body = exc.to_dict()
        if status >= 500:  # a block's failure may quote files of the server: the log keeps them
            logger.error("workflow error: %s", exc, exc_info=exc)
            body = without_paths(body)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(ServerError)
    async def _server_error(_: Request, exc: ServerError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.error_type, exc.context),
                            status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(list(exc.errors()))

    @app.exception_handler(BodyValidationError)
    async def _body_model_error(_: Request, exc: BodyValidationError) -> JSONResponse:
        return validation_error_response(exc.errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
        return JSONResponse(error_body(str(exc.detail), names.get(exc.status_code, "HTTPError")),
                            status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected server error")  # the details (paths...) stay in the log
        return JSONResponse(error_body(f"internal error ({type(exc).__name__}); the server's log "
                                       "has the details", "InternalServerError"), status_code=500)
