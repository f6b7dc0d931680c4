"""A workflow mixing Roboflow's core blocks with depthgraph's, run by Roboflow's ExecutionEngine.

``examples/roboflow/roboflow_mixed.json``: Roboflow crops and blurs the photo,
depthgraph estimates depth, colour-maps it, builds a point cloud, finds faces and measures their
depth, and Roboflow counts the faces and draws boxes and labels on the colour map. The depthgraph
part must give exactly what depthgraph's own engine gives (``roboflow_mixed.json``) on the images
Roboflow's blur step produced; outputs must line up with Roboflow's crops.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from roboflow_helpers import (
    MIXED_DEPTHGRAPH,
    MIXED_ROBOFLOW,
    load_definition,
    require_roboflow,
    roboflow_engine,
    with_step_property,
)

require_roboflow()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import supervision as sv  # noqa: E402
from blocks_helpers import load_example_image, recipe_weights_root  # noqa: E402,F401
from roboflow_workflows.errors import WorkflowSyntaxError  # noqa: E402
from roboflow_workflows.execution_engine.entities.base import (  # noqa: E402
    WorkflowImageData as RoboflowImage,
)

from depthgraph.engine.values import PointCloud  # noqa: E402
from depthgraph.engine.workflow import Workflow  # noqa: E402

pytestmark = pytest.mark.slow  # the DA3-small network at its working size, on two photos


@pytest.fixture(scope="module")
def weights(recipe_weights_root: Path):  # noqa: F811 - the fixture imported above
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(recipe_weights_root))
        patch.setenv("DEPTHGRAPH_DEVICE", "cpu")
        yield recipe_weights_root


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Two photos of different sizes: 512x512 (a face) and 300x451 (a cat)."""
    return [load_example_image("astronaut"), load_example_image("chelsea")]


@pytest.fixture(scope="module")
def engine(weights: Path) -> Any:
    return roboflow_engine(load_definition(MIXED_ROBOFLOW))


@pytest.fixture(scope="module")
def roboflow_results(engine: Any, photos: list[np.ndarray]) -> list[dict[str, Any]]:
    return engine.run(runtime_parameters={"image": [p.copy() for p in photos]})


@pytest.fixture(scope="module")
def depthgraph_results(roboflow_results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """depthgraph's own engine on the images Roboflow's crop and blur steps produced."""
    blurred = [np.array(r["blurred"].numpy_image) for r in roboflow_results]
    return Workflow.from_definition(MIXED_DEPTHGRAPH).run(image=blurred)


def test_two_sizes_run_through_roboflows_engine(roboflow_results: list[dict[str, Any]],
                                                photos: list[np.ndarray]) -> None:
    assert len(roboflow_results) == 2
    for result, photo in zip(roboflow_results, photos):
        height, width = result["blurred"].numpy_image.shape[:2]
        assert (height, width) == (round(photo.shape[0] * 0.8), round(photo.shape[1] * 0.8))
        assert result["depth"].shape == (height, width)
        assert isinstance(result["colour"], RoboflowImage)
        assert result["annotated"].numpy_image.shape == (height, width, 3)
        assert isinstance(result["cloud"], PointCloud)
        assert result["num_points"] == len(result["cloud"]) > 0
    assert roboflow_results[0]["depth"].shape != roboflow_results[1]["depth"].shape
    assert roboflow_results[0]["face_count"] >= 1  # the astronaut's face: detections do flow
    assert [r["face_count"] for r in roboflow_results] == [len(r["predictions"]) for r in roboflow_results]


def test_outputs_equal_depthgraphs_own_engine(roboflow_results: list[dict[str, Any]],
                                              depthgraph_results: list[dict[str, Any]]) -> None:
    for ours, theirs in zip(depthgraph_results, roboflow_results):
        np.testing.assert_array_equal(theirs["depth"], ours["depth"])
        np.testing.assert_array_equal(theirs["intrinsics"], ours["intrinsics"])
        np.testing.assert_array_equal(theirs["colour"].numpy_image, ours["colour"].numpy_image)
        np.testing.assert_array_equal(theirs["cloud"].points, ours["cloud"].points)
        np.testing.assert_array_equal(theirs["cloud"].colors, ours["cloud"].colors)
        assert theirs["num_points"] == ours["num_points"]
        assert theirs["depths"] == ours["depths"]
        detections: sv.Detections = theirs["predictions"]
        assert len(detections) == len(ours["predictions"])
        # Roboflow hands detections out in the input photo's coordinates: shifted by the crop
        origin = theirs["blurred"].parent_metadata.origin_coordinates
        offset = np.array([origin.left_top_x, origin.left_top_y])
        if len(detections):
            np.testing.assert_allclose(detections.xyxy, ours["predictions"].xyxy + np.tile(offset, 2))
            np.testing.assert_array_equal(detections.data["depth"], ours["predictions"].data["depth"])


def test_depth_outputs_line_up_with_roboflows_crops(roboflow_results: list[dict[str, Any]]) -> None:
    for result in roboflow_results:
        crop, colour = result["blurred"], result["colour"]
        assert colour.parent_metadata == crop.parent_metadata
        assert colour.workflow_root_ancestor_metadata == crop.workflow_root_ancestor_metadata
        origin = crop.parent_metadata.origin_coordinates
        assert (origin.left_top_x, origin.left_top_y) != (0, 0)  # really a crop
        detections = result["predictions"]
        if len(detections):  # handed out in the photo's coordinates, so the photo is the parent
            root = crop.workflow_root_ancestor_metadata.parent_id
            assert set(detections.data["parent_id"]) == {root}
            assert set(detections.data["root_parent_id"]) == {root}
            assert len(set(detections.data["detection_id"])) == len(detections)
    roots = {r["blurred"].workflow_root_ancestor_metadata.parent_id for r in roboflow_results}
    assert len(roots) == 2


def test_roboflow_drew_on_a_copy_of_depthgraphs_colour_map(
    roboflow_results: list[dict[str, Any]], depthgraph_results: list[dict[str, Any]]
) -> None:
    with_face = roboflow_results[0]
    assert not np.array_equal(with_face["annotated"].numpy_image, with_face["colour"].numpy_image)
    np.testing.assert_array_equal(with_face["colour"].numpy_image,
                                  depthgraph_results[0]["colour"].numpy_image)


def _roboflow_server_json(value: Any) -> str:
    """JSON as Roboflow's server writes it: its image serialiser leaves a datetime inside
    ``video_metadata`` (its HTTP layer encodes those); anything else must already be JSON."""

    def only_datetimes(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.isoformat()
        raise TypeError(f"not JSON: {type(item).__name__}")

    return json.dumps(value, default=only_datetimes)


def test_serialized_results_are_json(engine: Any, photos: list[np.ndarray],
                                     roboflow_results: list[dict[str, Any]]) -> None:
    serialized = engine.run(runtime_parameters={"image": [p.copy() for p in photos]},
                            serialize_results=True)
    decoded = json.loads(_roboflow_server_json(serialized))
    for plain, out, raw in zip(serialized, decoded, roboflow_results):
        # depthgraph's kinds: plain JSON, with no help from an encoder
        for name in ("depth", "intrinsics", "cloud", "num_points", "depths", "predictions"):
            json.dumps(plain[name])
        assert out["depth"]["type"] == "depth_map" and out["depth"]["unit"] == "relative"
        np.testing.assert_allclose(np.array(out["depth"]["values"], dtype=np.float32), raw["depth"].values)
        assert np.array(out["intrinsics"]).shape == (3, 3)
        assert out["cloud"]["type"] == "point_cloud"
        assert out["cloud"]["num_points"] == raw["num_points"]
        assert out["colour"]["type"] == "base64" and out["colour"]["value"]
        assert len(out["predictions"]["predictions"]) == raw["face_count"]


def test_a_wrong_property_is_roboflows_compilation_error_naming_the_step(weights: Path) -> None:
    definition = load_definition(MIXED_ROBOFLOW)
    cases = [
        (("colour", "colormap", "rainbow-ish"), "colormap"),
        (("cloud", "stride", 0), "stride"),
        (("colour", "percentile_low", 99.5), None),  # depthgraph's own cross-field check
        (("faces", "bogus", 1), "bogus"),
    ]
    for (step, prop, value), property_name in cases:
        with pytest.raises(WorkflowSyntaxError) as caught:
            roboflow_engine(with_step_property(definition, step, prop, value))
        (error,) = caught.value.blocks_errors
        assert error.block_id == step
        assert error.property_name == property_name
    with pytest.raises(WorkflowSyntaxError) as caught:
        roboflow_engine(with_step_property(definition, "colour", "percentile_low", 99.5))
    assert "percentile_low (99.5) must be below percentile_high" in caught.value.blocks_errors[0].property_details


def test_point_cloud_export_from_a_depth_input(tmp_path: Path) -> None:
    """depth_map as a runtime input (the plugin's deserialiser), the PLY sink inside Roboflow."""
    depth = np.linspace(1.0, 2.0, 12 * 16, dtype=np.float32).reshape(12, 16)
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowBatchInput", "name": "depth", "kind": ["depth_map"]}],
        "steps": [
            {"type": "depthgraph/point_cloud_projection@v1", "name": "cloud",
             "depth": "$inputs.depth", "fov_degrees": 70.0, "remove_edges": False},
            {"type": "depthgraph/point_cloud_export@v1", "name": "save",
             "point_cloud": "$steps.cloud.point_cloud", "output_directory": str(tmp_path),
             "file_prefix": "frame"},
        ],
        "outputs": [
            {"type": "JsonField", "name": "file", "selector": "$steps.save.file_path"},
            {"type": "JsonField", "name": "count", "selector": "$steps.save.num_points"},
        ],
    }
    (result,) = roboflow_engine(definition).run(runtime_parameters={"depth": [depth.tolist()]})
    written = Path(result["file"])
    assert result["count"] == depth.size
    assert written.parent == tmp_path and written.suffix == ".ply"
    assert written.read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\n")
    with pytest.raises(Exception, match="depth_map"):
        roboflow_engine(definition).run(runtime_parameters={"depth": [[1.0, 2.0, 3.0]]})
