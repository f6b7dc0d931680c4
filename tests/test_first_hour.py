"""A newcomer's first hour (issue 20, items 6-13): what the CLI says and refuses, as a user sees it.

Most tests drive the CLI in-process (typer's runner, the numpy-only fake blocks of
``cli_helpers``); one runs the real ``depthgraph`` command with the stand-in recipe weights, its
output piped as in a log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_helpers import (REPO_ROOT, depthgraph_command, fake_depth_workflow, free_port,
                         gradient_image, write_image)
from depthgraph.cli import app
from depthgraph.engine.registry import reset_registry

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture()
def fake_blocks(monkeypatch):
    """The numpy-only test blocks of cli_helpers, as a plugin."""
    monkeypatch.setenv("DEPTHGRAPH_PLUGINS", "cli_helpers")
    reset_registry()
    yield
    reset_registry()


@pytest.fixture()
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    for i in range(2):
        write_image(folder / f"img{i}.png", gradient_image(40, 30, seed=i))
    return folder


# --- item 6: no weights -> one line, at once, before any progress bar ---------------------------


def test_predict_without_weights_stops_before_any_image_with_one_line(images, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    result = invoke("predict", images, "-o", tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert time.perf_counter() - started < 20
    text = one_line(result.output)
    assert "images" not in result.output.split("error:")[0]  # no progress bar before the error
    assert text.startswith("error: no weights for DA3-SMALL") and text.endswith(".")
    assert "hf download depth-anything/DA3-SMALL model.safetensors" in text
    assert "huggingface-cli" not in text
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --- item 7: `weights download` says what happened ---------------------------------------------


def test_weights_download_with_an_unreachable_hub_says_nothing_was_downloaded(tmp_path,
                                                                              monkeypatch):
    from huggingface_hub import constants

    from depthgraph.models.depth_anything_v3.recipe import write_recipe_checkpoint

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")  # closed port
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path))
    started = time.perf_counter()
    empty = invoke("weights", "download", "--model", "small")
    assert empty.exit_code == 1
    assert "nothing downloaded: the Hugging Face hub cannot be reached" in one_line(empty.output)
    assert "weights import PATH --model small" in one_line(empty.output)
    write_recipe_checkpoint("small", tmp_path / "DA3-SMALL")
    kept = invoke("weights", "download", "--model", "small")
    assert kept.exit_code == 1
    text = one_line(kept.output)
    assert "nothing downloaded" in text and "stays as it is (usable)" in text
    assert "downloaded DA3" not in text and "Retrying" not in kept.output
    assert time.perf_counter() - started < 20  # no retries with back-off


# --- item 8: a result folder is not replaced silently ------------------------------------------


def test_a_second_run_into_the_same_folder_stops_unless_overwrite(fake_blocks, images, tmp_path):
    workflow = tmp_path / "fake.json"
    workflow.write_text(json.dumps(fake_depth_workflow()))
    out = tmp_path / "out"
    first = invoke("run", workflow, "-i", images, "-o", out, "-q")
    assert first.exit_code == 0, first.output
    marker = out / "img0" / "mine.txt"
    marker.write_text("an earlier result")
    again = invoke("run", workflow, "-i", images, "-o", out, "-q")
    assert again.exit_code == 1
    text = one_line(again.output)
    assert "already hold results of an earlier run" in text and "--overwrite" in text
    assert str(out / "img0") in text and str(out / "img1") in text
    assert marker.read_text() == "an earlier result"  # nothing was touched
    replaced = invoke("run", workflow, "-i", images, "-o", out, "-q", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert not marker.exists()


# --- item 12: what a wrong file gets -------------------------------------------------------------


def test_a_text_file_is_named_once_and_called_a_text_file(fake_blocks, tmp_path):
    notes = tmp_path / "README.md"
    notes.write_text("# not an image\n\nsome words\n")
    workflow = tmp_path / "fake.json"
    workflow.write_text(json.dumps(fake_depth_workflow()))
    result = invoke("run", workflow, "-i", notes, "-o", tmp_path / "out")
    assert result.exit_code == 1
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert line == f"error: {notes}: not a decodable image (text, not a PNG, JPEG, GIF, BMP, WebP, TIFF or PNM file)"
    assert "PIXELS" not in result.output


def test_video_option_on_a_photo_fails_at_once(fake_blocks, tmp_path):
    workflow = tmp_path / "fake.json"
    workflow.write_text(json.dumps(fake_depth_workflow()))
    photo = REPO_ROOT / "examples" / "images" / "coffee.jpg"
    result = invoke("run", workflow, "--video", photo, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "is a still image, not a video" in one_line(result.output)
    assert not (tmp_path / "out" / "results.jsonl").exists()


# --- item 10: an estimate after the first batch --------------------------------------------------


def test_first_batch_estimate_suggests_frames_for_long_runs():
    from depthgraph.cli.video import first_batch_estimate

    line = first_batch_estimate(1, 5.0, 135, None)
    assert "all 135 frames: about 11 min" in line and "--frames 0:30" in line
    assert "--frames" not in first_batch_estimate(1, 0.1, 135, None)  # a short run: no advice
    assert "--frames" not in first_batch_estimate(1, 5.0, 135, "0:40")  # already limited
    assert first_batch_estimate(1, 5.0, None, None) is None  # a live source has no length


# --- item 13: the editor's address; piped tables; stand-in weights --------------------------------


def test_serve_prints_the_editors_address(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as handle:
        process = subprocess.Popen([*depthgraph_command(), "serve", "--port", str(port),
                                    "--log-level", "warning"], stdout=handle,
                                   stderr=subprocess.STDOUT, cwd=tmp_path,
                                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        deadline = time.monotonic() + 60
        while "/editor" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert f"the editor is at http://127.0.0.1:{port}/editor" in log.read_text()


@pytest.mark.slow  # the real command, the DA3-small network on one photo with recipe weights
def test_point_cloud_example_from_the_cli_one_ply_one_path_and_a_stand_in_warning(tmp_path):
    from depthgraph.models.depth_anything_v3.recipe import write_recipe_checkpoint

    write_recipe_checkpoint("small", tmp_path / "weights" / "DA3-SMALL")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT),
           "DEPTHGRAPH_WEIGHTS_DIR": str(tmp_path / "weights"), "DEPTHGRAPH_DEVICE": "cpu"}
    env.pop("COLUMNS", None)
    long_dir = tmp_path / "a-folder-name-long-enough-to-wrap-a-table-at-eighty-columns"
    long_dir.mkdir()
    photo = long_dir / "chelsea.jpg"
    photo.write_bytes((REPO_ROOT / "examples" / "images" / "chelsea.jpg").read_bytes())
    done = subprocess.run(
        [*depthgraph_command(), "run", str(REPO_ROOT / "examples/workflows/point_cloud_ply.json"),
         "--image", str(photo), "-o", "results"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    # item 13: the stand-in weights are named as such, in one line
    warning = [ln for ln in done.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1 and "stand-in (recipe) weights" in warning[0]
    # item 13: piped output keeps each table row on one line (the path is not folded)
    assert any(str(photo) in ln and "ok" in ln for ln in done.stdout.splitlines()), done.stdout
    # item 9: one PLY, and results.json names it by a path that opens from where the user ran
    plys = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.ply"))
    assert len(plys) == 1 and plys[0].startswith("results/point_clouds/cloud_")
    outputs = json.loads((tmp_path / "results" / "chelsea" / "results.json").read_text())["outputs"]
    assert outputs["file_path"] == plys[0] and outputs["num_points"] > 0
    assert "point_cloud" not in outputs


# --- done means: the commands of the README and docs run as written ---------------------------


def test_every_doc_command_runs_or_says_why_not_and_names_files_that_exist():
    """tools/check_doc_commands.py runs them (tens of minutes); here: what it would run names
    example files that exist, and every skip has a reason."""
    import glob
    import shlex

    sys.path.insert(0, str(REPO_ROOT / "tools"))
    try:
        import check_doc_commands as checker
    finally:
        sys.path.remove(str(REPO_ROOT / "tools"))
    files = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    commands = [c for f in files for c in checker.extract(f)]
    runs = [c for c in commands if c.skip is None]
    assert len(runs) >= 20 and all(c.skip for c in commands if c not in runs)
    for command in runs:
        for word in shlex.split(command.text.replace(">", " ")):
            if word.startswith("examples/"):
                assert glob.glob(str(REPO_ROOT / word)), f"{command.source}: {word} does not exist"
    # the commands that used to fail as written are among those that run
    texts = [c.text for c in runs]
    assert any("--engine ray" in t and "--concurrency 2" in t and "--num-cpus" not in t
               for t in texts)
    assert any("--video examples/videos/pan_zoom.mp4" in t and "--frames" in t for t in texts)
