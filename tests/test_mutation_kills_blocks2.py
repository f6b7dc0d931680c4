"""Promises of the geometry, depth and detection blocks, the pinhole geometry and the engine's
compiler and executor that the widened mutation run (issue 18, item 11) found unguarded: each test
asserts what a block or function promises (its docstring, manifest description or the error
standard: an error names the property it is about), on data where a wrong implementation gives a
different answer. Grouped by module; kept fast, since mutmut re-runs it for every mutant."""

from __future__ import annotations

import math

import numpy as np
import pytest
from blocks_helpers import detections, load_example_image, wrap
from engine_helpers import SumBlock

from depthgraph.blocks.cascade_detection import CascadeDetectionBlock, get_detector
from depthgraph.blocks.depth_estimation import _camera_arguments, check_images
from depthgraph.blocks.detections_depth import DetectionsDepthBlock
from depthgraph.blocks.metric_alignment import MetricAlignmentBlock
from depthgraph.blocks.multiview_depth import SceneValue, _reference
from depthgraph.blocks.point_cloud import (
    PointCloudExportBlock,
    PointCloudProjectionBlock,
    camera_matrix,
)
from depthgraph.blocks.scene_point_cloud import ScenePointCloudBlock
from depthgraph.engine.compiler import _named_field, suggest_block_types
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.registry import load_registry
from depthgraph.engine.values import DepthMap, PointCloud
from depthgraph.engine.workflow import Workflow

# --- depthgraph.blocks.point_cloud ---------------------------------------------------------------


def _project(**kwargs):
    return PointCloudProjectionBlock().run(**kwargs)


def test_camera_matrix_is_the_pinhole_matrix_of_the_first_camera_source_given():
    expected = np.array([[100.0, 0.0, 3.0], [0.0, 50.0, 2.0], [0.0, 0.0, 1.0]])
    matrix = camera_matrix(6, 8, fx=100.0, fy=50.0, cx=3.0, cy=2.0)
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, expected)
    # one focal length alone serves for both; the centre defaults to the image's
    only_fy = np.array([[40.0, 0.0, 3.5], [0.0, 40.0, 2.5], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(camera_matrix(6, 8, fy=40.0), only_fy)
    np.testing.assert_array_equal(camera_matrix(6, 8, fx=40.0), only_fy)
    # a narrow field of view is a valid camera: (0, 180) is open only at its ends
    narrow = camera_matrix(6, 8, fov_degrees=0.5)
    assert narrow[0, 0] == pytest.approx(4.0 / math.tan(math.radians(0.25)))


def test_projection_uses_the_given_camera_and_a_sixty_degree_view_by_default():
    depth = np.full((6, 8), 2.0, np.float32)
    out = _project(depth=depth, remove_edges=False, fx=100.0, fy=50.0, cx=1.0, cy=2.0)
    points, pixels = out["point_cloud"].points, out["point_cloud"].pixels
    u, v = pixels[:, 0].astype(np.float64), pixels[:, 1].astype(np.float64)
    np.testing.assert_allclose(points[:, 0], (u - 1.0) * 2.0 / 100.0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(points[:, 1], (v - 2.0) * 2.0 / 50.0, rtol=1e-6, atol=1e-7)
    # no camera given: horizontal field of view 60 degrees, square pixels, centred
    out = _project(depth=depth, remove_edges=False)
    focal = 4.0 / math.tan(math.radians(30.0))
    first = out["point_cloud"].points[0]  # pixel (0, 0)
    np.testing.assert_allclose(first, [-3.5 * 2.0 / focal, -2.5 * 2.0 / focal, 2.0], rtol=1e-6)


@pytest.mark.parametrize(
    ("camera", "prop"),
    [
        ({"cx": "left"}, "cx"),
        ({"cy": "top"}, "cy"),
        ({"fx": "wide"}, "fx"),
        ({"fy": "tall"}, "fy"),  # fy alone stands for both
        ({"fx": 50.0, "fy": "tall"}, "fy"),
        ({"fov_degrees": 0.0}, "fov_degrees"),
    ],
)
def test_camera_mistakes_name_the_property(camera, prop):
    with pytest.raises(StepInputError, match=f"'{prop}'"):
        _project(depth=np.ones((4, 4), np.float32), **camera)


@pytest.mark.parametrize(("fx", "fy"), [(0.0, 5.0), (5.0, 0.0), (-1.0, 5.0)])
def test_both_focal_lengths_must_be_positive(fx, fy):
    with pytest.raises(StepInputError, match="'fx'/'fy'"):
        camera_matrix(4, 4, fx=fx, fy=fy)


def test_projection_input_mistakes_name_the_property_and_what_was_found():
    with pytest.raises(StepInputError, match="'depth'"):
        _project(depth="far away")
    with pytest.raises(StepInputError, match="'confidence'"):
        _project(depth=np.ones((4, 4), np.float32), confidence="high")
    with pytest.raises(StepInputError, match="'image'.*ndarray"):
        _project(depth=np.ones((4, 4), np.float32), image=np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(StepInputError, match="'point_cloud'.*ndarray"):
        PointCloudExportBlock().run(point_cloud=np.zeros((3, 3), np.float32))


def test_edge_removal_keeps_invalid_pixels_out():
    values = np.full((6, 8), 2.0, np.float32)
    valid = np.ones((6, 8), bool)
    valid[:2] = False  # outside a crop
    out = _project(depth=DepthMap(values, valid=valid))  # remove_edges on by default
    assert out["num_points"] == 48 - 16
    assert out["point_cloud"].pixels[:, 1].min() == 2


def test_colours_come_from_the_same_place_of_an_image_at_another_resolution():
    image = np.zeros((8, 12, 3), np.uint8)
    image[:, :6] = (0, 0, 255)  # BGR: left half red
    image[:, 6:] = (255, 0, 0)  # right half blue
    out = _project(depth=np.ones((4, 6), np.float32), image=wrap(image), remove_edges=False)
    cloud = out["point_cloud"]
    left = cloud.pixels[:, 0] < 3
    assert np.all(cloud.colors[left] == (255, 0, 0)) and np.all(cloud.colors[~left] == (0, 0, 255))


def test_export_names_files_after_a_safe_shortened_image_id_in_the_default_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cloud = PointCloud(points=np.ones((2, 3), np.float32), parent_id="cam/" + "a" * 100)
    out = PointCloudExportBlock().run(point_cloud=cloud)
    written = tmp_path / "depthgraph_outputs" / ("point_cloud_cam_" + "a" * 76 + ".ply")
    assert written.is_file() and out["num_points"] == 2


def test_export_refusing_a_folder_in_the_files_place_names_the_prefix(tmp_path):
    cloud = PointCloud(points=np.ones((2, 3), np.float32), parent_id="img0")
    (tmp_path / "pc_img0.ply").mkdir()
    with pytest.raises(StepInputError, match="'file_prefix'"):
        PointCloudExportBlock().run(point_cloud=cloud, output_directory=str(tmp_path), file_prefix="pc")


# --- depthgraph.blocks.scene_point_cloud and the scene value of multiview_depth ------------------


def _scene(view_ids: list[str]) -> SceneValue:
    """A two-view scene as the network would give it (3x4 pixels a view; the second camera one
    unit to the right), built without running the network."""
    from depthgraph.models.depth_anything_v3.scene import ScenePrediction  # torch: only scene tests pay

    depth = np.stack([np.full((3, 4), 2.0, np.float32), np.full((3, 4), 3.0, np.float32)])
    k = np.array([[2.0, 0.0, 1.5], [0.0, 2.0, 1.0], [0.0, 0.0, 1.0]], np.float32)
    extrinsics = np.zeros((2, 3, 4), np.float32)
    extrinsics[:, :, :3] = np.eye(3)
    extrinsics[1, 0, 3] = -1.0
    images = np.zeros((2, 3, 4, 3), np.uint8)
    images[0, :, :] = (200, 10, 10)
    images[1, :, :] = (10, 200, 10)
    images[:, 0, 0] = (1, 2, 3)
    prediction = ScenePrediction(
        views=[], reference_view=0, processed_size=(3, 4), geometry=[], _depth=depth,
        _confidence=np.full((2, 3, 4), 2.0, np.float32), _intrinsics=np.stack([k, k]),
        _extrinsics=extrinsics, _images=images,
    )  # fmt: skip
    return SceneValue(prediction, view_ids, "depth-anything-v3/small")


def test_scene_cloud_is_the_fused_world_cloud_with_colours_pixels_and_the_scenes_name():
    scene = _scene(["left", "right"])
    expected = scene.prediction.point_cloud()
    out = ScenePointCloudBlock().run(scene=scene)  # frame "world" by default
    cloud = out["point_cloud"]
    assert out["num_points"] == 24 and cloud.frame == "world" and cloud.parent_id == "scene_left_right"
    np.testing.assert_array_equal(cloud.points, expected.points)
    np.testing.assert_array_equal(cloud.colors, expected.colors)
    np.testing.assert_array_equal(cloud.pixels, expected.pixels)
    assert scene.model_dump()["model_version"] == "depth-anything-v3/small"


def test_scene_cloud_in_the_display_frame_is_opengl_and_capped_at_max_points():
    scene = _scene(["left", "right"])
    out = ScenePointCloudBlock().run(scene=scene, frame="display")
    assert out["point_cloud"].frame == "opengl"
    np.testing.assert_array_equal(out["point_cloud"].points, scene.prediction.point_cloud().display_points())
    assert not np.allclose(out["point_cloud"].points, scene.prediction.point_cloud().points)
    assert ScenePointCloudBlock().run(scene=scene, max_points=5)["num_points"] == 5


def test_scene_cloud_name_is_cut_at_sixty_characters_of_view_ids_or_is_just_scene():
    long_ids = ["v" * 40, "w" * 40]
    out = ScenePointCloudBlock().run(scene=_scene(long_ids))
    assert out["point_cloud"].parent_id == "scene_" + ("v" * 40 + "_" + "w" * 40)[:60]
    assert ScenePointCloudBlock().run(scene=_scene([]))["point_cloud"].parent_id == "scene"


def test_reference_view_index_runs_from_zero_to_the_last_view():
    assert _reference(0, 3) == 0 and _reference(2, 3) == 2
    with pytest.raises(StepInputError, match="'reference'"):
        _reference(3, 3)


# --- depthgraph.blocks.cascade_detection ---------------------------------------------------------


def test_cascade_finds_the_astronauts_face_as_roboflow_style_detections():
    image = wrap(load_example_image("astronaut"))
    out = CascadeDetectionBlock().run(image=image)["predictions"]
    assert len(out) >= 1
    widths = out.xyxy[:, 2] - out.xyxy[:, 0]
    assert np.all(widths >= 30)  # min_size 30 by default
    assert np.all(out.confidence == 1.0) and np.all(out.class_id == 0)
    assert np.issubdtype(out.class_id.dtype, np.integer)
    assert list(out.data["class_name"]) == ["face"] * len(out)
    assert out.data["image_dimensions"].tolist() == [[image.height, image.width]] * len(out)
    # min_size and max_size bound the faces found; scale_factor sets the sizes tried
    side = int(widths.max())
    assert len(CascadeDetectionBlock().run(image=image, min_size=side + 40)["predictions"]) == 0
    assert len(CascadeDetectionBlock().run(image=image, max_size=side // 2)["predictions"]) == 0
    coarse = CascadeDetectionBlock().run(image=image, scale_factor=1.6)["predictions"]
    assert coarse.xyxy.tolist() != out.xyxy.tolist()


def test_cascade_detectors_are_built_once_and_image_mistakes_say_what_was_given():
    assert get_detector("eyes") is get_detector("eyes")
    with pytest.raises(StepInputError, match="'image'.*ndarray"):
        CascadeDetectionBlock().run(image=np.zeros((8, 8, 3), np.uint8))


# --- depthgraph.blocks.detections_depth ----------------------------------------------------------


def test_detections_depth_mistakes_say_what_was_given():
    with pytest.raises(StepInputError, match="'predictions'.*list"):
        DetectionsDepthBlock().run(predictions=[[0, 0, 2, 2]], depth=np.ones((4, 4), np.float32))
    assert DetectionsDepthBlock().run(predictions=detections([[0, 0, 2, 2]]), depth=np.ones((4, 4), np.float32))["depths"] == [1.0]


# --- depthgraph.blocks.metric_alignment ----------------------------------------------------------


def test_alignment_input_mistakes_name_the_index_and_what_was_given():
    relative = np.ones((4, 4), np.float32)
    metric = DepthMap(np.full((4, 4), 2.0, np.float32), unit="m")
    with pytest.raises(StepInputError, match=r"depth \[index 1\]"):
        MetricAlignmentBlock().run(depth=[relative, "far"], metric_depth=[metric, metric], min_pixels=1)
    with pytest.raises(StepInputError, match=r"'metric_depth' \[index 1\].*ndarray"):
        MetricAlignmentBlock().run(depth=[relative, relative], metric_depth=[metric, relative], min_pixels=1)


# --- depthgraph.blocks.depth_estimation ----------------------------------------------------------


def test_depth_estimation_camera_and_image_mistakes_are_refused_with_what_was_given():
    assert _camera_arguments("depth-anything-v3/metric-large", 179.5, None) == {"fov": 179.5}
    with pytest.raises(StepInputError, match="'fov'"):
        _camera_arguments("depth-anything-v3/metric-large", 180, None)
    with pytest.raises(StepInputError, match="'images'.*str"):
        check_images("photo.jpg")


# --- depthgraph.engine.compiler ------------------------------------------------------------------


def test_an_unknown_type_in_a_foreign_namespace_still_suggests_the_block_of_that_name():
    registry = load_registry(builtins=True, entry_points=False, env=False)
    # the whole identifier is too far from any (a long vendor prefix): the name after it decides
    foreign = "a_much_longer_vendor_prefix_for_blocks_written_elsewhere/metric_alignment@v1"
    assert suggest_block_types(foreign, registry)[0] == "depthgraph/metric_alignment@v1"
    assert suggest_block_types("depthgraph/metric_alignmnt@v1", registry)[0] == "depthgraph/metric_alignment@v1"


def test_a_whole_step_check_is_filed_under_the_property_its_message_names_first():
    fields = ["fx", "fy", "cx"]
    assert _named_field("'fy' needs 'fx' too (or give neither fx nor fy)", fields) == "fy"
    assert _named_field("fx_scaled is not a property; cx.", fields) == "cx"  # whole words only
    assert _named_field("the camera is incomplete", fields) == "?"


# --- depthgraph.engine.executor ------------------------------------------------------------------


def test_a_runtime_parameter_inside_a_list_property_reaches_every_element():
    definition = {
        "version": "1.0",
        "inputs": [
            {"type": "WorkflowImage", "name": "image"},
            {"type": "WorkflowParameter", "name": "k", "default_value": 3.0},
        ],
        "steps": [{"type": "test/sum@v1", "name": "sum", "values": ["$inputs.k", 1.5]}],
        "outputs": [{"type": "JsonField", "name": "total", "selector": "$steps.sum.total"}],
    }
    registry = load_registry(builtins=False, entry_points=False, env=False, blocks=[SumBlock])
    workflow = Workflow.from_definition(definition, registry=registry)
    images = [np.zeros((4, 4, 3), np.uint8)] * 2
    assert workflow.run(image=images) == [{"total": 4.5}] * 2
    assert workflow.run(image=images, k=0.5) == [{"total": 2.0}] * 2
