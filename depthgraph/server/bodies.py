"""Request bodies of the endpoints (pydantic models; they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
