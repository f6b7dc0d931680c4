"""The depth block, ``depthgraph predict`` and ``POST /workflows/run`` give ``model.predict``'s depth.

Every route to a depth map runs the same network on the same pixels, so each must return what
``model.predict`` returns for that image: depth as depth (not confidence, not normalised depth),
confidence as confidence, intrinsics as intrinsics. The reference is the very model object the
depth block caches, called directly; recipe weights, DA3-small, CPU.
"""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest

from blocks_helpers import load_example_image
from model_helpers import recipe_weights_root

MODEL = "depth-anything-v3/small"
TOL = {"rtol": 1e-5, "atol": 1e-6}  # batch vs single image runs differ only by float order


@pytest.fixture(scope="module")
def model():
    from depthgraph.models import loading as depth_estimation

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(recipe_weights_root("small")))
        patch.setenv("DEPTHGRAPH_DEVICE", "cpu")
        depth_estimation.clear_model_cache()
        yield depth_estimation.get_model(MODEL)
        depth_estimation.clear_model_cache()


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    """A small photo (real structure, so depth and confidence differ everywhere) as a PNG file."""
    image = cv2.resize(load_example_image("chelsea"), (120, 80), interpolation=cv2.INTER_AREA)
    path = tmp_path_factory.mktemp("photo") / "cat.png"
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture(scope="module")
def reference(model, photo_file):
    prediction = model.predict(photo_file)[0]
    # the comparisons below would be vacuous if these maps were interchangeable
    assert not np.allclose(prediction.depth, prediction.confidence, rtol=0.05)
    depth = prediction.depth
    assert not np.allclose(depth, (depth - depth.min()) / (depth.max() - depth.min()), rtol=0.05)
    return prediction


def _definition() -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [{"type": "depthgraph/depth_estimation@v1", "name": "da3", "images": "$inputs.image",
                   "model_version": MODEL}],
        "outputs": [{"type": "JsonField", "name": name, "selector": f"$steps.da3.{name}"}
                    for name in ("depth", "confidence", "intrinsics", "normalized_depth")],
    }


def test_depth_block_in_a_workflow_gives_model_predict_outputs(model, photo_file, reference):
    from depthgraph import Workflow

    (out,) = Workflow.from_definition(_definition()).run(image=str(photo_file))
    np.testing.assert_allclose(out["depth"], reference.depth, **TOL)
    np.testing.assert_allclose(out["confidence"], reference.confidence, **TOL)
    np.testing.assert_allclose(out["intrinsics"], reference.intrinsics, **TOL)
    depth = reference.depth
    low, high = depth.min(), depth.max()
    # normalised depth: near = 1, far = 0, from the same depth
    np.testing.assert_allclose(out["normalized_depth"], (high - depth) / (high - low), atol=1e-5)


def test_cli_predict_writes_model_predict_depth(model, photo_file, reference, tmp_path):
    from typer.testing import CliRunner

    from depthgraph.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["predict", str(photo_file), "-o", str(out)])
    assert result.exit_code == 0, result.output
    folder = out / photo_file.stem
    np.testing.assert_allclose(np.load(folder / "depth.npy"), reference.depth, **TOL)
    intrinsics = json.loads((folder / "results.json").read_text())["outputs"]["intrinsics"]
    np.testing.assert_allclose(np.array(intrinsics), reference.intrinsics, **TOL)
    # the 16-bit PNG holds the same depth, scaled min..max to 0..65535
    png = cv2.imread(str(folder / "depth.png"), cv2.IMREAD_UNCHANGED).astype(np.float64)
    low, high = reference.depth.min(), reference.depth.max()
    np.testing.assert_allclose(low + png / 65535 * (high - low), reference.depth, atol=(high - low) / 65535)


def test_server_runs_the_real_depth_block(model, photo_file, reference):
    from fastapi.testclient import TestClient

    from depthgraph.engine.serialization import array_from_json
    from depthgraph.server import ServerSettings, create_app

    body = {"specification": _definition(),
            "inputs": {"image": {"type": "base64", "value": base64.b64encode(photo_file.read_bytes()).decode()}}}
    with TestClient(create_app(ServerSettings()), raise_server_exceptions=False) as client:
        response = client.post("/workflows/run", json=body)
        assert response.status_code == 200, response.text
        (out,) = response.json()["outputs"]
        np.testing.assert_allclose(array_from_json(out["depth"]), reference.depth, **TOL)
        np.testing.assert_allclose(array_from_json(out["confidence"]), reference.confidence, **TOL)
        np.testing.assert_allclose(np.array(out["intrinsics"]), reference.intrinsics, **TOL)
        # /info now names the model the block holds
        info = client.get("/info").json()
        assert info["loaded_models"] == [{"model_version": MODEL, "device": "cpu"}]
