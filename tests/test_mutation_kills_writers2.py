"""What the writers promise, second round: pinned where the widened mutation run (issue 18, item
11; docs/testing.md) found that no test noticed a change. Covers the scene exports (COLMAP text,
Nerfstudio ``transforms.json``, the views' file names), the PLY writer, the ``run``/``predict``
output folders, the output-root confinement, the batch runner's folders and the video sinks.
Small real data written to ``tmp_path``; the file runs in a few seconds because mutmut runs it
again for every mutant of the functions it reaches. The first round is
``test_mutation_kills_writers.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depthgraph.engine.errors import StepInputError

# --- scene_export: COLMAP text, transforms.json, view names ----------------------------------


def _rotation(axis: tuple[float, float, float], angle: float) -> np.ndarray:
    """Rodrigues' formula: the rotation by ``angle`` (radians) about ``axis``."""
    n = np.asarray(axis, dtype=np.float64)
    n = n / np.linalg.norm(n)
    k = np.array([[0.0, -n[2], n[1]], [n[2], 0.0, -n[0]], [-n[1], n[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def _quaternion(axis: tuple[float, float, float], angle: float) -> np.ndarray:
    """(w, x, y, z) of the same rotation, with w >= 0."""
    n = np.asarray(axis, dtype=np.float64)
    n = n / np.linalg.norm(n)
    q = np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * n])
    return -q if q[0] < 0 else q


# small and large angles about axes with every component non-zero, the largest component on x,
# y and z in turn (each branch of the conversion), and negative axis components
ROTATIONS = [((1, 2, 3), 0.5), ((-1, 2, 3), 0.5), ((1, 2, 3), -2.5), ((3, 1, 2), 2.5),
             ((1, 3, 2), 2.5), ((-1, -3, 2), 2.8), ((2, -1, -3), 2.9)]


@pytest.mark.parametrize("axis, angle", ROTATIONS)
def test_rotation_to_quaternion_gives_the_unit_quaternion_with_w_not_negative(axis, angle) -> None:
    from depthgraph.scene_export import rotation_to_quaternion

    q = rotation_to_quaternion(_rotation(axis, angle))
    np.testing.assert_allclose(q, _quaternion(axis, angle), atol=1e-12)
    assert q[0] >= 0


def _camera(name: str, axis, angle, t, focal: float, size: tuple[int, int]):
    from depthgraph.scene_export import Camera

    height, width = size
    k = np.array([[focal, 0.0, width / 2 + 0.25], [0.0, focal * 1.1, height / 2 - 0.5], [0, 0, 1]])
    e = np.concatenate([_rotation(axis, angle), np.asarray(t, float)[:, None]], axis=1)
    return Camera(name, k, e, height, width)


def test_colmap_text_model_numbers_cameras_from_one_and_writes_the_three_files(tmp_path: Path) -> None:
    from depthgraph.scene_export import write_colmap_text

    poses = [((1, 2, 3), 0.5, [0.5, -1.0, 2.0]), ((3, 1, 2), 2.5, [1.0, 2.0, -3.0])]
    cameras = [_camera("a.png", *poses[0], 300.0, (40, 60)), _camera("b.jpg", *poses[1], 200.0, (30, 50))]
    written = write_colmap_text(tmp_path, cameras)
    assert [p.name for p in written] == ["cameras.txt", "images.txt", "points3D.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cameras.txt", "images.txt", "points3D.txt"]

    camera_lines = [line.split() for line in (tmp_path / "cameras.txt").read_text().splitlines()
                    if not line.startswith("#")]
    assert [c[:4] for c in camera_lines] == [["1", "PINHOLE", "60", "40"], ["2", "PINHOLE", "50", "30"]]
    np.testing.assert_allclose([float(v) for v in camera_lines[1][4:]], [200.0, 220.0, 25.25, 14.5])

    # two lines per image: the pose, then an empty line (no 2D points)
    lines = (tmp_path / "images.txt").read_text().split("\n")
    data = [line for line in lines if not line.startswith("#")]
    assert data == [data[0], "", data[2], "", ""]  # the file ends with a newline
    for i, (line, camera, (axis, angle, t)) in enumerate(zip(data[0::2], cameras, poses), start=1):
        fields = line.split()
        assert fields[0] == str(i) and fields[8] == str(i) and fields[9] == camera.name
        np.testing.assert_allclose([float(v) for v in fields[1:5]], _quaternion(axis, angle), atol=1e-9)
        np.testing.assert_allclose([float(v) for v in fields[5:8]], t)
    # every line of points3D.txt is a comment: there are no points
    points = (tmp_path / "points3D.txt").read_text().splitlines()
    assert points and all(line.startswith("#") for line in points)


def test_transforms_json_names_the_opencv_camera_model_and_its_errors_the_output_property(
        tmp_path: Path) -> None:
    from depthgraph.scene_export import write_transforms_json

    camera = _camera("images/a.png", (1, 2, 3), 0.5, [0.5, -1.0, 2.0], 300.0, (40, 60))
    doc = json.loads(write_transforms_json(tmp_path / "transforms.json", [camera]).read_text())
    assert doc["camera_model"] == "OPENCV"  # Nerfstudio reads the model from this key
    frame = doc["frames"][0]
    assert (frame["file_path"], frame["w"], frame["h"], frame["fl_x"], frame["cy"]) == \
        ("images/a.png", 60, 40, 300.0, 19.5)
    (tmp_path / "taken.json").mkdir()
    with pytest.raises(StepInputError) as caught:
        write_transforms_json(tmp_path / "taken.json", [camera])
    assert caught.value.property == "output" and "taken.json" in str(caught.value)


def test_view_names_are_safe_unique_ignoring_case_and_keep_only_safe_extensions() -> None:
    from depthgraph.scene_export import unique_names

    sources = [Path("in") / "My Photo.jpg", Path("other") / "my photo.png", Path("weird.p g"),
               Path("noext"), Path("x") / "a.tif"]
    names = unique_names(sources)
    assert names == ["My_Photo.jpg", "my_photo_2.png", "weird.png", "noext.png", "a.tif"]
    assert not any(c.isspace() for name in names for c in name)
