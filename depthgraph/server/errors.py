"""The JSON shape of every error the server returns, and the HTTP layer's own error."""

from __future__ import annotations

from typing import Any

from depthgraph.engine.errors import WorkflowError


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
