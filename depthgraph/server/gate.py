"""What every request passes before an endpoint sees it (ASGI middleware).

In order, spending as little as possible on a request that will be refused:

1. the ``Host`` header must be one the server serves (``allowed_hosts``; ``depthgraph serve``
   answers only the loopback names when bound to loopback), so a web page cannot reach a local
   server through DNS rebinding: 421 otherwise;
2. ``HEAD`` is answered as ``GET`` without the body;
3. with an API key set, every path but ``/healthz``, the editor's page, static files and examples
   (public assets holding nothing secret) and, with ``public_docs``, the API description, needs
   the key: a key in the headers or query is checked before the body is read; otherwise the body
   is read (at most ``max_body_bytes``) and searched for its ``"api_key"`` without parsing;
4. every answer carries anti-framing headers (``X-Frame-Options: DENY``,
   ``Content-Security-Policy: frame-ancestors 'none'``) and ``X-Content-Type-Options: nosniff``.

The arrival time is kept in ``scope["state"]["depthgraph_arrived"]``: a request's time limit
counts from it, parsing included.
"""

from __future__ import annotations

import time
from typing import Any, Callable
from urllib.parse import parse_qs

from fastapi.responses import JSONResponse

from depthgraph.server.auth import UNAUTHORIZED, body_has_key, header_key, key_matches
from depthgraph.server.errors import error_body
from depthgraph.server.settings import ServerSettings

SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
]
PUBLIC_PATHS = ("/healthz", "/", "/editor")
PUBLIC_PREFIXES = ("/editor/",)


def host_name(value: str) -> str:
    """The name part of a Host header (``[::1]:9001`` -> ``::1``, ``a.b:80`` -> ``a.b``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class _Headers:
    def __init__(self, scope: dict) -> None:
        self._items = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope.get("headers", [])}

    def get(self, name: str, default: Any = None) -> Any:
        return self._items.get(name, default)


class _Query:
    def __init__(self, scope: dict) -> None:
        self._items = parse_qs(scope.get("query_string", b"").decode("latin-1"))

    def get(self, name: str, default: Any = None) -> Any:
        values = self._items.get(name)
        return values[0] if values else default


class RequestGate:
    """ASGI middleware doing the checks of the module docstring."""

    def __init__(self, app: Callable, settings: ServerSettings, docs_paths: set[str]) -> None:
        self.app = app
        self.settings = settings
        self.docs_paths = docs_paths
        hosts = settings.allowed_hosts
        self.hosts = None if hosts is None else {host_name(h) for h in hosts}

    def _public(self, path: str) -> bool:
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return True
        return self.settings.public_docs and path in self.docs_paths

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["depthgraph_arrived"] = time.monotonic()

        async def send_secured(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        headers = _Headers(scope)
        if self.hosts is not None and host_name(headers.get("host", "")) not in self.hosts:
            await self._refuse(scope, receive, send_secured, 421, "this server does not answer "
                               "for that Host (start it with --allowed-host NAME)", "MisdirectedRequest")
            return
        head = scope.get("method") == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
            inner_send = send_secured

            async def send_secured(message: dict) -> None:  # noqa: F811 - HEAD: headers only
                if message["type"] == "http.response.body":
                    message = {**message, "body": b""}
                await inner_send(message)

        key = self.settings.api_key
        # a CORS preflight carries no key by design; it reaches no endpoint (the CORS middleware,
        # when configured, answers it, else 405)
        if key is None or self._public(scope.get("path", "")) or scope.get("method") == "OPTIONS":
            state["depthgraph_authorized"] = scope.get("method") != "OPTIONS" or key is None
            await self.app(scope, receive, send_secured)
            return
        given = header_key(headers, _Query(scope))
        if given is not None or scope.get("method") != "POST":
            if not key_matches(key, given):  # refused before a byte of the body is read
                await self._refuse(scope, receive, send_secured, 401, UNAUTHORIZED, "Unauthorized")
                return
            state["depthgraph_authorized"] = True
            await self.app(scope, receive, send_secured)
            return
        body = await self._read_body(receive)
        if body is None:
            await self._refuse(scope, receive, send_secured, 413, "request body larger than the "
                               f"limit of {self.settings.max_body_bytes} bytes", "PayloadTooLarge")
            return
        if not body_has_key(key, body):
            await self._refuse(scope, receive, send_secured, 401, UNAUTHORIZED, "Unauthorized")
            return
        state["depthgraph_authorized"] = True
        await self.app(scope, _replay(body, receive), send_secured)

    async def _read_body(self, receive: Callable) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.settings.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _refuse(scope: dict, receive: Callable, send: Callable, status: int, message: str,
                      error_type: str) -> None:
        response = JSONResponse(error_body(message, error_type), status_code=status)
        await response(scope, receive, send)


def _replay(body: bytes, receive: Callable) -> Callable:
    """A receive that gives the body already read, then waits on the connection as before."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
