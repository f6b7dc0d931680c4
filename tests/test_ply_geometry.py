"""The one PLY writer and the one back-projection, through every caller."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData

from depthgraph import ply
from depthgraph.blocks.detections_depth import DetectionsDepthBlock
from depthgraph.blocks.point_cloud import PointCloudExportBlock, PointCloudProjectionBlock
from depthgraph.engine.values import PointCloud
from depthgraph.geometry import back_project
from depthgraph.output_writer import write_result

# fx != fy and cx != cy, so a formula that swaps any two of them gives other numbers
K = np.array([[50.0, 0.0, 7.0], [0.0, 200.0, 3.0], [0.0, 0.0, 1.0]])


def test_back_project_uses_fx_for_x_and_fy_for_y():
    points = back_project([17.0, 7.0, 2.0], [3.0, 23.0, 1.0], [2.0, 4.0, 0.5], K)
    expected = [
        [(17 - 7) * 2.0 / 50, (3 - 3) * 2.0 / 200, 2.0],
        [(7 - 7) * 4.0 / 50, (23 - 3) * 4.0 / 200, 4.0],
        [(2 - 7) * 0.5 / 50, (1 - 3) * 0.5 / 200, 0.5],
    ]
    np.testing.assert_allclose(points, expected, rtol=0, atol=1e-12)
    assert points.dtype == np.float64 and points.shape == (3, 3)
    assert np.isnan(back_project([1.0], [1.0], [np.nan], K)).all()


def test_point_cloud_and_detections_depth_agree_with_back_project():
    depth = np.full((20, 30), 5.0, np.float32)
    depth[9:14, 10:21] = 2.5
    cloud = PointCloudProjectionBlock().run(depth=depth, intrinsics=K, remove_edges=False)["point_cloud"]
    u, v = cloud.pixels[:, 0], cloud.pixels[:, 1]
    np.testing.assert_allclose(cloud.points, back_project(u, v, depth[v, u], K), rtol=1e-6)

    from blocks_helpers import detections

    box = [10.0, 8.0, 21.0, 15.0]  # centre (15.5, 11.5), its central half at 2.5 m
    out = DetectionsDepthBlock().run(predictions=detections([box]), depth=depth, intrinsics=K)
    position = out["predictions"].data["position_3d"][0]
    np.testing.assert_allclose(position, [(15.5 - 7) * 2.5 / 50, (11.5 - 3) * 2.5 / 200, 2.5])
    np.testing.assert_allclose(position, back_project([15.5], [11.5], [2.5], K)[0])


def _read(path: Path) -> PlyData:
    data = PlyData.read(str(path))
    assert data.text is False and data.byte_order == "<"
    return data


def test_ply_layout_colours_and_frame_and_unit_comments(tmp_path):
    points = np.array([[0.5, -1.25, 3.0], [1e-3, 2.0, 7.5]], np.float32)
    colours = np.array([[255, 0, 10], [1, 2, 3]], np.uint8)
    path = ply.write_ply(tmp_path / "c.ply", PointCloud(points, colors=colours, frame="opengl", unit="cm"))
    data = _read(path)
    vertex = data["vertex"]
    assert [p.name for p in vertex.properties] == ["x", "y", "z", "red", "green", "blue"]
    assert [p.val_dtype for p in vertex.properties] == ["f4", "f4", "f4", "u1", "u1", "u1"]
    np.testing.assert_array_equal(np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), points)
    np.testing.assert_array_equal(np.stack([vertex["red"], vertex["green"], vertex["blue"]], 1), colours)
    assert data.comments == ["written by depthgraph", "frame opengl", "unit cm"]
    # a cloud that was never told its unit says so: relative, never metres
    assert _read(ply.write_ply(tmp_path / "r.ply", PointCloud(points))).comments[-1] == "unit relative"


def test_ply_header_bytes_are_pinned():
    """The whole header, byte for byte: the unit line sits after the frame, nothing else moved."""
    cloud = PointCloud(np.array([[1.0, 2.0, 3.0]], np.float32), colors=[[4, 5, 6]], unit="m")
    data = ply.ply_bytes(cloud)
    header = (
        b"ply\n"
        b"format binary_little_endian 1.0\n"
        b"comment written by depthgraph\n"
        b"comment frame opencv\n"
        b"comment unit m\n"
        b"element vertex 1\n"
        b"property float x\nproperty float y\nproperty float z\n"
        b"property uchar red\nproperty uchar green\nproperty uchar blue\n"
        b"end_header\n"
    )
    assert data == header + np.array([1.0, 2.0, 3.0], "<f4").tobytes() + bytes([4, 5, 6])


def test_ply_with_a_unit_reads_back_in_trimesh_unchanged():
    """Another reader than plyfile: trimesh parses the header with the unit comment."""
    import io

    import trimesh

    rng = np.random.default_rng(3)
    points = rng.normal(size=(40, 3)).astype(np.float32)
    colours = rng.integers(0, 256, (40, 3), dtype=np.uint8)
    for unit in ("m", "relative"):
        loaded = trimesh.load(io.BytesIO(ply.ply_bytes(PointCloud(points, colors=colours, unit=unit))),
                              file_type="ply")  # fmt: skip
        assert isinstance(loaded, trimesh.PointCloud)
        np.testing.assert_array_equal(np.asarray(loaded.vertices, np.float32), points)
        np.testing.assert_array_equal(np.asarray(loaded.colors)[:, :3], colours)


@pytest.mark.parametrize("unit", ["metres", "M", "", None, 1.0])
def test_point_cloud_unit_takes_the_depth_vocabulary_only(unit):
    with pytest.raises(ValueError, match="PointCloud unit must be 'relative' or one of"):
        PointCloud(np.zeros((1, 3), np.float32), unit=unit)
    assert PointCloud(np.zeros((1, 3), np.float32)).unit == "relative"
    assert [PointCloud(np.zeros((1, 3), np.float32), unit=u).unit for u in ("m", "ft")] == ["m", "ft"]


def test_ply_without_colours_is_white_and_empty_clouds_are_valid(tmp_path):
    data = _read(ply.write_ply(tmp_path / "w.ply", PointCloud(np.ones((3, 3), np.float32))))
    assert set(data["vertex"]["red"]) == set(data["vertex"]["green"]) == set(data["vertex"]["blue"]) == {255}
    empty = _read(ply.write_ply(tmp_path / "e.ply", PointCloud(np.zeros((0, 3), np.float32))))
    assert len(empty["vertex"]) == 0


def test_ply_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "cloud.ply"
    target.write_bytes(b"old cloud")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        ply.write_ply(target, PointCloud(np.ones((4, 3), np.float32)))
    assert target.read_bytes() == b"old cloud"  # untouched: never half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cloud.ply"]  # no temporary left behind
    monkeypatch.undo()
    ply.write_ply(target, PointCloud(np.ones((4, 3), np.float32)))
    assert len(_read(target)["vertex"]) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cloud.ply"]


def test_export_block_and_output_folders_write_the_same_bytes(tmp_path):
    rng = np.random.default_rng(0)
    cloud = PointCloud(rng.normal(size=(50, 3)).astype(np.float32),
                       colors=rng.integers(0, 256, (50, 3), dtype=np.uint8), parent_id="img")
    block = PointCloudExportBlock().run(point_cloud=cloud, output_directory=str(tmp_path / "block"),
                                        file_prefix="pc")
    write_result({"cloud": cloud}, tmp_path / "folder")
    expected = ply.ply_bytes(cloud)
    assert Path(block["file_path"]).read_bytes() == expected
    assert (tmp_path / "folder" / "cloud.ply").read_bytes() == expected
    bare = PointCloud(cloud.points)
    write_result({"bare": bare}, tmp_path / "folder2")
    assert (tmp_path / "folder2" / "bare.ply").read_bytes() == ply.ply_bytes(bare)
