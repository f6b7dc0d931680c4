"""The API key: where a request may carry it and how it is compared.

A key is accepted in the ``Authorization: Bearer`` or ``X-API-Key`` header, the ``api_key`` query
parameter, or an ``"api_key"`` member of the JSON body (Roboflow's clients send it there). The
headers are checked before the body is read; a body is searched for its key in the raw bytes,
never parsed for a client that has not shown the key (see :mod:`depthgraph.server.gate`).
Comparison is in constant time; anything that is not the right string is a wrong key.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any, Iterable

from fastapi import Request

from depthgraph.server.errors import ServerError

#: ``"api_key": "<JSON string>"`` anywhere in a body (nested ones too: they still need the key)
_BODY_KEY = re.compile(rb'"api_key"\s*:\s*("(?:[^"\\]|\\.){0,4096}")')
#: how many ``api_key`` members of one body are tried
_MAX_BODY_KEYS = 8
UNAUTHORIZED = ("missing or wrong API key (send it as 'api_key' in the body, an "
                "'Authorization: Bearer' header or an 'X-API-Key' header)")


def key_matches(expected: str | None, given: Any) -> bool:
    """True when no key is needed or ``given`` is the key (constant-time comparison)."""
    if expected is None:
        return True
    if not isinstance(given, str):  # a number, a list...: simply not the key (401, never 500)
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def header_key(headers: Any, query: Any) -> str | None:
    """The key a request carries outside its body (headers, then the query string)."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key") or query.get("api_key")


def body_keys(body: bytes) -> Iterable[str]:
    """The ``api_key`` strings found in a raw JSON body (a few at most), without parsing it."""
    for count, match in enumerate(_BODY_KEY.finditer(body)):
        if count >= _MAX_BODY_KEYS:
            return
        try:
            value = json.loads(match.group(1))
        except ValueError:
            continue
        if isinstance(value, str):
            yield value


def body_has_key(expected: str | None, body: bytes) -> bool:
    return expected is None or any(key_matches(expected, k) for k in body_keys(body))


async def require_key(request: Request) -> None:
    """Route dependency: the gate must have let this request through with the key.

    The gate (:class:`depthgraph.server.gate.RequestGate`) does the checking before the body is
    read; this dependency makes a route that forgot to be covered fail closed.
    """
    settings = request.app.state.settings
    if settings.api_key is None:
        return
    if not request.scope.get("state", {}).get("depthgraph_authorized"):
        raise ServerError(401, UNAUTHORIZED, "Unauthorized")
