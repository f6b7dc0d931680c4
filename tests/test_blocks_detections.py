"""detections_depth, cascade detection and the box / label visualization blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from blocks_helpers import (
    detections,
    gradient_image,
    load_example_image,
    wrap,
)

from depthgraph.blocks.cascade_detection import CascadeDetectionBlock, get_detector
from depthgraph.blocks.detections_depth import DetectionsDepthBlock, central_box_region
from depthgraph.blocks.visualization import (
    BoundingBoxVisualizationBlock,
    LabelVisualizationBlock,
    detection_labels,
)


def _box_scene() -> np.ndarray:
    """Background at 10 m; a 40x40 box whose central half is at 2 m and whose rim is at 10 m."""
    depth = np.full((100, 120), 10.0, np.float32)
    depth[30:50, 40:60] = 2.0  # central half of box (30, 20)-(70, 60)
    return depth


def test_known_box_median_depth_ignores_the_background_rim() -> None:
    dets = detections([[30, 20, 70, 60]])
    out = DetectionsDepthBlock().run(predictions=dets, depth=_box_scene())
    assert out["depths"] == [pytest.approx(2.0)]
    data = out["predictions"].data
    assert data["depth"][0] == pytest.approx(2.0)
    assert data["depth_min"][0] == pytest.approx(2.0) and data["depth_max"][0] == pytest.approx(2.0)
    assert "position_3d" not in data
    assert "depth" not in dets.data  # the input detections are not modified


def test_median_over_the_mask_when_present() -> None:
    depth = np.full((50, 50), 8.0, np.float32)
    depth[10:20, 10:20] = np.arange(100, dtype=np.float32).reshape(10, 10)
    mask = np.zeros((1, 50, 50), bool)
    mask[0, 10:20, 10:20] = True
    dets = detections([[0, 0, 49, 49]], mask=mask)
    out = DetectionsDepthBlock().run(predictions=dets, depth=depth)
    assert out["depths"][0] == pytest.approx(49.5)
    assert out["predictions"].data["depth_min"][0] == 0.0
    assert out["predictions"].data["depth_max"][0] == 99.0


def test_position_3d_with_intrinsics() -> None:
    # fx != fy and cx != cy: using one for the other moves the point
    matrix = np.array([[100.0, 0, 60.0], [0, 400.0, 25.0], [0, 0, 1]])
    out = DetectionsDepthBlock().run(predictions=detections([[30, 20, 70, 60]]), depth=_box_scene(), intrinsics=matrix)
    position = out["predictions"].data["position_3d"]
    assert position.shape == (1, 3)
    # box centre (50, 40) at 2 m
    np.testing.assert_allclose(position[0], [(50 - 60) * 2.0 / 100, (40 - 25) * 2.0 / 400, 2.0])


def test_empty_outside_and_zero_area_boxes_are_handled() -> None:
    depth = _box_scene()
    empty = DetectionsDepthBlock().run(predictions=detections([]), depth=depth, intrinsics=np.eye(3))
    assert empty["depths"] == [] and len(empty["predictions"]) == 0
    assert empty["predictions"].data["position_3d"].shape == (0, 3)

    dets = detections([[500, 500, 600, 600], [50, 40, 50, 40], [-30, -30, -10, -10]])
    out = DetectionsDepthBlock().run(predictions=dets, depth=depth, intrinsics=np.eye(3))
    assert out["depths"][0] is None and out["depths"][2] is None
    assert out["depths"][1] == pytest.approx(2.0)  # a zero-area box reads its own pixel
    assert math.isnan(out["predictions"].data["depth"][0])


def test_central_box_region_bounds() -> None:
    assert central_box_region(np.array([30, 20, 70, 60]), 100, 120) == (30, 50, 40, 60)
    assert central_box_region(np.array([110, 90, 200, 200]), 100, 120)[0:2] == (90 + 55 // 2, 100)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"predictions": [[1, 2, 3, 4]]}, "property 'predictions'"),
        ({"depth": np.zeros((5, 5, 3))}, "property 'depth'"),
        ({"intrinsics": np.zeros((2, 2))}, "property 'intrinsics'"),
    ],
)
def test_detections_depth_bad_inputs(kwargs: dict, match: str) -> None:
    arguments = {"predictions": detections([[1, 1, 3, 3]]), "depth": np.ones((5, 5), np.float32)}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DetectionsDepthBlock().run(**arguments)


def test_cascade_finds_the_astronauts_face() -> None:
    image = wrap(load_example_image("astronaut"))
    out = CascadeDetectionBlock().run(image=image, cascade="frontal_face", scale_factor=1.2, min_neighbors=4, min_size=60)
    faces = out["predictions"]
    assert len(faces) == 1
    assert list(faces.data["class_name"]) == ["face"]
    x1, y1, x2, y2 = faces.xyxy[0]
    # her face is around columns 175-270, rows 65-160 of the 512x512 photo
    assert 150 < x1 < 200 and 40 < y1 < 90 and 240 < x2 < 300 and 140 < y2 < 190


def test_cascade_on_a_faceless_picture_returns_empty_detections() -> None:
    out = CascadeDetectionBlock().run(image=wrap(np.full((120, 160, 3), 127, np.uint8)), min_size=30)
    assert len(out["predictions"]) == 0
    assert out["predictions"].xyxy.shape == (0, 4)


def test_cascade_bad_inputs() -> None:
    with pytest.raises(ValueError, match="property 'image'"):
        CascadeDetectionBlock().run(image=np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="property 'cascade'"):
        get_detector("cat_face")


def test_cascade_detections_carry_the_image_size_into_inference_json() -> None:
    from depthgraph.engine.serialization import detections_to_inference_json

    image = wrap(load_example_image("astronaut"))
    found = CascadeDetectionBlock().run(image=image, cascade="frontal_face", min_size=60)["predictions"]
    assert detections_to_inference_json(found)["image"] == {"width": 512, "height": 512}
    blank = wrap(np.full((120, 160, 3), 127, np.uint8))
    empty = CascadeDetectionBlock().run(image=blank, min_size=30)["predictions"]
    assert detections_to_inference_json(empty) == {"image": {"width": 160, "height": 120}, "predictions": []}


@pytest.mark.parametrize(
    "cascade, image_name, min_neighbors, class_name",
    [
        ("profile_face", "astronaut", 1, "face"),
        ("full_body", "chelsea", 0, "person"),
        ("upper_body", "astronaut", 1, "upper_body"),
        ("eyes", "astronaut", 1, "eye"),
    ],
)
def test_every_bundled_cascade_loads_and_runs(cascade, image_name, min_neighbors, class_name) -> None:
    # Loose settings on an image where each cascade responds: an empty result would mean the
    # cascade did not load or did not run (the shape of an empty result proves nothing).
    image = load_example_image(image_name)
    out = CascadeDetectionBlock().run(image=wrap(image), cascade=cascade, min_neighbors=min_neighbors, min_size=10)
    found = out["predictions"]
    assert len(found) >= 1
    assert set(found.data["class_name"]) == {class_name}
    height, width = image.shape[:2]
    assert (found.xyxy[:, :2] >= 0).all() and (found.xyxy[:, 2] <= width).all() and (found.xyxy[:, 3] <= height).all()
    assert (found.xyxy[:, 2:] > found.xyxy[:, :2]).all()


def test_box_and_label_visualization_draw_on_a_copy() -> None:
    picture = wrap(np.zeros((80, 100, 3), np.uint8), parent_id="p1")
    dets = detections([[10, 20, 60, 70]], names=["face"])
    dets.data["depth"] = np.array([1.234])
    boxes = BoundingBoxVisualizationBlock().run(image=picture, predictions=dets, thickness=3)["image"]
    assert boxes.parent_id == "p1"
    assert not picture.numpy_image.any()  # input untouched
    assert boxes.numpy_image[45, 10].any() and not boxes.numpy_image[45, 35].any()
    labelled = LabelVisualizationBlock().run(image=boxes, predictions=dets, text="Class and Data")["image"]
    assert labelled.parent_id == "p1"
    assert (labelled.numpy_image != boxes.numpy_image).any()


def test_labels_show_data_fields_formatted() -> None:
    dets = detections([[0, 0, 5, 5], [1, 1, 6, 6]], names=["face", "cat"])
    dets.data["depth"] = np.array([1.234, np.nan])
    dets.data["position_3d"] = np.array([[0.1, 0.2, 1.234], [np.nan, np.nan, np.nan]])
    assert detection_labels(dets, "Class and Data", "depth", "{:.1f} m") == ["face 1.2 m", "cat n/a"]
    assert detection_labels(dets, "Data", "position_3d", "{:.1f}") == ["(0.1, 0.2, 1.2)", "(n/a, n/a, n/a)"]
    assert detection_labels(dets, "Class and Confidence", "depth", "{}") == ["face 0.90", "cat 0.50"]
    assert detection_labels(dets, "Index", "depth", "{}") == ["0", "1"]
    with pytest.raises(ValueError, match="property 'data_field'.*'distance'"):
        detection_labels(dets, "Data", "distance", "{:.2f}")


def test_visualization_bad_inputs() -> None:
    picture = wrap(gradient_image())
    with pytest.raises(ValueError, match="property 'predictions'"):
        BoundingBoxVisualizationBlock().run(image=picture, predictions={"predictions": []})
    with pytest.raises(ValueError, match="property 'image'"):
        LabelVisualizationBlock().run(image=np.zeros((4, 4, 3), np.uint8), predictions=detections([]))
    with pytest.raises(ValueError, match="property 'color_axis'"):
        BoundingBoxVisualizationBlock().run(image=picture, predictions=detections([[1, 1, 5, 5]]), color_axis="TRACK")
