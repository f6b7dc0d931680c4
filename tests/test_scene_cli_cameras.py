"""``depthgraph scene --cameras``: the corridor example with its metric trajectory, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData
from test_scene_cli import fresh_models  # noqa: F401  (autouse: the small recipe network on the CPU)
from typer.testing import CliRunner

from depthgraph.cli import app
from depthgraph.scene_io import read_colmap, read_transforms_json

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "scenes" / "corridor"


def _points(path: Path) -> np.ndarray:
    v = PlyData.read(str(path))["vertex"]
    return np.stack([v["x"], v["y"], v["z"]], axis=1).astype(np.float64)


def _glb_unit(path: Path) -> str:
    """``scenes[0].extras.unit`` of a GLB, read from its JSON chunk (no glTF library needed)."""
    data = path.read_bytes()
    assert data[:4] == b"glTF"
    length = int.from_bytes(data[12:16], "little")
    assert data[16:20] == b"JSON"
    return json.loads(data[20 : 20 + length])["scenes"][0]["extras"]["unit"]


def test_corridor_in_the_callers_frame_and_unit(tmp_path):
    out_m = tmp_path / "m"
    result = runner.invoke(app, ["scene", str(EXAMPLE / "images"), "--cameras", str(EXAMPLE / "transforms.json"),
                                 "--units", "m", "-o", str(out_m), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "your cameras' frame, depth unit m" in result.output
    summary = json.loads((out_m / "scene.json").read_text())
    assert summary["depth_unit"] == "m" == summary["point_unit"] and summary["frame"] == "given cameras"
    assert PlyData.read(str(out_m / "scene.ply")).comments[-1] == "unit m"
    assert _glb_unit(out_m / "scene.glb") == "m"
    assert summary["reference_view"] == 0 and summary["pose_alignment"]["scale"] > 0
    assert summary["pose_alignment"]["degenerate"] is False  # the trajectory is not a line
    given = {Path(c.name).name: c for c in read_transforms_json(EXAMPLE / "transforms.json")}
    # the exported cameras are the caller's (float32), in both formats
    for cam in read_colmap(out_m / "colmap"):
        np.testing.assert_allclose(cam.extrinsics, given[cam.name].extrinsics, atol=1e-6)
        np.testing.assert_allclose(cam.intrinsics, given[cam.name].intrinsics, rtol=1e-6)
    for cam in read_transforms_json(out_m / "transforms.json"):
        np.testing.assert_allclose(cam.extrinsics, given[Path(cam.name).name].extrinsics, atol=1e-6)

    # the same trajectory in centimetres: the same scene, 100 times larger numbers
    doc = json.loads((EXAMPLE / "transforms.json").read_text())
    for frame in doc["frames"]:
        m = np.array(frame["transform_matrix"])
        m[:3, 3] *= 100
        frame["transform_matrix"] = m.tolist()
    (tmp_path / "cm.json").write_text(json.dumps(doc))
    out_cm = tmp_path / "cm"
    result = runner.invoke(app, ["scene", str(EXAMPLE / "images"), "--cameras", str(tmp_path / "cm.json"),
                                 "--units", "cm", "-o", str(out_cm), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((out_cm / "scene.json").read_text())["depth_unit"] == "cm"
    assert PlyData.read(str(out_cm / "scene.ply")).comments[-1] == "unit cm"
    assert _glb_unit(out_cm / "scene.glb") == "cm"
    pts_m, pts_cm = _points(out_m / "scene.ply"), _points(out_cm / "scene.ply")
    assert len(pts_m) == len(pts_cm) > 0
    np.testing.assert_allclose(pts_cm, 100 * pts_m, rtol=1e-3, atol=1e-3 * np.abs(pts_cm).max())
    assert '"unit": "m"' in (out_m / "views" / "view_0" / "results.json").read_text()
    assert '"unit": "cm"' in (out_cm / "views" / "view_0" / "results.json").read_text()
    d_m = np.load(out_m / "views" / "view_0" / "depth.npy")
    d_cm = np.load(out_cm / "views" / "view_0" / "depth.npy")
    np.testing.assert_allclose(d_cm, 100 * d_m, rtol=1e-3)


def test_camera_errors_are_clear(tmp_path):
    images = tmp_path / "shots"
    shutil.copytree(EXAMPLE / "images", images)
    shutil.copyfile(images / "view_0.png", images / "extra.png")
    result = runner.invoke(app, ["scene", str(images), "--cameras", str(EXAMPLE / "transforms.json"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "image" in result.output and "extra.png" in result.output
    result = runner.invoke(app, ["scene", str(EXAMPLE / "images"), "--cameras", str(tmp_path / "nothing"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "no such file or folder" in result.output
    result = runner.invoke(app, ["scene", str(EXAMPLE / "images"), "--units", "m", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "pass --cameras too" in result.output
    result = runner.invoke(app, ["scene", str(EXAMPLE / "images"), "--cameras", str(EXAMPLE / "transforms.json"),
                                 "--units", "parsec", "-o", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 1 and "--units" in result.output and "parsec" in result.output
    assert not (tmp_path / "o" / "scene.json").exists()


@pytest.mark.parametrize("count", [0, 3])
def test_a_glb_is_written_for_any_number_of_points(tmp_path, count):
    """An empty cloud (every point under the confidence threshold) still gives a valid GLB with
    its unit: trimesh refuses to export an empty scene, glTF does not."""
    import trimesh

    from depthgraph.scene_export import write_glb

    points = np.arange(count * 3, dtype=np.float32).reshape(count, 3)
    path = write_glb(tmp_path / "scene.glb", points, None, unit="cm")
    data = path.read_bytes()
    assert int.from_bytes(data[8:12], "little") == len(data)  # the header's total length
    assert _glb_unit(path) == "cm"
    loaded = trimesh.load(str(path))
    assert loaded.metadata["unit"] == "cm"
    assert sum(len(g.vertices) for g in loaded.geometry.values()) == count
    assert [p.name for p in tmp_path.iterdir()] == ["scene.glb"]  # no temporary left behind
