"""Shared helpers of the Roboflow plugin tests (tests/roboflow/)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

SKIP_REASON = (
    "Roboflow's Workflows engine (roboflow-workflows) is not installed in this venv; these tests "
    "run in .venv-roboflow (bash .ci/roboflow-env), driven by tests/test_roboflow_plugin.py"
)


def require_roboflow() -> None:
    """Skip the calling module unless Roboflow's engine imports."""
    pytest.importorskip("roboflow_workflows", reason=SKIP_REASON)


REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / "examples" / "workflows"
MIXED_DEPTHGRAPH = WORKFLOWS / "roboflow_mixed.json"
MIXED_ROBOFLOW = REPO_ROOT / "examples" / "roboflow" / "roboflow_mixed.json"


def load_definition(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def with_step_property(definition: dict[str, Any], step: str, prop: str, value: Any) -> dict[str, Any]:
    """A copy of ``definition`` with one step property set."""
    changed = copy.deepcopy(definition)
    for item in changed["steps"]:
        if item["name"] == step:
            item[prop] = value
            return changed
    raise KeyError(step)


def roboflow_engine(definition: dict[str, Any]) -> Any:
    """Roboflow's ExecutionEngine compiled for ``definition`` (local step execution)."""
    from roboflow_workflows.execution_engine.core import ExecutionEngine

    return ExecutionEngine.init(workflow_definition=definition, init_parameters={})
