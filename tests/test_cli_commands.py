"""The CLI through typer's runner: run, validate, describe, weights (test blocks, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from plyfile import PlyData
from typer.testing import CliRunner

from cli_helpers import REPO_ROOT, fake_depth_workflow, gradient_image, write_image
from depthgraph.cli import app
from depthgraph.engine.registry import reset_registry

runner = CliRunner()


@pytest.fixture(autouse=True)
def plugin_blocks(monkeypatch, tmp_path):
    """Register the test blocks through DEPTHGRAPH_PLUGINS; keep the CLI's env changes local."""
    monkeypatch.setenv("DEPTHGRAPH_PLUGINS", "cli_helpers")
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("DEPTHGRAPH_DEVICE", "cpu")
    reset_registry()
    yield
    reset_registry()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def workflow_file(tmp_path) -> Path:
    path = tmp_path / "fake.json"
    path.write_text(json.dumps(fake_depth_workflow()))
    return path


@pytest.fixture
def image_dir(tmp_path) -> Path:
    folder = tmp_path / "images"
    for i, (w, h) in enumerate([(32, 24), (40, 20), (16, 16)]):
        write_image(folder / f"img{i}.png", gradient_image(w, h, seed=i))
    return folder


# --- run -----------------------------------------------------------------------------------------


def test_run_writes_every_kind(workflow_file, image_dir, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", workflow_file, "--image", image_dir, "--output-dir", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["img0", "img1", "img2"]
    image = cv2.imread(str(image_dir / "img1.png"))
    folder = out / "img1"
    # depth_map: exact float32 in .npy, 16-bit PNG scaled min..max
    depth = np.load(folder / "depth.npy")
    np.testing.assert_allclose(depth, 1 + image.mean(axis=2) / 255, atol=1e-6)
    png = cv2.imread(str(folder / "depth.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == depth.shape
    assert png.min() == 0 and png.max() == 65535
    results = json.loads((folder / "results.json").read_text())
    scale = results["outputs"]["depth"]
    restored = scale["min"] + png / 65535 * (scale["max"] - scale["min"])
    np.testing.assert_allclose(restored, depth, atol=(scale["max"] - scale["min"]) / 65535)
    # image: PNG, lossless
    inverted = cv2.imread(str(folder / "inverted.png"))
    np.testing.assert_array_equal(inverted, 255 - image)
    # point cloud: PLY with colours
    ply = PlyData.read(str(folder / "cloud.ply"))
    vertex = ply["vertex"]
    assert ply.text is False and len(vertex) == 3
    assert list(vertex["z"]) == [1, 2, 3] and list(vertex["red"]) == [255, 0, 0]
    # the rest: results.json
    assert results["outputs"]["mean"] == pytest.approx(float(image.mean(axis=2).mean()), rel=1e-5)
    assert results["images"]["image"].endswith("img1.png")
    assert "3 ok, 0 failed" in result.output


def test_bad_image_in_folder_is_reported_and_skipped(workflow_file, image_dir, tmp_path):
    (image_dir / "broken.png").write_bytes(b"not a png at all")
    (image_dir / "notes.txt").write_text("ignored: not an image file")
    out = tmp_path / "out"
    result = invoke("run", workflow_file, "--image", image_dir, "-o", out, "--batch-size", "2")
    assert result.exit_code == 3, result.output
    assert sorted(p.name for p in out.iterdir()) == ["img0", "img1", "img2"]
    assert "broken.png" in result.output and "not a decodable image" in result.output
    assert "Traceback" not in result.output


def test_failing_image_in_a_batch_does_not_sink_the_batch(workflow_file, image_dir, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", workflow_file, "-i", image_dir, "-o", out, "--batch-size", "3",
                    "--param", "fail_width=40", "--verbose")
    assert result.exit_code == 3, result.output
    assert sorted(p.name for p in out.iterdir()) == ["img0", "img2"]
    assert "img1.png" in result.output and "40 pixels wide" in result.output
    assert "Traceback" in result.output  # --verbose


def test_every_image_failing_exits_1(workflow_file, tmp_path):
    image = write_image(tmp_path / "a.png", gradient_image(40, 20))
    result = invoke("run", workflow_file, "--image", image, "-o", tmp_path / "o",
                    "--param", "fail_width=40")
    assert result.exit_code == 1
    assert "0 ok, 1 failed" in result.output


def test_glob_and_repeated_image_options(workflow_file, image_dir, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", workflow_file, "-i", str(image_dir / "img[01].png"),
                    "-i", image_dir / "img2.png", "-i", image_dir / "img0.png", "-o", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["img0", "img1", "img2"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--param", "nope=1"], "no such parameter (its parameters: fail_width)"),
        (["--param", "novalue"], "expected NAME=VALUE"),
        (["--image", "/no/such/dir"], "/no/such/dir: no such file or folder"),
        (["--image", "/no/such/*.png"], "pattern matches no image"),
    ],
)
def test_run_setup_errors_are_one_line(workflow_file, image_dir, args, fragment):
    if "--image" not in args:
        args = [*args, "--image", str(image_dir)]
    result = invoke("run", workflow_file, *args)
    assert result.exit_code == 1
    assert fragment in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_run_bad_workflow_one_line_and_verbose_traceback(tmp_path, image_dir):
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "1.0", "inputs": [')
    result = invoke("run", broken, "--image", image_dir)
    assert result.exit_code == 1
    assert "not valid JSON" in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) <= 3
    verbose = invoke("run", broken, "--image", image_dir, "--verbose")
    assert verbose.exit_code == 1 and "Traceback" in verbose.output
    missing = invoke("run", tmp_path / "missing.json", "--image", image_dir)
    assert missing.exit_code == 1 and "no such workflow file" in missing.output


def test_run_verbose_prints_each_step_as_it_runs(workflow_file, image_dir, tmp_path):
    """The engine's step events reach the terminal: with --verbose and one image, a line per step
    start and finish, in execution order; without --verbose, none."""
    steps = [s["name"] for s in fake_depth_workflow()["steps"]]
    one = image_dir / "img0.png"
    result = invoke("run", workflow_file, "--image", one, "--output-dir", tmp_path / "a", "--verbose")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("step ")]
    total = len(steps)
    assert len(lines) == 2 * total, result.output
    for index, name in enumerate(steps):
        assert lines[2 * index].startswith(f"step {index + 1}/{total} {name} (") and lines[2 * index].endswith("started")
        assert lines[2 * index + 1].startswith(f"step {index + 1}/{total} {name} (") and " finished in " in lines[2 * index + 1]
    quiet = invoke("run", workflow_file, "--image", one, "--output-dir", tmp_path / "b")
    assert quiet.exit_code == 0 and not any(line.startswith("step ") for line in quiet.output.splitlines())


# --- validate / describe ---------------------------------------------------------------------------


def test_validate_valid_examples():
    for path in sorted((REPO_ROOT / "examples" / "workflows").glob("*.json")):
        result = invoke("validate", path)
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith("valid")


def test_validate_lists_every_error(tmp_path):
    definition = fake_depth_workflow()
    definition["steps"][0]["image"] = "$inputs.missing"
    definition["steps"].append({"type": "test_cli/fake_depth@v1", "name": "second",
                                "image": "$inputs.image", "fail_width": "wide"})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(definition))
    result = invoke("validate", path)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "invalid" in text and "2 error(s)" in text
    assert "step 'fake'" in text and "property 'image'" in text
    assert "step 'second'" in text and "property 'fail_width'" in text


def test_describe_table_and_json():
    table = runner.invoke(app, ["describe"], env={"COLUMNS": "300"})  # wide enough: no ellipses
    assert table.exit_code == 0
    # rich may wrap long identifiers inside a cell: compare with the whitespace taken out
    flat = "".join(table.output.split())
    for identifier in ("depthgraph/depth_estimation@v1", "test_cli/fake_depth@v1",
                       "depthgraph/point_cloud_export@v1"):
        assert identifier in flat, identifier
    raw = invoke("describe", "--json")
    assert raw.exit_code == 0
    data = json.loads(raw.output)
    ids = {b["identifier"] for b in data["blocks"]}
    assert {"depthgraph/depth_estimation@v1", "test_cli/fake_depth@v1"} <= ids


# --- weights -------------------------------------------------------------------------------------


def test_weights_import_rejects_wrong_files_and_list_shows_missing(tmp_path):
    from safetensors.numpy import save_file

    listing = invoke("weights", "list")
    assert listing.exit_code == 0 and "missing" in listing.output
    partial = tmp_path / "partial.safetensors"
    save_file({"model.backbone.cls_token": np.zeros((1, 1, 4), np.float32)}, str(partial))
    result = invoke("weights", "import", partial, "--model", "small")
    assert result.exit_code == 1
    assert "tensors missing" in result.output and "Traceback" not in result.output
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    result = invoke("weights", "import", junk, "--model", "base")
    assert result.exit_code == 1 and "not a readable safetensors file" in result.output
    assert invoke("weights", "import", tmp_path / "nope", "--model", "small").exit_code == 1


def test_weights_download_offline_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path))
    result = invoke("weights", "download", "--model", "small")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "nothing downloaded: HF_HUB_OFFLINE is set" in text
    assert "depthgraph weights import PATH --model small" in text
    assert "Traceback" not in result.output


def test_serve_help_mentions_defaults():
    result = invoke("serve", "--help")
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output and "9001" in result.output
