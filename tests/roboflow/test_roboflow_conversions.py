"""Values crossing between Roboflow's engine and depthgraph's blocks (no model involved)."""

from __future__ import annotations

from datetime import datetime, timezone

from roboflow_helpers import require_roboflow

require_roboflow()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import supervision as sv  # noqa: E402
from roboflow_workflows.errors import RuntimeInputError  # noqa: E402
from roboflow_workflows.execution_engine.entities.base import (  # noqa: E402
    Batch,
    ImageParentMetadata,
)
from roboflow_workflows.execution_engine.entities.base import (  # noqa: E402
    VideoMetadata as RoboflowVideoMetadata,
)
from roboflow_workflows.execution_engine.entities.base import (  # noqa: E402
    WorkflowImageData as RoboflowImage,
)

from depthgraph.engine.values import DepthMap, PointCloud, VideoMetadata, WorkflowImageData  # noqa: E402
from depthgraph.roboflow.conversions import (  # noqa: E402
    detections_to_roboflow,
    image_to_depthgraph,
    image_to_roboflow,
    value_to_depthgraph,
    video_metadata_to_depthgraph,
    video_metadata_to_roboflow,
)
from depthgraph.roboflow.serializers import KINDS_DESERIALIZERS, KINDS_SERIALIZERS  # noqa: E402


def photo(height: int = 40, width: int = 60) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 4 % 256, ys * 6 % 256, (xs + ys) % 256], axis=2).astype(np.uint8)


def crop_of(pixels: np.ndarray) -> RoboflowImage:
    """A Roboflow crop (offset 10, 5) of an input image, as Roboflow's crop blocks make them."""
    parent = RoboflowImage(parent_metadata=ImageParentMetadata(parent_id="image.[0]"),
                           numpy_image=pixels)
    return RoboflowImage.create_crop(origin_image_data=parent, crop_identifier="crop-1",
                                     cropped_image=pixels[5:35, 10:50].copy(), offset_x=10,
                                     offset_y=5)


def test_a_derived_image_keeps_the_crops_whole_metadata() -> None:
    crop = crop_of(photo())
    ours = image_to_depthgraph(crop)
    assert ours.parent_id == "crop-1" and ours.numpy_image.shape == (30, 40, 3)
    derived = ours.derive(255 - ours.numpy_image, suffix="negative")
    back = image_to_roboflow(derived, {"crop-1": crop})
    assert back.parent_metadata == crop.parent_metadata
    assert back.workflow_root_ancestor_metadata == crop.workflow_root_ancestor_metadata
    assert back.workflow_root_ancestor_metadata.origin_coordinates.left_top_x == 10
    np.testing.assert_array_equal(back.numpy_image, 255 - crop.numpy_image)
    assert back.numpy_image.flags.writeable  # Roboflow's visualisations may draw in place
    back.numpy_image[0, 0] = 0  # and doing so leaves depthgraph's value alone
    assert derived.numpy_image[0, 0, 0] == 255 - crop.numpy_image[0, 0, 0]


def test_an_image_without_a_source_gets_its_own_parent() -> None:
    alone = WorkflowImageData(numpy_image=photo(8, 8), parent_id="p9")
    back = image_to_roboflow(alone, {})
    assert back.parent_metadata.parent_id == "p9"
    assert back.numpy_image.shape == (8, 8, 3)


def test_single_channel_roboflow_images_become_three_channels() -> None:
    gray = RoboflowImage(parent_metadata=ImageParentMetadata(parent_id="g"),
                         numpy_image=photo()[:, :, 0].copy())
    ours = image_to_depthgraph(gray)
    assert ours.numpy_image.shape == (40, 60, 3)
    np.testing.assert_array_equal(ours.numpy_image[:, :, 2], gray.numpy_image)


def test_video_metadata_both_ways() -> None:
    frame = RoboflowVideoMetadata(video_identifier="cam", frame_number=50,
                                  frame_timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc),
                                  fps=25.0, comes_from_video_file=True)
    ours = video_metadata_to_depthgraph(frame)
    assert (ours.video_identifier, ours.frame_number, ours.frame_timestamp, ours.fps) == ("cam", 50, 2.0, 25.0)
    live = frame.model_copy(update={"comes_from_video_file": False})
    assert video_metadata_to_depthgraph(live).frame_timestamp == frame.frame_timestamp.timestamp()
    back = video_metadata_to_roboflow(VideoMetadata("v", 3, 1.5, 30.0, False))
    assert (back.video_identifier, back.frame_number, back.fps) == ("v", 3, 30.0)
    assert back.frame_timestamp.timestamp() == 1.5
    image = RoboflowImage(parent_metadata=ImageParentMetadata(parent_id="f"),
                          numpy_image=photo(), video_metadata=frame)
    assert image_to_depthgraph(image).video_metadata == ours
    still = RoboflowImage(parent_metadata=ImageParentMetadata(parent_id="s"), numpy_image=photo())
    assert image_to_depthgraph(still).video_metadata is None  # not Roboflow's made-up one


def test_batches_become_lists() -> None:
    crop = crop_of(photo())
    batch = Batch(content=[crop, None], indices=[(0,), (1,)])
    converted = value_to_depthgraph(batch)
    assert isinstance(converted, list) and converted[1] is None
    assert isinstance(converted[0], WorkflowImageData)


def test_new_detections_get_roboflows_keys_and_the_input_is_untouched() -> None:
    crop = crop_of(photo())
    found = sv.Detections(xyxy=np.array([[1, 2, 11, 12], [5, 5, 9, 9]], dtype=np.float32),
                          confidence=np.array([0.9, 0.5]), class_id=np.array([0, 0]),
                          data={"class_name": np.array(["face", "face"])})
    out = detections_to_roboflow(found, crop)
    assert set(found.data) == {"class_name"}
    assert len(set(out.data["detection_id"])) == 2
    assert list(out.data["prediction_type"]) == ["object-detection"] * 2
    assert out.data["image_dimensions"].tolist() == [[30, 40], [30, 40]]
    assert set(out.data["parent_id"]) == {"crop-1"}
    assert set(out.data["root_parent_id"]) == {"image.[0]"}
    assert out.data["root_parent_coordinates"].tolist() == [[10, 5], [10, 5]]
    assert detections_to_roboflow(out, crop) is out  # already Roboflow's: unchanged


def test_serialisers_and_deserialisers_of_the_new_kinds() -> None:
    depth = np.array([[1.0, np.nan], [2.5, 3.0]], dtype=np.float32)
    assert KINDS_SERIALIZERS["depth_map"](depth) == [[1.0, None], [2.5, 3.0]]
    assert KINDS_SERIALIZERS["camera_intrinsics"](np.eye(3, dtype=np.float32))[2] == [0.0, 0.0, 1.0]
    cloud = PointCloud(points=np.zeros((4, 3)), parent_id="p")
    summary = KINDS_SERIALIZERS["point_cloud"](cloud)
    assert summary["num_points"] == 4 and summary["parent_id"] == "p" and summary["unit"] == "relative"
    assert KINDS_SERIALIZERS["point_cloud"](PointCloud(points=np.zeros((4, 3)), unit="m"))["unit"] == "m"
    with pytest.raises(TypeError):
        KINDS_SERIALIZERS["point_cloud"]([1, 2, 3])
    metric = DepthMap(values=depth, unit="m", source="test")
    serialized = KINDS_SERIALIZERS["depth_map"](metric)
    assert serialized["type"] == "depth_map" and serialized["unit"] == "m" and serialized["metric"] is True
    assert serialized["values"] == [[1.0, None], [2.5, 3.0]]
    parsed = KINDS_DESERIALIZERS["depth_map"]("depth", [[1, 2], [3, 4]])
    assert isinstance(parsed, DepthMap) and parsed.unit == "relative"
    assert parsed.values.dtype == np.float32 and parsed.shape == (2, 2)
    back = KINDS_DESERIALIZERS["depth_map"]("depth", serialized)
    assert back.unit == "m" and back.source == "test"
    np.testing.assert_array_equal(back.values, depth)
    with pytest.raises(RuntimeInputError, match="input `k` of kind `camera_intrinsics` must be a 3x3"):
        KINDS_DESERIALIZERS["camera_intrinsics"]("k", [[1, 0], [0, 1]])
    with pytest.raises(RuntimeInputError, match="input `d` of kind `depth_map`"):
        KINDS_DESERIALIZERS["depth_map"]("d", "not an array")
