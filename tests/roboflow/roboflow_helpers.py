"""Shared helpers of the Roboflow plugin tests (tests/roboflow/)."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

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


@contextmanager
def http_process(command: list[str], health_path: str, env: dict[str, str], cwd: Path,
                 port: int, timeout: float = 240.0) -> Iterator[str]:
    """A server process on 127.0.0.1:``port``: yields its base URL once ``health_path`` answers
    200. Output goes to a file (shown when it dies before answering); stopped with SIGINT, then
    killed by its own id if need be."""
    import httpx

    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{command[:4]} exited with {process.returncode}:\n"
                                       f"{log.read()[-4000:]}")
                try:
                    if httpx.get(base + health_path, timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    log.seek(0)
                    raise TimeoutError(f"{base}{health_path} did not answer within {timeout} s:\n"
                                       f"{log.read()[-4000:]}")
                time.sleep(0.5)
            yield base
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def offline_env(weights_root: Path, **extra: str) -> dict[str, str]:
    """The environment of a server or pipeline subprocess: this repository importable, the
    plugin named, recipe weights, and Roboflow's inference told it is offline."""
    env = {k: v for k, v in os.environ.items() if k != "WORKFLOWS_PLUGINS"}
    env.update({
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
        "WORKFLOWS_PLUGINS": "depthgraph.roboflow",
        "DEPTHGRAPH_WEIGHTS_DIR": str(weights_root),
        "DEPTHGRAPH_DEVICE": "cpu",
        "OFFLINE_MODE": "True",
        "DISABLE_VERSION_CHECK": "True",
        "METRICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    })
    env.update(extra)
    return env
