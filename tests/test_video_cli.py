"""``depthgraph run --video``: in-process runs, bad sources, and Ctrl-C to a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from depthgraph.cli import app

from blocks_helpers import recipe_weights, recipe_weights_root  # noqa: F401 - fixtures
from video_helpers import TESTS_DIR, pattern_frames, read_video, write_clip

REPO_ROOT = TESTS_DIR.parent
PASS_THROUGH = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}], "steps": [],
                "outputs": [{"type": "JsonField", "name": "frame", "selector": "$inputs.image"}]}


def _workflow_file(tmp_path: Path, definition: dict) -> Path:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(definition))
    return path


def test_run_video_writes_mp4_and_jsonl(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mkv", pattern_frames(20, width=40, height=30), fps=20)
    result = CliRunner().invoke(app, ["run", str(_workflow_file(tmp_path, PASS_THROUGH)), "--video", str(clip),
                                      "-o", str(tmp_path / "out"), "--frames", "2:14", "--batch-size", "3", "-q"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame_number"] for line in lines] == list(range(2, 14))
    frames, fps = read_video(tmp_path / "out" / "frame.mp4")
    assert len(frames) == 12 and fps == pytest.approx(20.0)


def test_run_video_bad_input_is_one_line(tmp_path: Path) -> None:
    workflow = str(_workflow_file(tmp_path, PASS_THROUGH))
    runner = CliRunner()
    missing = runner.invoke(app, ["run", workflow, "--video", str(tmp_path / "no.mp4"), "-o", str(tmp_path / "o")])
    assert missing.exit_code == 1 and "no.mp4' does not exist" in missing.output
    assert "Traceback" not in missing.output and not (tmp_path / "o").exists()
    both = runner.invoke(app, ["run", workflow, "--video", "x.mp4", "--image", "y.png"])
    assert both.exit_code == 1 and "not both" in both.output
    clip = str(write_clip(tmp_path / "c.mkv", pattern_frames(3), fps=5))
    bad_range = runner.invoke(app, ["run", workflow, "--video", clip, "--frames", "abc"])
    assert bad_range.exit_code == 1 and "--frames 'abc'" in bad_range.output
    bad_codec = runner.invoke(app, ["run", workflow, "--video", clip, "--codec", "xvid", "-o", str(tmp_path / "o")])
    assert bad_codec.exit_code == 1 and "codec" in bad_codec.output and not (tmp_path / "o").exists()


def test_ctrl_c_leaves_playable_files(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "long.mkv", pattern_frames(400, width=32, height=24), fps=25)
    definition = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
                  "steps": [{"type": "depthgraph_test/sleep@v1", "name": "s", "image": "$inputs.image",
                             "seconds": 0.02}],
                  "outputs": [{"type": "JsonField", "name": "frame", "selector": "$steps.s.image"}]}
    env = dict(os.environ, DEPTHGRAPH_PLUGINS="video_helpers",
               PYTHONPATH=os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "depthgraph.cli", "run", str(_workflow_file(tmp_path, definition)),
         "--video", str(clip), "-o", str(out), "--batch-size", "2", "-q"],
        env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        results = out / "results.jsonl"
        while time.monotonic() < deadline and process.poll() is None:
            if results.exists() and len(results.read_text().splitlines()) >= 10:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert "interrupted" in output and "Traceback" not in output
    lines = [json.loads(line) for line in results.read_text().splitlines()]  # every line is valid
    assert 10 <= len(lines) < 400
    assert [line["frame_number"] for line in lines] == list(range(len(lines)))
    frames, fps = read_video(out / "frame.mp4")
    assert len(frames) == len(lines) and fps == pytest.approx(25.0)
    summary = json.loads((out / "video.json").read_text())
    assert summary["interrupted"] is True and summary["frames_processed"] == len(lines)


@pytest.mark.slow
def test_example_workflow_on_the_example_clip(tmp_path: Path, recipe_weights: Path) -> None:
    examples = REPO_ROOT / "examples"
    clip = examples / "videos" / "pan_zoom.mp4"
    assert clip.stat().st_size < 1_000_000
    result = CliRunner().invoke(app, ["run", str(examples / "workflows" / "video_depth_stable.json"),
                                      "--video", str(clip), "--frames", "0:2", "--batch-size", "2",
                                      "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [line["outputs"]["cut"] for line in lines] == [True, False]
    assert lines[1]["outputs"]["scale"] > 0
    for name in ("depth_colour.mp4", "overlay.mp4"):
        frames, fps = read_video(tmp_path / "out" / name)
        assert len(frames) == 2 and frames[0].shape == (240, 320, 3) and fps == pytest.approx(15.0)
