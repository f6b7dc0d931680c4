"""Point cloud projection geometry and PLY export."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from blocks_helpers import gradient_image, tilted_plane_depth, wrap

from depthgraph.blocks.point_cloud import (
    PointCloudExportBlock,
    PointCloudProjectionBlock,
    camera_matrix,
)
from depthgraph.engine.values import PointCloud

K = np.array([[80.0, 0.0, 40.0], [0.0, 90.0, 30.0], [0.0, 0.0, 1.0]])


def _project(**kwargs):
    return PointCloudProjectionBlock().run(**kwargs)


def test_tilted_plane_unprojects_to_that_plane() -> None:
    normal = np.array([0.2, -0.3, 1.0])
    normal /= np.linalg.norm(normal)
    depth = tilted_plane_depth(60, 80, K, tuple(normal), offset=4.0)
    out = _project(depth=depth, intrinsics=K, remove_edges=True)
    points = out["point_cloud"].points.astype(np.float64)
    assert out["num_points"] == 60 * 80  # a smooth plane has no flying pixels to drop
    # every point satisfies n . X = 4 ...
    assert np.max(np.abs(points @ normal - 4.0)) < 1e-4
    # ... and a least-squares plane fit recovers the normal
    centred = points - points.mean(axis=0)
    fitted = np.linalg.svd(centred, full_matrices=False)[2][-1]
    assert abs(abs(fitted @ normal) - 1.0) < 1e-6


def test_fronto_parallel_plane_extent_matches_fov() -> None:
    depth = np.full((30, 41), 2.0, np.float32)
    cloud = _project(depth=depth, fov_degrees=90.0)["point_cloud"]
    points = cloud.points
    assert np.allclose(points[:, 2], 2.0)
    # 90 degrees horizontal: x spans about +-z across the width
    half_width = (points[:, 0].max() - points[:, 0].min()) / 2
    assert half_width == pytest.approx(2.0 * 40 / 41, rel=1e-3)
    # the centre column (u = cx = 20) maps to x = 0
    centre = cloud.points[(cloud.pixels[:, 0] == 20) & (cloud.pixels[:, 1] == 14)]
    assert abs(float(centre[0, 0])) < 1e-6


def test_pixel_maps_through_pinhole_formula() -> None:
    depth = np.full((60, 80), 3.0, np.float32)
    cloud = _project(depth=depth, intrinsics=K)["point_cloud"]
    index = np.where((cloud.pixels[:, 0] == 70) & (cloud.pixels[:, 1] == 5))[0][0]
    x, y, z = cloud.points[index]
    assert x == pytest.approx((70 - 40) * 3.0 / 80)
    assert y == pytest.approx((5 - 30) * 3.0 / 90)
    assert z == pytest.approx(3.0)


def test_camera_sources_in_order() -> None:
    assert np.allclose(camera_matrix(60, 80, intrinsics=K, fx=5.0), K)
    explicit = camera_matrix(60, 80, fx=100.0, cx=10.0)
    assert explicit[0, 0] == explicit[1, 1] == 100.0 and explicit[0, 2] == 10.0
    assert explicit[1, 2] == pytest.approx(29.5)
    fov = camera_matrix(60, 80, fov_degrees=60.0)
    assert fov[0, 0] == pytest.approx(40.0 / math.tan(math.radians(30.0)))


def test_opengl_frame_flips_y_and_z() -> None:
    depth = np.full((10, 10), 2.0, np.float32)
    cv = _project(depth=depth, intrinsics=K)["point_cloud"]
    gl = _project(depth=depth, intrinsics=K, coordinate_frame="opengl")["point_cloud"]
    assert gl.frame == "opengl"
    assert np.allclose(gl.points, cv.points * np.array([1, -1, -1]))


def test_stride_and_max_points_are_deterministic() -> None:
    depth = np.full((40, 50), 1.5, np.float32)
    strided = _project(depth=depth, stride=4)
    assert strided["num_points"] == 10 * 13
    assert np.all(strided["point_cloud"].pixels % 4 == 0)
    a = _project(depth=depth, max_points=333)["point_cloud"]
    b = _project(depth=depth, max_points=333)["point_cloud"]
    assert len(a) == 333 and np.array_equal(a.points, b.points)
    # evenly spread: first and last pixel of the grid are both kept
    assert tuple(a.pixels[0]) == (0, 0) and tuple(a.pixels[-1]) == (49, 39)


def test_remove_edges_drops_flying_pixels_at_a_depth_step() -> None:
    depth = np.full((20, 20), 1.0, np.float32)
    depth[:, 10:] = 5.0
    kept = _project(depth=depth, fov_degrees=60, remove_edges=True)["point_cloud"]
    all_points = _project(depth=depth, fov_degrees=60, remove_edges=False)["point_cloud"]
    assert len(all_points) == 400
    assert len(kept) == 400 - 2 * 20  # both columns beside the step go
    assert not np.any(np.isin(kept.pixels[:, 0], [9, 10]))


def test_invalid_depth_pixels_are_dropped() -> None:
    depth = np.full((5, 5), 2.0, np.float32)
    depth[0, 0], depth[1, 1], depth[2, 2] = np.nan, 0.0, -1.0
    out = _project(depth=depth, fov_degrees=60, remove_edges=False)
    assert out["num_points"] == 22
    assert np.isfinite(out["point_cloud"].points).all()


def test_confidence_percentile_filter() -> None:
    depth = np.full((10, 10), 2.0, np.float32)
    confidence = np.arange(100, dtype=np.float32).reshape(10, 10)
    out = _project(depth=depth, confidence=confidence, min_confidence_percentile=50.0)
    assert out["num_points"] == 50
    kept_conf = confidence[out["point_cloud"].pixels[:, 1], out["point_cloud"].pixels[:, 0]]
    assert kept_conf.min() >= 49.5
    with pytest.raises(ValueError, match="property 'confidence'.*shape"):
        _project(depth=depth, confidence=np.ones((5, 5), np.float32), min_confidence_percentile=10)


def test_colours_come_from_the_image_in_rgb_and_keep_its_id() -> None:
    image = gradient_image(12, 16)
    depth = np.full((12, 16), 1.0, np.float32)
    cloud = _project(depth=depth, image=wrap(image, "frame-7"))["point_cloud"]
    assert cloud.parent_id == "frame-7"
    u, v = cloud.pixels[5]
    assert tuple(cloud.colors[5]) == tuple(image[v, u, ::-1])


def test_depth_scale_multiplies_z() -> None:
    depth = np.full((6, 6), 2.0, np.float32)
    out = _project(depth=depth, depth_scale=0.5)["point_cloud"]
    assert np.allclose(out.points[:, 2], 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"intrinsics": np.eye(2)}, "property 'intrinsics'.*3x3"),
        ({"intrinsics": np.diag([0.0, 1.0, 1.0])}, "property 'intrinsics'.*positive"),
        ({"fov_degrees": 180.0}, "fov_degrees"),
        ({"fx": -2.0}, "fx"),
        ({"fov_degrees": "wide"}, "property 'fov_degrees': expected a number"),
        ({"fx": 50.0, "cy": float("nan")}, "property 'cy'"),
        ({"coordinate_frame": "unity"}, "coordinate_frame"),
        ({"image": "nope"}, "property 'image'"),
    ],
)
def test_projection_bad_inputs_name_the_property(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _project(depth=np.ones((4, 4), np.float32), **kwargs)


def test_export_writes_binary_ply_that_reads_back(tmp_path: Path) -> None:
    from plyfile import PlyData

    image = gradient_image(12, 16)
    depth = np.linspace(1.0, 2.0, 12 * 16, dtype=np.float32).reshape(12, 16)
    cloud = _project(depth=depth, image=wrap(image, "cam-3"), remove_edges=False)["point_cloud"]
    out = PointCloudExportBlock().run(point_cloud=cloud, output_directory=str(tmp_path / "out"), file_prefix="scan")
    path = Path(out["file_path"])
    assert path == (tmp_path / "out" / "scan_cam-3.ply").resolve()
    assert out["num_points"] == len(cloud)
    assert path.read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\n")
    ply = PlyData.read(str(path))
    vertex = ply["vertex"]
    assert vertex.count == len(cloud)
    assert [p.name for p in vertex.properties] == ["x", "y", "z", "red", "green", "blue"]
    assert np.allclose(np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), cloud.points)
    assert np.array_equal(np.stack([vertex["red"], vertex["green"], vertex["blue"]], 1), cloud.colors)
    assert not list(path.parent.glob(".*.tmp"))


def test_export_without_colours_writes_white(tmp_path: Path) -> None:
    from plyfile import PlyData

    cloud = PointCloud(points=np.array([[0, 0, 1], [1, 2, 3]], np.float32))
    out = PointCloudExportBlock().run(point_cloud=cloud, output_directory=str(tmp_path))
    vertex = PlyData.read(out["file_path"])["vertex"]
    assert list(vertex["red"]) == [255, 255] and float(vertex["z"][1]) == 3.0
    assert Path(out["file_path"]).name.startswith("point_cloud_")


@pytest.mark.parametrize("prefix", ["../escape", "/abs", "a/b", "a\\b", "x..y", "", "sp ace"])
def test_export_rejects_unsafe_prefixes(tmp_path: Path, prefix: str) -> None:
    cloud = PointCloud(points=np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="file_prefix"):
        PointCloudExportBlock().run(point_cloud=cloud, output_directory=str(tmp_path), file_prefix=prefix)
    assert list(tmp_path.iterdir()) == []


def test_export_sanitises_image_ids_and_stays_inside(tmp_path: Path) -> None:
    cloud = PointCloud(points=np.zeros((2, 3), np.float32), parent_id="../../etc/passwd")
    out = PointCloudExportBlock().run(point_cloud=cloud, output_directory=str(tmp_path))
    path = Path(out["file_path"])
    assert path.parent == tmp_path.resolve()
    assert path.name == "point_cloud_______etc_passwd.ply"


def test_export_rejects_non_clouds_and_unwritable_directories(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="property 'point_cloud'"):
        PointCloudExportBlock().run(point_cloud=np.zeros((3, 3)), output_directory=str(tmp_path))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cloud = PointCloud(points=np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="property 'output_directory'"):
        PointCloudExportBlock().run(point_cloud=cloud, output_directory=str(blocker / "sub"))


# --- units: the cloud is in the unit of the depth it came from ------------------------------------


def _cloud_workflow(**step: object):
    from depthgraph.engine.workflow import Workflow

    return Workflow.from_definition({
        "version": "1.0",
        "inputs": [{"type": "WorkflowParameter", "name": "depth", "kind": ["depth_map"]}],
        "steps": [{"type": "depthgraph/point_cloud_projection@v1", "name": "cloud", "depth": "$inputs.depth",
                   "fx": 80.0, "fy": 90.0, "remove_edges": False, **step}],
        "outputs": [{"type": "JsonField", "name": "points", "selector": "$steps.cloud.point_cloud"}],
    })  # fmt: skip


def test_metric_depth_gives_a_cloud_in_metres_and_a_ply_that_says_so(tmp_path: Path) -> None:
    from plyfile import PlyData

    from depthgraph.engine.values import DepthMap

    depth = np.linspace(1.0, 3.0, 60 * 80, dtype=np.float32).reshape(60, 80)
    cloud = _project(depth=DepthMap(depth, unit="m"), intrinsics=K, remove_edges=False)["point_cloud"]
    assert cloud.unit == "m"
    np.testing.assert_allclose(cloud.points[:, 2], depth[cloud.pixels[:, 1], cloud.pixels[:, 0]])  # z = the metres
    out = PointCloudExportBlock().run(point_cloud=cloud, output_directory=str(tmp_path), file_prefix="m")
    data = Path(out["file_path"]).read_bytes()
    header = data[: data.index(b"end_header\n")].decode("ascii").splitlines()
    assert header[2:5] == ["comment written by depthgraph", "comment frame opencv", "comment unit m"]
    assert PlyData.read(out["file_path"]).comments[-1] == "unit m"
    # another length unit passes through as it is (no conversion): millimetres stay millimetres
    mm = _project(depth=DepthMap(depth * 1000, unit="mm"), intrinsics=K, remove_edges=False)["point_cloud"]
    assert mm.unit == "mm" and np.allclose(mm.points, cloud.points * 1000, rtol=1e-5)


def test_relative_depth_and_bare_arrays_give_relative_clouds(tmp_path: Path) -> None:
    from depthgraph.engine.values import DepthMap

    depth = np.full((6, 6), 2.0, np.float32)
    for given in (depth, DepthMap(depth), DepthMap(depth, unit="relative")):
        cloud = _project(depth=given, intrinsics=K)["point_cloud"]
        assert cloud.unit == "relative"
    # depth_scale stretches a relative depth; it stays relative (scaled numbers are still no metres)
    scaled = _project(depth=DepthMap(depth), intrinsics=K, depth_scale=3.0)["point_cloud"]
    assert scaled.unit == "relative" and np.allclose(scaled.points[:, 2], 6.0)
    out = PointCloudExportBlock().run(point_cloud=scaled, output_directory=str(tmp_path))
    assert b"\ncomment unit relative\n" in Path(out["file_path"]).read_bytes()


def test_scaling_a_metric_depth_is_refused_naming_step_and_property() -> None:
    from depthgraph.engine.errors import WorkflowError
    from depthgraph.engine.values import DepthMap

    metric = DepthMap(np.full((60, 80), 2.0, np.float32), unit="m")
    (result,) = _cloud_workflow().run(depth=metric)
    assert result["points"].unit == "m" and np.allclose(result["points"].points[:, 2], 2.0)
    with pytest.raises(WorkflowError, match="the depth is in m.*no known unit") as caught:
        _cloud_workflow(depth_scale=100.0).run(depth=metric)
    assert caught.value.step == "cloud" and caught.value.property == "depth_scale"
    # the same scale on a relative depth is what depth_scale is for
    (relative,) = _cloud_workflow(depth_scale=100.0).run(depth=DepthMap(metric.values))
    assert relative["points"].unit == "relative" and np.allclose(relative["points"].points[:, 2], 200.0)
