"""End to end: each example workflow from its JSON file, with recipe weights; errors via the engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from blocks_helpers import (  # noqa: F401
    WORKFLOWS,
    load_example_image,
    recipe_weights,
    recipe_weights_root,
)

from depthgraph import Workflow
from depthgraph.engine.errors import DefinitionParsingError, StepExecutionError, WorkflowError
from depthgraph.engine.values import DepthMap, PointCloud, WorkflowImageData


def _example(name: str) -> dict:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


def test_depth_colormap_example(recipe_weights) -> None:  # noqa: F811
    workflow = Workflow.from_definition(WORKFLOWS / "depth_colormap.json")
    photo = load_example_image("coffee")
    [out] = workflow.run(image=photo)
    assert set(out) == {"depth_image", "overlay", "normalized_depth", "depth", "intrinsics"}
    height, width = photo.shape[:2]
    for key in ("depth_image", "overlay"):
        assert isinstance(out[key], WorkflowImageData)
        assert out[key].numpy_image.shape == (height, width, 3)
    assert out["depth_image"].parent_id == out["overlay"].parent_id
    norm = out["normalized_depth"]
    assert norm.shape == (height, width) and norm.min() == 0.0 and norm.max() == pytest.approx(1.0)
    assert out["depth"].shape == (height, width) and np.isfinite(out["depth"]).all()
    k = out["intrinsics"]
    assert k.shape == (3, 3) and 0 < k[0, 2] < width and 0 < k[1, 2] < height


def test_point_cloud_example_writes_a_ply_inside_the_output_directory(
    recipe_weights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    from plyfile import PlyData

    monkeypatch.chdir(tmp_path)  # the example writes to ./point_clouds
    definition = _example("point_cloud_ply")
    # the example gives the PLY's path only (one file, one path); ask for the cloud too
    definition["outputs"].append({"type": "JsonField", "name": "point_cloud",
                                  "selector": "$steps.cloud.point_cloud"})
    workflow = Workflow.from_definition(definition)
    photo = load_example_image("chelsea")
    [out] = workflow.run(image=photo)
    path = Path(out["file_path"])
    assert path.resolve().parent == (tmp_path / "point_clouds").resolve()
    cloud = out["point_cloud"]
    assert isinstance(cloud, PointCloud) and cloud.frame == "opencv"
    assert 0 < out["num_points"] == len(cloud) <= 100_000
    assert np.all(cloud.pixels % 2 == 0)  # stride 2
    assert np.all(cloud.points[:, 2] > 0)
    # colours are the photo's pixels (RGB) under each point
    u, v = cloud.pixels[:, 0], cloud.pixels[:, 1]
    assert np.array_equal(cloud.colors, photo[v, u, ::-1])
    vertex = PlyData.read(str(path))["vertex"]
    assert vertex.count == len(cloud)
    assert np.allclose(np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), cloud.points)


def test_face_distances_example(recipe_weights) -> None:  # noqa: F811
    workflow = Workflow.from_definition(WORKFLOWS / "face_distances.json")
    photo = load_example_image("astronaut")
    [out] = workflow.run(image=photo)
    faces = out["predictions"]
    assert len(faces) == 1 and list(faces.data["class_name"]) == ["face"]
    depth = out["depths"][0]
    assert isinstance(depth, float) and depth > 0
    assert faces.data["depth"][0] == pytest.approx(depth)
    assert faces.data["depth_min"][0] <= depth <= faces.data["depth_max"][0]
    assert faces.data["position_3d"][0][2] == pytest.approx(depth)
    annotated = out["annotated"]
    assert annotated.numpy_image.shape == photo.shape
    assert (annotated.numpy_image != photo).any()


def test_detections_from_inference_json_with_a_known_depth() -> None:
    """Detections arriving as Roboflow predictions JSON, depth as a runtime array: no model."""
    definition = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "predictions", "kind": ["object_detection_prediction"]},
            {"type": "WorkflowParameter", "name": "depth", "kind": ["depth_map"]},
        ],
        "steps": [
            {"type": "depthgraph/detections_depth@v1", "name": "dist",
             "predictions": "$inputs.predictions", "depth": "$inputs.depth"},
            {"type": "depthgraph/label_visualization@v1", "name": "labels", "image": "$inputs.image",
             "predictions": "$steps.dist.predictions", "text": "Class and Data", "data_format": "{:.1f} m"},
        ],
        "outputs": [
            {"type": "JsonField", "name": "depths", "selector": "$steps.dist.depths"},
            {"type": "JsonField", "name": "labelled", "selector": "$steps.labels.image"},
        ],
    }
    depth = np.full((100, 120), 10.0, np.float32)
    depth[30:50, 40:60] = 2.0
    predictions = {
        "image": {"width": 120, "height": 100},
        "predictions": [
            {"x": 50, "y": 40, "width": 40, "height": 40, "class": "box", "confidence": 0.9},
            {"x": 100, "y": 85, "width": 10, "height": 10, "class": "far", "confidence": 0.8},
        ],
    }
    workflow = Workflow.from_definition(definition)
    [out] = workflow.run(image=np.zeros((100, 120, 3), np.uint8), predictions=predictions, depth=DepthMap(depth, unit="m"))
    assert out["depths"] == [pytest.approx(2.0), pytest.approx(10.0)]
    assert out["labelled"].numpy_image.any()
    # the same array without a unit is relative: labelling it in metres is refused
    with pytest.raises(WorkflowError, match="relative depth has no unit"):
        workflow.run(image=np.zeros((100, 120, 3), np.uint8), predictions=predictions, depth=depth)


def test_bad_literal_in_an_example_fails_compilation_naming_step_and_property() -> None:
    definition = _example("point_cloud_ply")
    definition["steps"][2]["file_prefix"] = "../../escape"
    with pytest.raises(DefinitionParsingError) as caught:
        Workflow.from_definition(definition)
    assert caught.value.step == "ply" and caught.value.property == "file_prefix"

    definition = _example("depth_colormap")
    definition["steps"][1]["colormap"] = "rainbow"
    with pytest.raises(DefinitionParsingError, match="colormap") as caught:
        Workflow.from_definition(definition)
    assert caught.value.step == "overlay"


def test_bad_runtime_model_version_names_the_step() -> None:
    workflow = Workflow.from_definition(WORKFLOWS / "depth_colormap.json")
    with pytest.raises(StepExecutionError) as caught:
        workflow.run(image=np.zeros((32, 32, 3), np.uint8), model_version="depth-anything-v3/giant")
    assert caught.value.step == "depth"
    assert "model_version" in str(caught.value) and "giant" in str(caught.value)


def test_missing_weights_is_a_clear_step_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from depthgraph.models import loading as depth_module

    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(depth_module, "_MODEL_CACHE", {})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    workflow = Workflow.from_definition(WORKFLOWS / "depth_colormap.json")
    with pytest.raises(WorkflowError) as caught:
        workflow.run(image=np.zeros((32, 32, 3), np.uint8))
    error = caught.value
    assert error.step == "depth"
    message = str(error)
    # clear: it says what is missing, where it was looked for, and how to get it ...
    assert message.startswith("step 'depth' (")
    assert "WeightsNotFoundError: no weights for DA3-SMALL" in message
    assert str(tmp_path / "empty" / "DA3-SMALL" / "model.safetensors") in message
    assert "hf download depth-anything/DA3-SMALL" in message
    # ... in one line, not a traceback
    assert "\n" not in message and "Traceback" not in message
    assert error.to_dict()["blocks_errors"][0]["step"] == "depth"
