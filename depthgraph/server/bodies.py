"""Request bodies of the endpoints (pydantic models; they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class WorkflowRunRequest(BaseModel):
    """Body of ``POST /workflows/run`` (the Roboflow shape)."""

    model_config = ConfigDict(extra="allow")

    specification: dict[str, Any] = Field(description="The workflow definition (JSON).")
    inputs: dict[str, Any] = Field(default_factory=dict, description="Runtime inputs by name.")
    api_key: str | None = Field(default=None, description="API key, when the server needs one.")
    excluded_fields: list[str] | None = Field(default=None, description="Outputs to leave out.")
    include_points: bool = Field(default=False, description="Inline point-cloud points.")
    array_format: Optional[Literal["list", "base64", "png16"]] = Field(
        default=None,
        description="How arrays of more than 64 values (depth maps, normalized_depth...) are "
                    "returned: 'list' (nested JSON lists, as Roboflow's server answers them), "
                    "'base64' (little-endian raw values, dtype and shape given; ~4x smaller) or "
                    "'png16' (a 16-bit PNG scaled from min to max, base64). Default: the "
                    "server's (`depthgraph serve --array-format`, 'list' unless set).")

class DescribeRequest(BaseModel):
    """Body of ``POST /workflows/blocks/describe`` (optional; Roboflow fields are ignored)."""

    model_config = ConfigDict(extra="allow")

    api_key: str | None = None


def json_depth(value: Any, stop_at: int = 1_000_000) -> int:
    """How deeply lists/objects nest in ``value`` (a scalar is 0); stops counting at ``stop_at``.

    Iterative, so a hostile value cannot exhaust the stack while being measured.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest >= stop_at:
                return deepest
        stack.extend((child, depth) for child in children)
    return deepest


class BodyValidationError(Exception):
    """A request body that does not match its model (422 naming each property)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid request body")
        self.errors = errors


def count_containers(raw: bytes) -> int:
    """An upper bound on the lists and objects in a JSON text, from its bytes (no parsing)."""
    return raw.count(b"{") + raw.count(b"[")


def parse_json(raw: bytes) -> tuple[Any, str | None]:
    """(value, None) for a JSON text, or (None, why) when it is not one (or nests too deep for
    the parser)."""
    import json

    if not raw.strip():
        return None, "the body is empty; expected a JSON object"
    try:
        return json.loads(raw), None
    except RecursionError:
        return None, "lists/objects nested too deeply"
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"the body is not valid JSON ({' '.join(str(exc).split())[:120]})"
