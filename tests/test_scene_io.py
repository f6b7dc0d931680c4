"""Importing cameras: COLMAP (text and binary, written by hand), transforms.json, round trips, matching."""

from __future__ import annotations

import json
import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from depthgraph.scene_export import Camera, write_colmap_text, write_transforms_json
from depthgraph.scene_io import CameraImportError, match_cameras, read_cameras, read_colmap, read_transforms_json

HAND = Path(__file__).resolve().parent / "fixtures" / "colmap-hand"


def _expected_hand():
    """What the hand-written model says, worked out by hand."""
    rot_y90 = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=np.float64)
    return {
        "left.png": (np.eye(3), [0, 0, 0], [[500.5, 0, 320.5], [0, 502.25, 240.25], [0, 0, 1]], (480, 640)),
        "middle.png": (rot_y90, [1, 2, 3], [[500.5, 0, 320.5], [0, 502.25, 240.25], [0, 0, 1]], (480, 640)),
        "sub/right.jpg": (np.diag([-1.0, -1, 1]), [0.5, 0, 0], [[150, 0, 101], [0, 150, 49.5], [0, 0, 1]], (100, 200)),
    }


def _check_hand(cams):
    expected = _expected_hand()
    assert [c.name for c in cams] == ["left.png", "middle.png", "sub/right.jpg"]
    for cam in cams:
        r, t, k, size = expected[cam.name]
        np.testing.assert_allclose(cam.extrinsics[:3, :3], r, atol=1e-12)
        np.testing.assert_allclose(cam.extrinsics[:3, 3], t, atol=1e-12)
        np.testing.assert_array_equal(cam.extrinsics[3], [0, 0, 0, 1])
        np.testing.assert_allclose(cam.intrinsics, k)
        assert cam.size == size
    assert cams[2].distortion == {"k1": 0.01}
    np.testing.assert_allclose(cams[1].centre, -_expected_hand()["middle.png"][0].T @ [1, 2, 3])


def test_hand_written_colmap_text_model():
    _check_hand(read_colmap(HAND))


def _write_binary(folder: Path) -> None:
    """The hand-written model in COLMAP's binary layout (little-endian; see its documentation)."""
    cams = struct.pack("<Q", 2)
    cams += struct.pack("<iiQQ", 2, 1, 640, 480) + struct.pack("<4d", 500.5, 502.25, 320.5, 240.25)
    cams += struct.pack("<iiQQ", 5, 2, 200, 100) + struct.pack("<4d", 150, 101, 49.5, 0.01)
    (folder / "cameras.bin").write_bytes(cams)
    images = struct.pack("<Q", 3)
    rows = [(1, (1, 0, 0, 0), (0, 0, 0), 2, "left.png", [(10.5, 20.25, -1)]),
            (7, (math.sqrt(0.5), 0, math.sqrt(0.5), 0), (1, 2, 3), 2, "middle.png", []),
            (3, (0, 0, 0, 2), (0.5, 0, 0), 5, "sub/right.jpg", [(1.0, 2.0, 4)])]  # fmt: skip
    for image_id, q, t, cam_id, name, points in rows:
        images += struct.pack("<I4d3dI", image_id, *q, *t, cam_id) + name.encode() + b"\x00"
        images += struct.pack("<Q", len(points)) + b"".join(struct.pack("<ddq", *p) for p in points)
    (folder / "images.bin").write_bytes(images)
    (folder / "points3D.bin").write_bytes(struct.pack("<Q", 0))


def test_hand_written_colmap_binary_model_in_sparse_0(tmp_path):
    model = tmp_path / "project" / "sparse" / "0"
    model.mkdir(parents=True)
    _write_binary(model)
    _check_hand(read_colmap(tmp_path / "project"))
    _check_hand(read_cameras(model))


def _cameras(n=4):
    out = []
    for i in range(n):
        a = math.radians(20 * i)
        r = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        c = np.array([1.5 * i, -0.2 * i, 0.3])
        e = np.concatenate([r.T, (-r.T @ c)[:, None]], axis=1)
        k = np.array([[400.0 + i, 0, 160.25], [0, 401.0 + i, 120.5], [0, 0, 1]])
        out.append(Camera(f"view_{i}.png", k, e, 240, 320))
    return out


def test_our_colmap_export_reads_back(tmp_path):
    cams = _cameras()
    write_colmap_text(tmp_path, cams)
    back = read_colmap(tmp_path)
    for mine, read in zip(cams, back):
        assert read.name == mine.name and read.size == (240, 320)
        np.testing.assert_allclose(read.extrinsics[:3], mine.extrinsics, atol=1e-8)
        np.testing.assert_allclose(read.intrinsics, mine.intrinsics, rtol=1e-9)


def test_our_transforms_json_export_reads_back(tmp_path):
    cams = _cameras()
    write_transforms_json(tmp_path / "transforms.json", [Camera(f"images/{c.name}", c.intrinsics, c.extrinsics, 240, 320) for c in cams])
    back = read_transforms_json(tmp_path / "transforms.json")
    e, k, _ = match_cameras(back, [f"/somewhere/{c.name}" for c in cams], [(240, 320)] * len(cams))
    for i, mine in enumerate(cams):
        np.testing.assert_allclose(e[i, :3], mine.extrinsics, atol=1e-12)
        np.testing.assert_allclose(k[i], mine.intrinsics, rtol=1e-12)


def test_transforms_json_axes_and_nerf_style_intrinsics(tmp_path):
    """A camera at (0, 0, 5) looking down -z in OpenGL terms looks along +z_cam in ours."""
    doc = {"camera_angle_x": 2 * math.atan(0.5), "frames": [
        {"file_path": "./train/r_0", "transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 5], [0, 0, 0, 1]]},
        {"file_path": "./train/r_1", "transform_matrix": [[1, 0, 0, 2], [0, 1, 0, 0], [0, 0, 1, 5], [0, 0, 0, 1]]},
    ]}  # fmt: skip
    (tmp_path / "transforms.json").write_text(json.dumps(doc))
    cams = read_transforms_json(tmp_path / "transforms.json")
    e, k, _ = match_cameras(cams, ["r_0.png", "r_1.png"], [(100, 200), (100, 200)])
    world_origin_in_cam = e[0] @ [0, 0, 0, 1]
    np.testing.assert_allclose(world_origin_in_cam[:3], [0, 0, 5])  # in front: positive depth
    up = e[0, :3, :3] @ [0, 1, 0]
    np.testing.assert_allclose(up, [0, -1, 0])  # world up is image up (y down in OpenCV)
    np.testing.assert_allclose(k[0], [[200, 0, 100], [0, 200, 50], [0, 0, 1]])  # f = (w/2)/tan(angle/2)


def test_intrinsics_follow_the_image_size(tmp_path):
    write_colmap_text(tmp_path, _cameras(2))
    _, k, _ = match_cameras(read_colmap(tmp_path), ["view_0.png", "view_1.png"], [(120, 160), (240, 320)])
    np.testing.assert_allclose(k[0], [[200, 0, 80.125], [0, 200.5, 60.25], [0, 0, 1]])
    np.testing.assert_allclose(k[1], _cameras(2)[1].intrinsics)


def test_errors_name_the_file_and_entry(tmp_path):
    (tmp_path / "cameras.txt").write_text("1 OPENCV_FISHEYE 100 100 50 50 50 50 0 0 0 0\n")
    (tmp_path / "images.txt").write_text("1 1 0 0 0 0 0 0 1 a.png\n\n")
    with pytest.raises(CameraImportError, match=r"cameras.txt:1: camera model OPENCV_FISHEYE is not a pinhole"):
        read_colmap(tmp_path)
    (tmp_path / "cameras.txt").write_text("1 PINHOLE 100 100 50 50 50 50\n")
    (tmp_path / "images.txt").write_text("1 1 0 0 0 0 0 0 9 a.png\n\n")
    with pytest.raises(CameraImportError, match=r"images.txt:1: refers to camera 9"):
        read_colmap(tmp_path)
    shutil.rmtree(tmp_path)
    tmp_path.mkdir()
    with pytest.raises(CameraImportError, match="no COLMAP model here"):
        read_colmap(tmp_path)
    (tmp_path / "t.json").write_text('{"frames": [{"file_path": "a.png"}]}')
    with pytest.raises(CameraImportError, match=r"frames\[0\]: missing or unreadable 'transform_matrix'"):
        read_transforms_json(tmp_path / "t.json")
    write_colmap_text(tmp_path, _cameras(2))
    with pytest.raises(CameraImportError, match="image 'other.png': no camera with that name"):
        match_cameras(read_colmap(tmp_path), ["view_0.png", "other.png"], [(240, 320)] * 2)
    (tmp_path / "cameras.bin").write_bytes(struct.pack("<Q", 3))
    (tmp_path / "images.bin").write_bytes(b"")
    for name in ("cameras.txt", "images.txt"):
        (tmp_path / name).unlink()
    with pytest.raises(CameraImportError, match="file ends early"):
        read_colmap(tmp_path)


def test_unreadable_camera_files_are_clear_errors(tmp_path):
    (tmp_path / "t.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(CameraImportError, match="not UTF-8"):
        read_transforms_json(tmp_path / "t.json")
    (tmp_path / "t.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(CameraImportError, match="cannot read it as JSON|expected an object"):
        read_transforms_json(tmp_path / "t.json")
    (tmp_path / "cameras.txt").write_bytes(b"1 PINHOLE 10 10 5 5 5 5\n\x80")
    (tmp_path / "images.txt").write_text("")
    with pytest.raises(CameraImportError, match="cameras.txt: not UTF-8"):
        read_colmap(tmp_path)
