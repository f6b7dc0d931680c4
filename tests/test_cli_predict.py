"""``depthgraph predict`` and ``weights`` with the real DA3 network on recipe weights."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from plyfile import PlyData
from typer.testing import CliRunner

from cli_helpers import gradient_image, write_image
from depthgraph.cli import app
from depthgraph.batch import build_predict_definition
from model_helpers import recipe_weights_root

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_models(monkeypatch):
    from depthgraph.models.loading import clear_model_cache

    monkeypatch.setenv("DEPTHGRAPH_DEVICE", "cpu")
    clear_model_cache()
    yield
    clear_model_cache()


def test_predict_folder_with_point_cloud(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(recipe_weights_root("small")))
    images = tmp_path / "images"
    write_image(images / "a.png", gradient_image(64, 48, seed=1))
    write_image(images / "b.jpg", gradient_image(48, 64, seed=2))
    (images / "c.png").write_bytes(b"broken")
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(images), "-o", str(out), "--point-cloud",
                                 "--colormap", "inferno", "--batch-size", "2"])
    assert result.exit_code == 3, result.output  # c.png failed, the others were written
    assert "c.png" in result.output
    for name, (h, w) in {"a": (48, 64), "b": (64, 48)}.items():
        folder = out / name
        depth = np.load(folder / "depth.npy")
        assert depth.shape == (h, w) and depth.dtype == np.float32
        assert np.isfinite(depth).all() and (depth > 0).all()
        assert cv2.imread(str(folder / "depth.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
        assert cv2.imread(str(folder / "depth_color.png")).shape == (h, w, 3)
        results = json.loads((folder / "results.json").read_text())
        intrinsics = np.array(results["outputs"]["intrinsics"])
        assert intrinsics.shape == (3, 3) and intrinsics[0, 0] > 0
        ply = PlyData.read(str(folder / "point_cloud.ply"))
        assert len(ply["vertex"]) == results["outputs"]["point_cloud"]["num_points"] > 0
        assert {"x", "y", "z", "red", "green", "blue"} <= set(ply["vertex"].data.dtype.names)
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]


def test_predict_without_weights_stops_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for i in range(3):
        write_image(tmp_path / "images" / f"{i}.png", gradient_image(32, 32, seed=i))
    result = runner.invoke(app, ["predict", str(tmp_path / "images"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output  # stopped at once, not once per image
    assert "DA3-SMALL" in errors[0] and "weights" in errors[0]
    assert "Traceback" not in result.output


def test_weights_import_and_list(monkeypatch, tmp_path):
    root = tmp_path / "store"
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(root))
    source = recipe_weights_root("small") / "DA3-SMALL"
    result = runner.invoke(app, ["weights", "import", str(source), "--model", "small"])
    assert result.exit_code == 0, result.output
    copied = root / "DA3-SMALL" / "model.safetensors"
    assert copied.read_bytes() == (source / "model.safetensors").read_bytes()
    assert (root / "DA3-SMALL" / "config.json").is_file()
    listing = runner.invoke(app, ["weights", "list"])
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert any("small" in line and "ok" in line for line in lines), listing.output
    assert any("base" in line and "missing" in line for line in lines), listing.output
    # the small checkpoint is not a base one
    wrong = runner.invoke(app, ["weights", "import", str(source), "--model", "base"])
    assert wrong.exit_code == 1 and "other model size" in wrong.output


def test_predict_definition_validates():
    from depthgraph.engine.compiler import validate_definition

    for cloud in (False, True):
        assert validate_definition(build_predict_definition("base", "magma", cloud)) == []


def test_predict_with_an_explicit_weights_file(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    checkpoint = recipe_weights_root("small") / "DA3-SMALL" / "model.safetensors"
    image = write_image(tmp_path / "one.png", gradient_image(40, 30))
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(image), "-o", str(out), "--weights", str(checkpoint)])
    assert result.exit_code == 0, result.output
    assert np.load(out / "one" / "depth.npy").shape == (30, 40)
    missing = runner.invoke(app, ["predict", str(image), "--weights", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no such file" in missing.output
