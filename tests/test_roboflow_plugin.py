"""The Roboflow plugin from the main suite.

Roboflow's engine needs torchvision, which cannot live beside the main venv's CPU torch, so its
tests (``tests/roboflow/``) run in a second venv, ``.venv-roboflow`` (``bash .ci/roboflow-env``
builds it; ``DEPTHGRAPH_ROBOFLOW_PYTHON`` may name another interpreter). This module runs them
there as a subprocess and checks that they passed; without that venv it skips, saying so.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Read at import, before tests/conftest.py clears DEPTHGRAPH_* variables for the run.
ROBOFLOW_PYTHON = Path(
    os.environ.get("DEPTHGRAPH_ROBOFLOW_PYTHON") or REPO_ROOT / ".venv-roboflow" / "bin" / "python"
)
#: The Roboflow suite has at least this many tests; fewer passing means some went missing.
MIN_ROBOFLOW_TESTS = 26
TIMEOUT_S = 1800


def test_importing_the_plugin_without_roboflow_names_the_extra() -> None:
    if importlib.util.find_spec("roboflow_workflows") is not None:
        pytest.skip("roboflow-workflows is installed in this venv")
    done = subprocess.run(
        [sys.executable, "-c", "import depthgraph.roboflow"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: depthgraph.roboflow")
    assert 'pip install "depthgraph[roboflow]"' in last_line


@pytest.mark.slow
def test_roboflow_suite_passes_in_the_roboflow_venv() -> None:
    if not ROBOFLOW_PYTHON.is_file():
        pytest.skip(
            f"no Roboflow venv at {ROBOFLOW_PYTHON}: build it with `bash .ci/roboflow-env` "
            "(or point DEPTHGRAPH_ROBOFLOW_PYTHON at a Python with depthgraph[roboflow])"
        )
    env = {k: v for k, v in os.environ.items() if k != "WORKFLOWS_PLUGINS"}
    done = subprocess.run(
        [str(ROBOFLOW_PYTHON), "-m", "pytest", "tests/roboflow", "-q", "-p", "no:cacheprovider",
         "-W", "ignore::FutureWarning", "-W", "ignore::DeprecationWarning"],
        capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO_ROOT, env=env,
    )
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-40:])
    assert done.returncode == 0, f"the Roboflow suite failed in {ROBOFLOW_PYTHON}:\n{tail}"
    summary = tail.splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)}
    assert counts.get("passed", 0) >= MIN_ROBOFLOW_TESTS, summary
    assert not counts.get("skipped"), f"tests skipped inside the Roboflow venv: {summary}"
