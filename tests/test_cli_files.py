"""Image files and output writing shared by ``run``, ``predict`` and the server."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from cli_helpers import encode, gradient_image, write_image
from depthgraph.engine.values import DepthMap, PointCloud, WorkflowImageData
from depthgraph.image_files import (ImageReadError, collect_images, decode_image_bytes,
                                    image_size_from_header, read_image)
from depthgraph.output_writer import write_result


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".gif"])
def test_header_size_matches_decoded_size(ext):
    image = gradient_image(37, 23)
    ok, data = cv2.imencode(ext, image)
    if not ok:
        pytest.skip(f"this OpenCV build cannot write {ext}")
    assert image_size_from_header(data.tobytes()) == (37, 23)
    assert decode_image_bytes(data.tobytes(), "x", max_pixels=37 * 23).shape == (23, 37, 3)
    with pytest.raises(ImageReadError, match="more than the limit"):
        decode_image_bytes(data.tobytes(), "x", max_pixels=37 * 23 - 1)


def test_progressive_jpeg_header():
    image = gradient_image(50, 40)
    ok, data = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_PROGRESSIVE), 1])
    assert ok and image_size_from_header(data.tobytes()) == (50, 40)


def test_unknown_format_refused_only_with_a_pixel_limit():
    ok, raster = cv2.imencode(".ras", gradient_image(8, 8))  # Sun raster: no header parser
    assert ok
    assert image_size_from_header(raster.tobytes()) is None
    assert decode_image_bytes(raster.tobytes(), "t", max_pixels=None).shape == (8, 8, 3)
    with pytest.raises(ImageReadError, match="not a PNG, JPEG"):
        decode_image_bytes(raster.tobytes(), "t", max_pixels=10_000)


def test_read_image_grey_alpha_and_16_bit(tmp_path):
    grey = (np.arange(12 * 10) % 256).astype(np.uint8).reshape(12, 10)
    (tmp_path / "g.png").write_bytes(encode(grey))
    assert read_image(tmp_path / "g.png").shape == (12, 10, 3)
    rgba = np.dstack([gradient_image(10, 12), np.full((12, 10), 128, np.uint8)])
    (tmp_path / "a.png").write_bytes(encode(rgba))
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgba[:, :, :3])
    deep = (grey.astype(np.uint16) * 257)
    (tmp_path / "d.png").write_bytes(encode(deep))
    np.testing.assert_array_equal(read_image(tmp_path / "d.png")[:, :, 0], grey)
    with pytest.raises(ImageReadError, match="cannot read file"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty image data"):
        read_image(tmp_path / "empty.png")


def test_collect_images_order_dedup_recursion(tmp_path):
    for name in ("b.png", "a.jpg", "sub/c.png"):
        write_image(tmp_path / name, gradient_image())
    (tmp_path / "readme.txt").write_text("x")
    found = collect_images([str(tmp_path), str(tmp_path / "a.jpg")])
    assert [p.name for p in found] == ["a.jpg", "b.png"]
    assert [p.name for p in collect_images([str(tmp_path)], recursive=True)] == [
        "a.jpg", "b.png", "c.png"]
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(ImageReadError, match="holds no image files"):
        collect_images([str(tmp_path / "emptydir")])


def test_write_result_layout_names_and_values(tmp_path):
    image = WorkflowImageData(numpy_image=gradient_image(6, 4))
    depth = np.linspace(1, 2, 24, dtype=np.float32).reshape(4, 6)
    depth[0, 0] = np.nan
    result = {
        "picture": image,
        "depth": DepthMap(values=depth, unit="m", source="a test"),
        "confidence": np.ones((20, 20), np.float32),
        "nested": {"a": image, "b": 2.5, "c": float("nan")},
        "crops": [image, image],
        "cloud": PointCloud(points=np.zeros((2, 3))),
        "results": "a name that would collide",
        "weird/name": 1,
    }
    files = write_result(result, tmp_path / "x", extra={"images": {"image": "p.png"}})
    names = sorted(p.name for p in files)
    assert names == sorted([
        "picture.png", "depth.png", "depth.npy", "confidence.npy", "nested_a.png",
        "crops_0.png", "crops_1.png", "cloud.ply", "results.json"])
    body = json.loads((tmp_path / "x" / "results.json").read_text())
    out = body["outputs"]
    assert body["images"] == {"image": "p.png"}
    assert out["nested"]["b"] == 2.5 and out["nested"]["c"] is None
    assert out["weird/name"] == 1 and out["results"] == "a name that would collide"
    assert out["depth"]["min"] == pytest.approx(float(np.nanmin(depth))) and out["depth"]["max"] == 2.0
    assert out["depth"]["kind"] == "depth_map" and out["depth"]["unit"] == "m" and out["depth"]["metric"] is True
    assert out["depth"]["source"] == "a test" and (out["depth"]["height"], out["depth"]["width"]) == (4, 6)
    png = cv2.imread(str(tmp_path / "x" / "depth.png"), cv2.IMREAD_UNCHANGED)
    assert png[0, 0] == 0  # NaN written as 0
    assert np.isnan(np.load(tmp_path / "x" / "depth.npy")[0, 0])
    assert out["confidence"]["shape"] == [20, 20]
    assert out["cloud"]["num_points"] == 2 and out["cloud"]["has_colors"] is False
    assert out["cloud"]["unit"] == "relative"  # the PLY's unit, in results.json too
    assert (tmp_path / "x" / "cloud.ply").read_bytes().startswith(b"ply\nformat binary_little_endian")


def test_parse_params_types():
    from depthgraph.batch import RunSetupError, parse_params

    class FakeWorkflow:
        parameter_names = {"threshold": 0.5, "label": "cat", "classes": None}

    params = parse_params(["threshold=0.25", "label=123", "classes=[\"a\", \"b\"]"], FakeWorkflow())
    assert params == {"threshold": 0.25, "label": "123", "classes": ["a", "b"]}
    assert parse_params(["classes=plain text"], FakeWorkflow()) == {"classes": "plain text"}
    with pytest.raises(RunSetupError, match="its parameters: threshold, label, classes"):
        parse_params(["nope=1"], FakeWorkflow())
