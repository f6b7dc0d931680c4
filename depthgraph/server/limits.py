"""Request-size limits applied before a body reaches an endpoint (ASGI middleware)."""

from __future__ import annotations

from typing import Callable

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from depthgraph.server.errors import error_body


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
