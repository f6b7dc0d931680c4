"""Depth as a value: DepthMap through the encoders, the writers and the depth-consuming blocks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depthgraph.blocks.colormap import DepthColormapBlock
from depthgraph.blocks.depth_stabilizer import DepthStabilizerBlock
from depthgraph.blocks.depth_utils import as_depth_map
from depthgraph.blocks.detections_depth import DetectionsDepthBlock, central_box_region
from depthgraph.blocks.point_cloud import PointCloudProjectionBlock
from depthgraph.engine.encoders import npy_bytes, png16_decode, png16_encode
from depthgraph.engine.serialization import array_from_json, depth_map_from_json, serialize_value
from depthgraph.engine.values import DepthMap, VideoMetadata
from depthgraph.video.sinks import RESULTS_JSONL, VideoOutputWriter


def _ramp(height: int = 12, width: int = 16) -> np.ndarray:
    return np.linspace(1.0, 3.0, height * width, dtype=np.float32).reshape(height, width)


def test_png16_round_trip_within_one_step_and_nan_written_as_zero() -> None:
    values = _ramp()
    values[0, 0] = np.nan
    data, scale = png16_encode(values)
    assert scale == {"min": pytest.approx(float(np.nanmin(values))), "max": pytest.approx(3.0)}
    back = png16_decode(data, scale["min"], scale["max"])
    finite = np.isfinite(values)
    np.testing.assert_allclose(back[finite], values[finite], atol=(3.0 - scale["min"]) / 65535)
    assert back[0, 0] == pytest.approx(scale["min"])  # NaN became pixel 0
    flat, flat_scale = png16_encode(np.full((3, 3), 7.0, np.float32))
    assert flat_scale == {"min": 7.0, "max": 7.0}
    np.testing.assert_array_equal(png16_decode(flat, 7.0, 7.0), np.full((3, 3), 7.0, np.float32))


def test_npy_bytes_of_a_depth_map_are_its_float32_values(tmp_path) -> None:
    depth = DepthMap(values=_ramp(), unit="m")
    path = tmp_path / "d.npy"
    path.write_bytes(npy_bytes(depth))
    loaded = np.load(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, depth.values)


@pytest.mark.parametrize("array_format", ["list", "base64", "png16"])
def test_json_of_a_depth_map_says_its_unit_and_keeps_the_array_format(array_format: str) -> None:
    depth = DepthMap(values=_ramp(), unit="cm", source="aligned to given cameras", parent_id="p1")
    out = serialize_value(depth, array_format=array_format)
    json.dumps(out, allow_nan=False)
    assert out["type"] == "depth_map" and out["unit"] == "cm" and out["metric"] is True
    assert (out["height"], out["width"]) == (12, 16) and out["parent_id"] == "p1"
    assert out["source"] == "aligned to given cameras"
    expected_type = {"list": list, "base64": dict, "png16": dict}[array_format]
    assert isinstance(out["values"], expected_type)
    if array_format != "list":
        assert out["values"]["type"] == {"base64": "numpy_array", "png16": "png16"}[array_format]
    atol = 2.0 / 65535 if array_format == "png16" else 0.0
    np.testing.assert_allclose(array_from_json(out), depth.values, atol=atol)
    back = depth_map_from_json(out)
    assert back.unit == "cm" and back.source == depth.source and back.parent_id == "p1"
    np.testing.assert_allclose(back.values, depth.values, atol=atol)


def test_relative_depth_json_is_not_metric_and_a_bare_array_reads_as_relative() -> None:
    out = serialize_value(DepthMap(values=np.ones((2, 2), np.float32)))
    assert out["unit"] == "relative" and out["metric"] is False
    assert depth_map_from_json([[1.0, 2.0], [3.0, None]]).unit == "relative"


def test_video_sink_line_summarises_a_depth_map_with_its_unit(tmp_path) -> None:
    writer = VideoOutputWriter(tmp_path, fps=10.0)
    meta = VideoMetadata(video_identifier="v", frame_number=0, frame_timestamp=0.0, fps=10.0)
    writer.write(meta, {"depth": DepthMap(values=_ramp(), unit="m"), "small": np.eye(3)})
    writer.close()
    line = json.loads((tmp_path / RESULTS_JSONL).read_text().splitlines()[0])
    depth = line["outputs"]["depth"]
    assert depth["type"] == "depth_map" and depth["unit"] == "m"
    assert depth["shape"] == [12, 16] and depth["min"] == pytest.approx(1.0) and depth["max"] == pytest.approx(3.0)
    assert line["outputs"]["small"] == np.eye(3).tolist()


def test_as_depth_map_takes_a_depth_map_as_is_and_wraps_a_bare_array_as_relative() -> None:
    depth = DepthMap(values=_ramp(), unit="m")
    assert as_depth_map(depth) is depth
    wrapped = as_depth_map(_ramp()[:, :, None])
    assert wrapped.unit == "relative" and wrapped.shape == (12, 16)


def _sky_top_rows(unit: str = "relative") -> DepthMap:
    values = _ramp()
    valid = np.ones(values.shape, bool)
    valid[:4] = False  # the top rows are sky: their values must not be used
    return DepthMap(values=values, unit=unit, valid=valid, sky=~valid)


def test_point_cloud_leaves_out_pixels_outside_the_valid_mask() -> None:
    depth = _sky_top_rows()
    out = PointCloudProjectionBlock().run(depth=depth, remove_edges=False)
    cloud = out["point_cloud"]
    assert len(cloud) == 8 * 16
    assert (cloud.pixels[:, 1] >= 4).all()


def test_detections_depth_ignores_invalid_pixels_and_reports_the_unit() -> None:
    import supervision as sv

    depth = _sky_top_rows(unit="m")
    boxes = sv.Detections(xyxy=np.array([[0, 0, 16, 12]], dtype=np.float32))
    out = DetectionsDepthBlock().run(predictions=boxes, depth=depth)
    r0, r1, c0, c1 = central_box_region(boxes.xyxy[0], 12, 16)
    assert r0 < 4 < r1  # the box's central half reaches into the sky rows
    lowest_valid = float(depth.values[4:r1, c0:c1].min())
    assert out["predictions"].data["depth_min"][0] == pytest.approx(lowest_valid)
    assert list(out["predictions"].data["depth_unit"]) == ["m"]


def test_colour_map_draws_invalid_pixels_as_no_data() -> None:
    depth = _sky_top_rows()
    nan_version = depth.values.copy()
    nan_version[:4] = np.nan
    masked = DepthColormapBlock().run(depth=depth)["image"].numpy_image
    as_nan = DepthColormapBlock().run(depth=nan_version)["image"].numpy_image
    np.testing.assert_array_equal(masked, as_nan)


def test_stabiliser_keeps_the_unit_and_masks_of_its_input() -> None:
    depth = _sky_top_rows(unit="m")
    out = DepthStabilizerBlock().run(depth=depth)  # a still image: nothing to align to
    assert out["depth"].unit == "m" and out["depth"].sky is not None
    assert out["normalized_depth"][:4].max() == 0.0  # sky is not part of the range
