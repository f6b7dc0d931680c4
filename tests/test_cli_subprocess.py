"""The CLI once as a real process (console-script module, plugin blocks through the environment)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from cli_helpers import REPO_ROOT, depthgraph_command, fake_depth_workflow, gradient_image, plugin_env, write_image


def test_cli_as_a_subprocess(tmp_path):
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(fake_depth_workflow()))
    write_image(tmp_path / "in" / "x.png", gradient_image(24, 12))
    env = plugin_env(DEPTHGRAPH_WEIGHTS_DIR=str(tmp_path / "weights"))
    ran = subprocess.run(
        [*depthgraph_command(), "run", str(workflow), "--image", str(tmp_path / "in"),
         "--output-dir", str(tmp_path / "out")],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert np.load(tmp_path / "out" / "x" / "depth.npy").shape == (12, 24)

    bad = subprocess.run(
        [*depthgraph_command(), "validate", str(tmp_path / "missing.json")],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("error:") and "no such workflow file" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_validate_and_describe_do_not_import_torch():
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from depthgraph.cli import app\n"
        "r = CliRunner()\n"
        "a = r.invoke(app, ['validate', 'examples/workflows/point_cloud_ply.json'])\n"
        "b = r.invoke(app, ['describe', '--json'])\n"
        "c = r.invoke(app, ['weights', 'list'])\n"
        "assert (a.exit_code, b.exit_code, c.exit_code) == (0, 0, 0), (a.output, c.output)\n"
        "print('torch' in sys.modules)\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, cwd=REPO_ROOT, env=plugin_env())
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == "False"
