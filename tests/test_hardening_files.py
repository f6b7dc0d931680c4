"""Issue 9 items 4, 6, 9, 10, 11: files stay under the chosen folder, whole or not at all.

Each probe wrote outside the root, left a half-written folder, or named the wrong file before.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli_helpers import (REPO_ROOT, depthgraph_command, fake_depth_workflow, gradient_image,
                         plugin_env, write_image)
from depthgraph import output_root
from depthgraph.engine.errors import StepInputError, WorkflowError
from depthgraph.engine.workflow import Workflow
from hardening_helpers import (assert_error, client, export_workflow, png_header_only, registry,
                               run_body)

# --- item 4: one output root for every sink -------------------------------------------------------

OUTSIDE = ["/etc", "../../etc", "~/x", "/proc/self", "/dev/null", "a/../../b", "..",
           "C:\\Windows", "\\\\server\\share", "sub/\x00x"]


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("requested", OUTSIDE)
def test_sink_outside_the_root_is_refused(tmp_path, requested):
    root = tmp_path / "root"
    with client(allow_sinks=True, output_root=str(root)) as c:
        body = run_body(export_workflow(requested))
        data = assert_error(c.post("/workflows/run", json=body), 400)
    assert data["error_type"] == ("DefinitionParsingError" if "\x00" in requested
                                  else "StepInputError")  # NUL is refused when compiling
    (detail,) = data["blocks_errors"]
    assert (detail["step"], detail["property"]) == ("export", "output_directory")
    assert str(os.getpid()) not in data["message"] and str(tmp_path) not in data["message"]
    assert _tree(root) == []


def test_sink_through_a_link_leaving_the_root_is_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    (root / "inside").mkdir()
    (root / "alias").symlink_to(root / "inside")
    with client(allow_sinks=True, output_root=str(root)) as c:
        for requested in ("escape", "escape/deeper", "alias/../escape"):
            body = run_body(export_workflow(requested))
            assert_error(c.post("/workflows/run", json=body), 400, "StepInputError")
        ok = c.post("/workflows/run", json=run_body(export_workflow("alias/clouds")))
        assert ok.status_code == 200, ok.text
        assert ok.json()["outputs"][0]["path"].startswith("inside/clouds/cloud_")
    assert list(outside.iterdir()) == []
    assert len(list((root / "inside" / "clouds").glob("*.ply"))) == 1


def test_sink_refuses_to_write_through_a_planted_link_or_device(tmp_path):
    root = tmp_path / "root"
    (root / "out").mkdir(parents=True)
    target = tmp_path / "victim.txt"
    target.write_text("keep")
    directory = output_root.output_directory
    with output_root.writing_under(root):
        folder = directory("out")
        (folder / "x_1.ply").symlink_to(target)
        with pytest.raises(StepInputError, match="not a plain file"):
            output_root.output_file(folder, "x_1.ply")
        os.mkfifo(folder / "x_2.ply")
        with pytest.raises(StepInputError, match="not a plain file"):
            output_root.output_file(folder, "x_2.ply")
        assert output_root.output_file(folder, "x_3.ply") == folder / "x_3.ply"
    assert target.read_text() == "keep"


def test_default_server_root_is_a_folder_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with client(allow_sinks=True) as c:
        response = c.post("/workflows/run", json=run_body(export_workflow("clouds")))
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["path"].startswith("clouds/cloud_")
    assert len(list((tmp_path / "depthgraph_outputs" / "clouds").glob("*.ply"))) == 1


def test_python_api_without_a_root_still_refuses_special_files():
    workflow = Workflow.from_definition(export_workflow("/dev/null"), registry())
    with pytest.raises(StepInputError) as caught:
        workflow.run(image=gradient_image())
    assert caught.value.property == "output_directory" and caught.value.http_status == 400


def test_cli_sinks_write_under_the_output_folder(tmp_path, monkeypatch):
    from depthgraph.batch import plan_jobs, run_jobs

    monkeypatch.chdir(tmp_path)
    image = write_image(tmp_path / "in" / "a.png", gradient_image())
    workflow = Workflow.from_definition(export_workflow("./depthgraph_outputs"), registry())
    summary = run_jobs(workflow, plan_jobs(workflow, [str(image)]), {}, tmp_path / "myout")
    assert summary.done == 1, summary.items[0].error
    assert list((tmp_path / "myout" / "depthgraph_outputs").glob("cloud_*.ply"))
    assert not (tmp_path / "depthgraph_outputs").exists()
    bad = Workflow.from_definition(export_workflow("/etc"), registry())
    summary = run_jobs(bad, plan_jobs(bad, [str(image)]), {}, tmp_path / "myout2")
    assert summary.failed == 1 and "absolute path" in summary.items[0].error


# --- item 6: one decoder with the pixel limit from the header, for every entry point -------------


def test_python_api_refuses_a_bomb_header_without_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(30000, 30000))
    workflow = Workflow.from_definition(fake_depth_workflow(), registry())
    started = time.perf_counter()
    with pytest.raises(WorkflowError, match="more than the limit"):
        workflow.run(image=str(bomb))
    assert time.perf_counter() - started < 30


def test_python_api_refuses_a_truncated_jpeg():
    import cv2

    ok, data = cv2.imencode(".jpg", gradient_image(64, 48))
    workflow = Workflow.from_definition(fake_depth_workflow(), registry())
    with pytest.raises(WorkflowError, match="truncated"):
        workflow.run(image=data.tobytes()[: len(data) // 2])


# --- items 10 and 11: the CLI's folders are whole; the output folder is checked first -------------


runner = CliRunner()


def _cli(*args):
    from depthgraph.cli import app

    return runner.invoke(app, [str(a) for a in args])


def test_output_folder_checked_before_any_image_runs(tmp_path, monkeypatch):
    from depthgraph import batch
    from depthgraph.batch import runner as batch_runner

    ran = []
    monkeypatch.setattr(batch_runner, "run_batch", lambda *a, **k: ran.append(1) or [])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    image = write_image(tmp_path / "a.png", gradient_image())
    workflow = Workflow.from_definition(fake_depth_workflow(), registry())
    for out in (blocker, blocker / "sub"):
        with pytest.raises(batch.RunSetupError, match="output folder"):
            batch.run_jobs(workflow, batch.plan_jobs(workflow, [str(image)]), {}, out)
    assert ran == []
    result = _cli("predict", image, "-o", blocker)
    assert result.exit_code == 1 and "output folder" in result.output
    assert "weights" not in result.output.lower()  # refused before the model was looked for


def test_all_failed_summary_and_error_prefix(tmp_path):
    spec = tmp_path / "wf.json"
    spec.write_text(json.dumps(fake_depth_workflow()))
    image = write_image(tmp_path / "a.png", gradient_image(32, 24))
    env = plugin_env()
    result = subprocess.run([*depthgraph_command(), "run", str(spec), "-i", str(image), "-o",
                             str(tmp_path / "o1"), "-p", "fail_width=32", "-q"],
                            env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 1, result.stderr
    assert "no outputs written" in result.stdout and "outputs in" not in result.stdout
    assert "error:" in result.stderr and "failed:" not in result.stderr


def test_an_image_folder_appears_only_when_complete(tmp_path, monkeypatch):
    from depthgraph import batch
    from depthgraph.batch import folders

    images = [str(write_image(tmp_path / "in" / f"{n}.png", gradient_image(seed=i)))
              for i, n in enumerate("abc")]
    workflow = Workflow.from_definition(fake_depth_workflow(), registry())
    real = folders.write_result
    calls = []

    def interrupted_write(result, directory, *args, **kwargs):
        calls.append(directory)
        if len(calls) == 2:  # some files written, then Ctrl-C
            (Path(directory)).mkdir(parents=True, exist_ok=True)
            (Path(directory) / "depth.png").write_bytes(b"partial")
            raise KeyboardInterrupt
        return real(result, directory, *args, **kwargs)

    monkeypatch.setattr(folders, "write_result", interrupted_write)
    out = tmp_path / "out"
    summary = batch.run_jobs(workflow, batch.plan_jobs(workflow, images), {}, out)
    assert summary.interrupted and summary.done == 1 and summary.planned == 3
    assert sorted(p.name for p in out.iterdir()) == ["a"]  # no 'b', no hidden partial folder
    assert (out / "a" / "results.json").is_file()


def test_ctrl_c_on_a_real_run_leaves_only_whole_folders(tmp_path):
    spec = {**fake_depth_workflow(with_param=False)}
    spec["steps"] = spec["steps"] + [{"type": "test_cli/sleep@v1", "name": "nap", "seconds": 0.4}]
    spec["outputs"] = spec["outputs"] + [{"type": "JsonField", "name": "done",
                                          "selector": "$steps.nap.done"}]
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(spec))
    for i in range(8):
        write_image(tmp_path / "in" / f"img{i}.png", gradient_image(seed=i))
    out = tmp_path / "out"
    process = subprocess.Popen([*depthgraph_command(), "run", str(path), "-i", str(tmp_path / "in"),
                                "-o", str(out), "-q"], env=plugin_env(), cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and any(
                p.name.startswith("img") for p in out.iterdir())):
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, (stdout, stderr)
    assert "interrupted" in stderr and "finished and written" in stderr
    folders = list(out.iterdir())
    assert folders and all(not p.name.startswith(".") for p in folders), folders
    for folder in folders:
        assert (folder / "results.json").is_file(), folder
    assert len(folders) < 8


# --- item 9: a broken --weights file is named as the user gave it ---------------------------------


def test_broken_weights_file_is_named(tmp_path):
    import struct

    header = json.dumps({"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}).encode()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 100)  # cut short
    image = write_image(tmp_path / "a.png", gradient_image())
    result = _cli("predict", image, "--weights", broken, "-o", tmp_path / "out")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert str(broken) in text and "depthgraph-weights-" not in text
    assert "not fully covered" in text or "truncated" in text


def test_cuda_on_a_cpu_only_torch_says_so():
    import torch

    from depthgraph.models.depth_anything_v3.model import _pick_device

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        _pick_device("cuda")


def test_outputs_written_are_numpy_readable(tmp_path):
    # the temporary-folder rename keeps every file the writer reported
    from depthgraph.batch import plan_jobs, run_jobs

    image = write_image(tmp_path / "a.png", gradient_image())
    workflow = Workflow.from_definition(fake_depth_workflow(), registry())
    summary = run_jobs(workflow, plan_jobs(workflow, [str(image)]), {}, tmp_path / "o")
    (item,) = summary.items
    assert item.files and all(f.is_file() and f.parent == tmp_path / "o" / "a" for f in item.files)
    depth = np.load(tmp_path / "o" / "a" / "depth.npy")
    assert depth.shape == (24, 32)
    again = run_jobs(workflow, plan_jobs(workflow, [str(image)]), {}, tmp_path / "o")
    assert again.done == 1 and sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a"]


def test_predict_refuses_a_bomb_header_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(30000, 30000))
    started = time.perf_counter()
    result = _cli("predict", bomb, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "more than the limit" in " ".join(result.output.split())
    assert time.perf_counter() - started < 60
    assert not [p for p in (tmp_path / "out").iterdir()]  # no folder for the refused image
