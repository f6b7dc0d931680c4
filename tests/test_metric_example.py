"""``examples/workflows/face_distances_metric.json`` ("distance to each face in metres") through
Python, the CLI and the HTTP server, and ``predict --model metric-large --fov/--intrinsics``.

The 1.3 GB DA3METRIC-LARGE network takes about a minute per photo on this CPU, so the depth
block's model cache answers ``depth-anything-v3/metric-large`` with a tiny recipe network of the
same structure (same code path: LARGE network, sky rule, metres from the focal length). The
full-size network is checked against the official outputs in ``test_model_large_parity.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from blocks_helpers import IMAGES, load_example_image
from fastapi.testclient import TestClient
from large_model_helpers import tiny_large
from typer.testing import CliRunner

from depthgraph.models import loading as model_loading
from depthgraph.cli import app
from depthgraph.engine.values import DepthMap
from depthgraph.engine.workflow import Workflow

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "workflows" / "face_distances_metric.json"


@pytest.fixture
def metric_large(monkeypatch, tmp_path):
    monkeypatch.delenv("DEPTHGRAPH_DEVICE", raising=False)
    monkeypatch.delenv("DEPTHGRAPH_BACKEND", raising=False)
    monkeypatch.setattr(model_loading, "_MODEL_CACHE", {("depth-anything-v3/metric-large", "auto"): tiny_large(True)})
    # the CLI looks for the weights file before reading any image; the cached model answers
    placeholder = tmp_path / "weights" / "DA3METRIC-LARGE" / "model.safetensors"
    placeholder.parent.mkdir(parents=True)
    placeholder.write_bytes(b"never read: the model is already in the cache")
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path / "weights"))


def test_example_in_python_gives_metres(metric_large):
    [out] = Workflow.from_definition(EXAMPLE).run(image=load_example_image("astronaut"), fov=55.0)
    faces = out["predictions"]
    assert len(faces) == 1 and list(faces.data["depth_unit"]) == ["m"]
    assert isinstance(out["depth"], DepthMap) and out["depth"].unit == "m"
    assert out["depths"][0] == pytest.approx(float(faces.data["depth"][0])) and out["depths"][0] > 0


def test_example_through_the_cli(metric_large, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(EXAMPLE), "--image", str(IMAGES / "astronaut.jpg"),
                                      "--param", "fov=55", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((out / "astronaut" / "results.json").read_text())
    assert results["outputs"]["depth"]["unit"] == "m"
    assert results["outputs"]["depths"][0] > 0
    assert (out / "astronaut" / "annotated.png").is_file() or (out / "astronaut" / "annotated.jpg").is_file()


def test_example_through_the_server(metric_large):
    import base64

    import cv2

    from depthgraph.server import ServerSettings, create_app

    ok, png = cv2.imencode(".png", load_example_image("astronaut"))
    body = {"specification": json.loads(EXAMPLE.read_text()),
            "inputs": {"image": {"type": "base64", "value": base64.b64encode(png.tobytes()).decode()}, "fov": 55.0}}  # fmt: skip
    with TestClient(create_app(ServerSettings())) as client:
        response = client.post("/workflows/run", json=body)
    assert response.status_code == 200, response.text
    [out] = response.json()["outputs"]
    assert out["depth"]["unit"] == "m"
    assert out["depths"][0] > 0


def test_predict_command_metric_large_with_fov_and_intrinsics(metric_large, tmp_path):
    runner = CliRunner()
    image = str(IMAGES / "coffee.jpg")
    result = runner.invoke(app, ["predict", image, "--model", "metric-large", "--fov", "60", "-o", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "a" / "coffee" / "results.json").read_text())
    assert results["outputs"]["depth"]["unit"] == "m"
    k_file = tmp_path / "k.json"
    k_file.write_text(json.dumps([[500.0, 0, 200], [0, 500.0, 150], [0, 0, 1]]))
    result = runner.invoke(app, ["predict", image, "--model", "metric-large", "--intrinsics", str(k_file), "-o", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "b" / "coffee" / "results.json").read_text())
    assert np.allclose(results["outputs"]["intrinsics"], [[500.0, 0, 200], [0, 500.0, 150], [0, 0, 1]])
    bad = runner.invoke(app, ["predict", image, "--model", "small", "--fov", "60", "-o", str(tmp_path / "c")])
    assert bad.exit_code != 0 and "metric-large only" in bad.output
    k_file.write_text("[[1, 2], [3, 4]]")
    bad = runner.invoke(app, ["predict", image, "--model", "metric-large", "--intrinsics", str(k_file)])
    assert bad.exit_code != 0 and "k.json" in bad.output and "3x3" in bad.output
