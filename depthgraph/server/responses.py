"""The body of a ``/workflows/run`` answer: JSON within the response budget.

Arrays come back as the request's ``array_format``, else the server's (``list`` by default:
nested JSON lists, which is what Roboflow's server answers and what code written against
``inference-sdk`` reads with ``np.asarray``). A result too large for the budget is refused with
413 before it is built; when the default lists are what made it too large, the 413 names the
compact ``array_format`` with which the same result fits.
"""

from __future__ import annotations

import json
from typing import Any

from depthgraph.engine.errors import ResponseTooLargeError
from depthgraph.engine.serialization import ResponseBudget, serialize_outputs

#: compact formats tried, smallest first for depth maps, when lists do not fit
COMPACT_FORMATS = ("base64", "png16")


def _encode(results: list[dict[str, Any]], include_points: bool, array_format: str,
            limit: int) -> bytes:
    budget = ResponseBudget(limit)
    outputs = serialize_outputs(results, include_points=include_points,
                                array_format=array_format, budget=budget)
    data = json.dumps({"outputs": outputs}, allow_nan=False, separators=(",", ":"))
    budget.check_final(len(data))
    return data.encode("utf-8")


def response_body(results: list[dict[str, Any]], *, include_points: bool, array_format: str,
                  limit: int) -> bytes:
    """``{"outputs": [...]}`` as UTF-8 JSON of at most ``limit`` bytes, or a 413 that says what fits."""
    try:
        return _encode(results, include_points, array_format, limit)
    except ResponseTooLargeError as error:
        if array_format != "list":
            raise
        too_large = error
    for compact in COMPACT_FORMATS:
        try:
            size = len(_encode(results, include_points, compact, limit))
        except ResponseTooLargeError:
            continue
        raise ResponseTooLargeError(
            f"{too_large.raw_message}. With \"array_format\": \"{compact}\" in the request (or "
            f"`depthgraph serve --array-format {compact}`) this response is {size} bytes and fits",
            context="response") from None
    raise too_large
