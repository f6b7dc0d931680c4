"""Decoding runtime images, serializing values, inference-JSON detections both ways."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest
import supervision as sv

from depthgraph.engine.errors import RuntimeInputError
from depthgraph.engine.serialization import (
    decode_image,
    detections_from_inference_json,
    serialize_outputs,
    serialize_value,
)
from depthgraph.engine.values import PointCloud, WorkflowImageData


def bgr() -> np.ndarray:
    img = np.zeros((5, 7, 3), np.uint8)
    img[:, :, 0] = 200  # blue
    img[1, 2] = (1, 2, 3)
    return img


def png_bytes(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def test_decode_numpy_variants():
    img = bgr()
    assert np.array_equal(decode_image(img).numpy_image, img)
    gray = decode_image(img[:, :, 1])
    assert gray.numpy_image.shape == (5, 7, 3) and np.array_equal(gray.numpy_image[:, :, 2], img[:, :, 1])
    bgra = np.dstack([img, np.full((5, 7), 9, np.uint8)])
    assert np.array_equal(decode_image(bgra).numpy_image, img)
    assert np.array_equal(decode_image(img[:, :, :1]).numpy_image[:, :, 0], img[:, :, 0])


def test_decode_16_bit_png_is_scaled_to_8_bit():
    img16 = np.full((3, 4), 65535, np.uint16)
    img16[0, 0] = 0
    decoded = decode_image(png_bytes(img16)).numpy_image
    assert decoded.dtype == np.uint8 and decoded.shape == (3, 4, 3)
    assert decoded[1, 1, 0] == 255 and decoded[0, 0, 2] == 0


def test_decode_encoded_forms(tmp_path):
    img = bgr()
    data = png_bytes(img)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    b64 = base64.b64encode(data).decode()
    forms = [data, str(path), path, b64, f"data:image/png;base64,{b64}", {"type": "base64", "value": b64}, {"type": "file", "value": str(path)}]
    for form in forms:
        assert np.array_equal(decode_image(form, "pic").numpy_image, img), type(form)
    assert decode_image(str(path)).file_name == str(path)
    kept = decode_image({"type": "base64", "value": b64, "parent_id": "frame-7"})
    assert kept.parent_id == "frame-7"


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("https://example.com/a.jpg", "URLs are not fetched"),
        ({"type": "url", "value": "http://x"}, "URLs are not fetched"),
        ("/nope/missing.png", "does not exist"),
        (b"not an image at all", "not a PNG, JPEG"),
        ("bm90IGFuIGltYWdl", "not a PNG, JPEG"),
        (np.zeros((4, 4, 3), np.int32), "unsupported dtype int32"),
        (np.full((4, 4), np.nan, np.float32), "NaN"),
        (np.zeros((4, 4, 2), np.uint8), "got shape (4, 4, 2)"),
        (np.zeros((0, 4, 3), np.uint8), "the image is empty"),
        ({"type": "base64"}, "image objects look like"),
        (12, "cannot read an image from int"),
        (None, "no image given"),
    ],
)
def test_decode_errors_name_the_input(value, fragment):
    with pytest.raises(RuntimeInputError) as info:
        decode_image(value, "frame")
    assert "input 'frame'" in str(info.value) and fragment in str(info.value)


def test_serialize_image_round_trips_as_png_and_jpeg():
    img = WorkflowImageData(bgr(), parent_id="p1")
    png = serialize_value(img, image_format="png")
    assert png["type"] == "base64" and png["parent_id"] == "p1" and (png["width"], png["height"]) == (7, 5)
    assert np.array_equal(decode_image(png).numpy_image, img.numpy_image)
    jpeg = serialize_value(img)
    assert base64.b64decode(jpeg["value"])[:2] == b"\xff\xd8"


def test_serialize_arrays_scalars_and_containers():
    value = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": [np.int64(3), np.float32(0.5), (1, "x")],
        "nan": np.array([1.0, np.nan, np.inf]),
        "f": float("nan"),
    }
    out = serialize_value(value)
    assert out == {"a": [[0, 1, 2], [3, 4, 5]], "b": [3, 0.5, [1, "x"]], "nan": [1.0, None, None], "f": None}
    json.dumps(out, allow_nan=False)


def test_serialize_point_cloud_summary_and_points():
    pc = PointCloud(points=np.array([[0, 0, 1], [1, 2, 3]], np.float32), colors=np.array([[255, 0, 0], [0, 255, 0]]), parent_id="p")
    summary = serialize_value(pc)
    assert summary["num_points"] == 2 and summary["bounds_max"] == [1.0, 2.0, 3.0] and "points" not in summary
    full = serialize_outputs([{"cloud": pc}], include_points=True)[0]["cloud"]
    assert full["points"] == [[0, 0, 1], [1, 2, 3]] and full["colors"][0] == [255, 0, 0]


def test_point_cloud_json_says_its_unit():
    """A cloud in metres says "m"; one that was never told a unit says "relative", never metres."""
    points = np.array([[0, 0, 1], [1, 2, 3]], np.float32)
    assert serialize_value(PointCloud(points))["unit"] == "relative"
    for array_format in ("list", "base64"):
        (out,) = serialize_outputs([{"cloud": PointCloud(points, unit="m")}], include_points=True,
                                   array_format=array_format)  # fmt: skip
        decoded = json.loads(json.dumps(out, allow_nan=False))["cloud"]
        assert decoded["type"] == "point_cloud" and decoded["unit"] == "m" and decoded["num_points"] == 2


def test_detections_to_inference_json_with_data_fields():
    dets = sv.Detections(
        xyxy=np.array([[10, 20, 30, 60], [0, 0, 4, 4]], np.float32),
        confidence=np.array([0.9, 0.4]),
        class_id=np.array([1, 2]),
        data={"class_name": np.array(["face", "cat"]), "depth": np.array([1.5, 2.5]), "image_dimensions": np.array([[100, 200], [100, 200]])},
    )
    out = serialize_value({"dets": dets})["dets"]
    assert out["image"] == {"width": 200, "height": 100}
    p = out["predictions"][0]
    assert (p["x"], p["y"], p["width"], p["height"]) == (20.0, 40.0, 20.0, 40.0)
    assert (p["class"], p["class_id"], p["depth"]) == ("face", 1, 1.5)
    assert p["confidence"] == pytest.approx(0.9) and p["detection_id"] == "0"
    json.dumps(out)


def test_detections_round_trip_through_inference_json():
    payload = {
        "image": {"width": 64, "height": 48},
        "predictions": [
            {"x": 10, "y": 12, "width": 4, "height": 6, "confidence": 0.8, "class": "a", "class_id": 3, "detection_id": "d1", "depth": 2.0},
            {"x": 30, "y": 20, "width": 10, "height": 10, "confidence": 0.5, "class": "b", "class_id": 1, "detection_id": "d2", "depth": 4.0},
        ],
    }
    dets = detections_from_inference_json(payload)
    assert np.allclose(dets.xyxy[0], [8, 9, 12, 15]) and list(dets.class_id) == [3, 1]
    assert list(dets.data["class_name"]) == ["a", "b"] and list(dets.data["depth"]) == [2.0, 4.0]
    back = serialize_value(dets)
    assert back["image"] == {"width": 64, "height": 48}
    for got, want in zip(back["predictions"], payload["predictions"]):
        assert got["detection_id"] == want["detection_id"] and got["depth"] == want["depth"]
        assert got["x"] == pytest.approx(want["x"]) and got["confidence"] == pytest.approx(want["confidence"])
    empty = detections_from_inference_json({"predictions": []})
    assert len(empty) == 0 and serialize_value(empty)["predictions"] == []
    assert len(detections_from_inference_json(payload["predictions"], image_size=(64, 48))) == 2


def test_inference_json_errors_name_the_prediction():
    with pytest.raises(RuntimeInputError, match=r"predictions\[1\]: x, y, width and height must be numbers"):
        detections_from_inference_json([{"x": 1, "y": 1, "width": 1, "height": 1}, {"x": "a", "y": 1, "width": 1, "height": 1}], input_name="dets")
    with pytest.raises(RuntimeInputError, match="needs a 'predictions' list"):
        detections_from_inference_json({"image": {}}, input_name="dets")
