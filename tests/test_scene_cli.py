"""``depthgraph scene`` with the real DA3 network on recipe weights: the files read back."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from model_helpers import random_bgr, recipe_weights_root
from plyfile import PlyData
from typer.testing import CliRunner

from depthgraph.cli import app
from depthgraph.scene_export import read_colmap_images, rotation_to_quaternion

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_models(monkeypatch):
    from depthgraph.models.loading import clear_model_cache

    monkeypatch.setenv("DEPTHGRAPH_DEVICE", "cpu")
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(recipe_weights_root("small")))
    clear_model_cache()
    yield
    clear_model_cache()


def test_scene_command_writes_views_cameras_and_clouds(tmp_path):
    import trimesh

    folder = tmp_path / "shots"
    folder.mkdir()
    sizes = {"a.png": (60, 80), "b.png": (60, 80), "c tall.png": (80, 60)}  # mixed sizes: centre crop
    for i, (name, (h, w)) in enumerate(sizes.items()):
        cv2.imwrite(str(folder / name), random_bgr(h, w, seed=i))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["scene", str(folder), "-o", str(out), "--reference", "first"])
    assert result.exit_code == 0, result.output
    assert "reference view 0" in result.output
    summary = json.loads((out / "scene.json").read_text())
    assert summary["num_views"] == 3 and summary["reference_view"] == 0
    assert summary["processed_size"] == [378, 378]
    names = summary["views"]
    assert names == ["a.png", "b.png", "c_tall.png"]
    assert (out / "keep.txt").read_text() == "mine"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging folder left
    # per-view files as predict writes them
    for name, (h, w) in zip(names, sizes.values()):
        view = out / "views" / name[:-4]
        depth = np.load(view / "depth.npy")
        assert depth.shape == (h, w) and cv2.imread(str(view / "depth.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
        assert np.load(view / "confidence.npy").shape == (h, w)
        assert (out / "images" / name).is_file()
        # issue 20 item 11: pixels without depth (outside the centre crop) are drawn as "no
        # data" (grey checkerboard), not in the colour of the farthest depth, and said so
        missing = ~np.isfinite(depth)
        (picture_path,) = view.glob("depth_color.*")
        picture = cv2.imread(str(picture_path), cv2.IMREAD_COLOR).astype(int)
        if missing.any():
            assert summary["no_data_fraction"][name] == pytest.approx(missing.mean(), abs=1e-4)
            grey = picture[missing]
            assert np.abs(grey - grey.mean(axis=1, keepdims=True)).max() <= 12  # grey, not turbo
            assert set(np.unique(np.round(grey.mean(axis=1) / 32))) <= {3, 5}  # ~96 and ~160
            assert f"{name}: " in result.output and "have no depth" in " ".join(result.output.split())
        else:
            assert name not in summary["no_data_fraction"]
    assert summary["no_data_fraction"]  # the tall view of this mixed-size scene has some
    # point clouds: PLY (world frame) and GLB (display frame), same count
    ply = PlyData.read(str(out / "scene.ply"))
    count = summary["num_points"]
    assert ply["vertex"].count == count > 0
    # no cameras: the cloud has no unit, and every file says so (a GLB is read as metres otherwise)
    assert ply.comments == ["written by depthgraph", "frame world", "unit relative"]
    assert summary["point_unit"] == "relative"
    glb = trimesh.load(str(out / "scene.glb"))
    assert glb.metadata["unit"] == "relative"  # the scene's extras
    (geometry,) = glb.geometry.values()
    assert isinstance(geometry, trimesh.PointCloud) and len(geometry.vertices) == count
    a = np.asarray(summary["glb_alignment"])
    world = np.stack([ply["vertex"][k] for k in "xyz"], axis=1).astype(np.float64)
    np.testing.assert_allclose(geometry.vertices, world @ a[:3, :3].T + a[:3, 3], atol=1e-4)
    assert np.abs(np.median(geometry.vertices, axis=0)).max() < 1e-4  # median-centred
    # cameras: transforms.json (OpenGL camera-to-world) and COLMAP (world-to-camera)
    transforms = json.loads((out / "transforms.json").read_text())
    assert [f["file_path"] for f in transforms["frames"]] == [f"images/{n}" for n in names]
    colmap = read_colmap_images(out / "colmap" / "images.txt")
    assert list(colmap) == names
    cams = (out / "colmap" / "cameras.txt").read_text().splitlines()
    assert [line.split()[1:4] for line in cams if not line.startswith("#")] == [
        ["PINHOLE", "80", "60"], ["PINHOLE", "80", "60"], ["PINHOLE", "60", "80"]]
    for frame, camera, name in zip(transforms["frames"], summary["cameras"], names):
        e = np.asarray(camera["extrinsics_world_to_camera"])
        k = np.asarray(camera["intrinsics"])
        assert (frame["w"], frame["h"]) == (camera["width"], camera["height"])
        assert frame["fl_x"] == pytest.approx(k[0, 0]) and frame["cy"] == pytest.approx(k[1, 2])
        c2w = np.asarray(frame["transform_matrix"]) @ np.diag([1.0, -1.0, -1.0, 1.0])
        np.testing.assert_allclose(np.linalg.inv(c2w)[:3], e, atol=1e-6)
        rot, t = colmap[name]
        np.testing.assert_allclose(rot, e[:, :3], atol=1e-6)
        np.testing.assert_allclose(t, e[:, 3], atol=1e-6)


def test_scene_command_reports_bad_input(tmp_path):
    good = tmp_path / "a.png"
    cv2.imwrite(str(good), random_bgr(20, 20))
    result = runner.invoke(app, ["scene", str(good), str(tmp_path / "missing.png"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "missing.png" in result.output
    result = runner.invoke(app, ["scene", str(good), "-o", str(tmp_path / "o"), "--reference", "4"])
    assert result.exit_code == 1 and "out of range" in result.output
    result = runner.invoke(app, ["scene", str(good), "-o", str(tmp_path / "o"), "--reference", "best"])
    assert result.exit_code == 1 and "unknown reference strategy" in result.output
    assert not (tmp_path / "o" / "scene.json").exists()


def test_quaternion_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])  # fmt: skip
        back = rotation_to_quaternion(rot)
        np.testing.assert_allclose(back, q if w >= 0 else -q, atol=1e-9)
