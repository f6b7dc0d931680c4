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
from video_helpers import read_video

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


# --- output_writer: file names ---------------------------------------------------------------


def test_safe_names_keep_safe_characters_and_never_start_with_a_dot() -> None:
    from depthgraph.output_writer import safe_name

    assert safe_name("X-ray 1.v2") == "X-ray_1.v2"  # safe characters kept as they are
    assert safe_name("..secret") == "secret" and safe_name("._a b_.") == "a_b"  # no hidden files
    assert safe_name("???") == "output" and safe_name("..") == "output"  # nothing safe left


# --- output_root: confined folders, plain files, shown paths ---------------------------------


def _refusal(call, *args, **kwargs) -> StepInputError:
    with pytest.raises(StepInputError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_confined_folders_refuse_what_leaves_the_root_naming_the_property_and_request(
        tmp_path: Path) -> None:
    from depthgraph.output_root import output_directory, writing_under

    outside = tmp_path / "outside"
    outside.mkdir()
    with writing_under(tmp_path / "root") as root:
        (root / "escape").symlink_to(outside, target_is_directory=True)
        # what was asked -> a word of why it is refused
        cases = {"~/x": "relative", "/etc/x": "absolute", "\\x": "absolute", "a/../b": "'..'",
                 "a\\..\\b": "'..'", "escape/x": "link", "a\x00b": "nul"}
        for requested, why in cases.items():
            error = _refusal(output_directory, requested, prop="folder")
            assert error.property == "folder", requested
            assert repr(requested.replace("\x00", "\\0")) in str(error), requested
            assert why in str(error).lower(), requested
        assert not any(outside.iterdir()) and sorted(p.name for p in root.iterdir()) == ["escape"]
        # the root itself, and a folder made inside it one part at a time
        assert output_directory(".") == root and output_directory("") == root
        assert output_directory("a/b") == root / "a" / "b" and (root / "a" / "b").is_dir()


def test_unconfined_folders_are_made_with_their_parents_and_bad_ones_are_named(tmp_path: Path) -> None:
    from depthgraph.output_root import output_directory

    made = output_directory(str(tmp_path / "a" / "b"))
    assert made == (tmp_path / "a" / "b").resolve() and made.is_dir()
    (tmp_path / "file").write_text("x")
    for requested, why in [(str(tmp_path / "file"), "not a folder"),
                           (str(tmp_path / "file" / "sub"), "not a folder"),
                           (str(tmp_path / "a\x00b"), "nul")]:
        error = _refusal(output_directory, requested, prop="folder")
        assert error.property == "folder"
        assert repr(requested.replace("\x00", "\\0")) in str(error) and why in str(error).lower()


def test_output_file_takes_only_a_plain_file_name(tmp_path: Path) -> None:
    from depthgraph.output_root import output_file

    for name in ["a/b", "a\\b", "a\x00b", "", ".", ".."]:
        assert _refusal(output_file, tmp_path, name, prop="p").property == "p", name
    assert output_file(tmp_path, "new.txt", prop="p") == tmp_path / "new.txt"


def test_written_files_are_not_executable_and_refusals_name_the_output_directory(tmp_path: Path) -> None:
    import os

    from depthgraph.output_root import write_file, writing_under

    path = write_file(tmp_path / "a.bin", b"data")
    assert path.read_bytes() == b"data" and os.stat(path).st_mode & 0o111 == 0
    (tmp_path / "taken.png").mkdir()
    error = _refusal(write_file, tmp_path / "taken.png", b"x")
    assert error.property == "output_directory" and "taken.png" in str(error)
    assert _refusal(write_file, tmp_path / "taken.png", b"x", prop="frames").property == "frames"
    with writing_under(tmp_path / "root"):
        error = _refusal(write_file, tmp_path / "out.txt", b"x")
    assert error.property == "output_directory" and "out.txt" in str(error)
    assert not (tmp_path / "out.txt").exists()


def test_an_output_name_that_is_a_folder_of_another_at_any_depth_is_renamed() -> None:
    from depthgraph.output_root import OutputNames

    names = OutputNames()
    assert [names.claim(n) for n in ["a/b/c", "A/B", "a"]] == ["a/b/c", "A/B_2", "a_2"]


def test_shown_paths_are_relative_to_the_root_under_its_shown_name(tmp_path: Path) -> None:
    from depthgraph.output_root import shown_path, writing_under

    with writing_under(tmp_path / "root", shown_as="out") as root:
        assert shown_path(root / "a" / "b.png") == "out/a/b.png"
    with writing_under(tmp_path / "root") as root:
        assert shown_path(root / "a" / "b.png") == "a/b.png"


# --- video.sinks: MP4 files, results.jsonl, video.json ---------------------------------------


def test_mp4_writer_takes_fps_and_codec_as_documented(tmp_path: Path) -> None:
    from depthgraph.video.sinks import Mp4Writer, VideoOutputWriter, VideoSinkError, h264_available

    path = tmp_path / "v.mp4"
    assert [Mp4Writer(path, fps).fps for fps in (0, -5, 0.5, 25)] == [30.0, 30.0, 0.5, 25.0]
    assert Mp4Writer(path, 10, "mp4v").codec == "mp4v"
    assert Mp4Writer(path, 10).codec == ("h264" if h264_available() else "mp4v")
    if h264_available():
        assert Mp4Writer(path, 10, "h264").codec == "h264"
        assert VideoOutputWriter(tmp_path / "h", 10, codec="h264").codec == "h264"
    for make in (lambda: Mp4Writer(path, 10, "vp9"),
                 lambda: VideoOutputWriter(tmp_path / "x", 10, codec="vp9")):
        with pytest.raises(VideoSinkError, match="vp9"):
            make()
    assert not path.exists()  # nothing is written before the first frame


def test_mp4_writer_refuses_frames_that_are_not_bgr_uint8_naming_the_file(tmp_path: Path) -> None:
    from depthgraph.video.sinks import Mp4Writer, VideoSinkError

    for frame in (np.zeros((4, 6, 4), np.uint8), np.zeros((4, 6, 3), np.float32)):
        with pytest.raises(VideoSinkError, match="clip.mp4"):
            Mp4Writer(tmp_path / "clip.mp4", 10, "mp4v").write(frame)


def test_mp4v_crops_an_odd_size_and_resizes_later_frames_to_the_first(tmp_path: Path) -> None:
    from depthgraph.video.sinks import Mp4Writer

    path = tmp_path / "new" / "deeper" / "v.mp4"  # its folders are made
    writer = Mp4Writer(path, 10, "mp4v")
    writer.write(np.full((17, 23, 3), (0, 0, 255), np.uint8))
    writer.write(np.full((34, 46, 3), 255, np.uint8))  # another size: resized to the first
    writer.write(np.zeros((17, 23), np.uint8))  # grey: made BGR
    writer.close()
    assert (writer.codec, writer.size, writer.even_size_fix, writer.frames_written) == \
        ("mp4v", (23, 17), "cropped", 3)
    frames = read_video(path)[0]
    assert [f.shape for f in frames] == [(16, 22, 3)] * 3
    assert frames[0][8, 11, 2] > 200 and frames[0][8, 11, 0] < 60  # red stays red
    assert frames[1].mean() > 200 and frames[2].mean() < 50


def test_h264_pads_an_odd_size_and_keeps_the_colours(tmp_path: Path) -> None:
    from depthgraph.video.sinks import Mp4Writer, h264_available

    if not h264_available():
        pytest.skip("PyAV not installed")
    writer = Mp4Writer(tmp_path / "v.mp4", 10, "h264")
    for _ in range(2):
        writer.write(np.full((17, 23, 3), (0, 0, 255), np.uint8))
    writer.close()
    assert (writer.size, writer.even_size_fix, writer.frames_written) == ((23, 17), "padded", 2)
    frames = read_video(tmp_path / "v.mp4")[0]
    assert [f.shape for f in frames] == [(18, 24, 3)] * 2
    assert frames[0][9, 12, 2] > 200 and frames[0][9, 12, 0] < 60  # red, not blue
    # the added column and row repeat the edge (red), they are not black
    assert frames[0][9, 23, 2] > 150 and frames[0][17, 12, 2] > 150


def _metadata(number: int):
    from depthgraph.engine.values import VideoMetadata

    return VideoMetadata(video_identifier="clip", frame_number=number, frame_timestamp=number / 10, fps=10)


def test_video_output_folder_records_every_frame_and_every_file(tmp_path: Path) -> None:
    import os

    from depthgraph.engine.values import PointCloud, WorkflowImageData
    from depthgraph.video.sinks import VideoOutputWriter

    out = tmp_path / "a" / "b"  # made with its parents
    writer = VideoOutputWriter(out, fps=10, ply_every=1, codec="mp4v")
    (out / "results.jsonl").write_text("stale line from an earlier run\n" * 500)
    cloud = PointCloud(np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 3.0]], np.float32))
    for number in (7, 8, 9):
        writer.write(_metadata(number), {
            "picture": WorkflowImageData(numpy_image=np.zeros((4, 6, 3), np.uint8)),
            "cloud": cloud, "inline": np.arange(64).reshape(8, 8), "big": np.arange(65.0), "values": [1, 2]})
    files = writer.close({"source": Path("clip.mp4")})  # any value, written as text
    assert writer.close() == files  # a second close writes nothing again
    plys = [out / "cloud" / f"frame_{n:06d}.ply" for n in (7, 8, 9)]
    assert files == [out / "picture.mp4", out / "results.jsonl", *plys, out / "video.json"]

    summary = json.loads((out / "video.json").read_text())
    assert summary["source"] == "clip.mp4" and summary["frames_written"] == 3
    assert summary["results"] == "results.jsonl"
    assert summary["videos"] == {"picture.mp4": {"frames": 3, "codec": "mp4v", "width": 6, "height": 4,
                                                 "even_size_fix": None}}
    assert summary["point_clouds"] == [f"cloud/frame_{n:06d}.ply" for n in (7, 8, 9)]

    text = (out / "results.jsonl").read_text()
    assert "stale" not in text and os.stat(out / "results.jsonl").st_mode & 0o111 == 0
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["frame_number"] for line in lines] == [7, 8, 9]
    outputs = lines[2]["outputs"]
    assert outputs["picture"] == {"type": "video_frame", "file": "picture.mp4", "frame_index": 2}
    assert outputs["cloud"]["type"] == "point_cloud" and outputs["cloud"]["file"] == "cloud/frame_000009.ply"
    assert outputs["inline"] == np.arange(64).reshape(8, 8).tolist()  # 64 values: inline
    assert isinstance(outputs["big"], dict)  # more than 64: summarised
    assert outputs["values"] == [1, 2]
    assert len(read_video(out / "picture.mp4")[0]) == 3


def test_point_clouds_are_not_written_by_default(tmp_path: Path) -> None:
    from depthgraph.engine.values import PointCloud
    from depthgraph.video.sinks import VideoOutputWriter

    writer = VideoOutputWriter(tmp_path / "out", fps=10)  # ply_every 0: never
    writer.write(_metadata(0), {"cloud": PointCloud(np.zeros((2, 3), np.float32))})
    writer.close()
    summary = json.loads((tmp_path / "out" / "video.json").read_text())
    assert summary["point_clouds"] == [] and not (tmp_path / "out" / "cloud").exists()


def test_a_video_output_folder_without_frames_names_no_results_file(tmp_path: Path) -> None:
    from depthgraph.video.sinks import VideoOutputWriter

    writer = VideoOutputWriter(tmp_path / "empty", fps=10)
    assert writer.close() == [tmp_path / "empty" / "video.json"]
    summary = json.loads((tmp_path / "empty" / "video.json").read_text())
    assert summary["results"] is None and summary["frames_written"] == 0 and summary["videos"] == {}
    assert not (tmp_path / "empty" / "results.jsonl").exists()


def test_results_jsonl_streams_are_plain_files_and_a_refusal_names_the_output_directory(
        tmp_path: Path) -> None:
    from depthgraph.video.sinks import JsonlWriter

    fresh = JsonlWriter(tmp_path / "x" / "y" / "r.jsonl")  # its folders are made
    fresh.write({"n": 1, "where": Path("a")})
    fresh.write({"n": 2})
    fresh.close()
    assert fresh.lines == 2 and fresh.path.stat().st_mode & 0o111 == 0  # not executable
    assert [json.loads(line) for line in fresh.path.read_text().splitlines()] == \
        [{"n": 1, "where": "a"}, {"n": 2}]
    (tmp_path / "results.jsonl").mkdir()
    writer = JsonlWriter(tmp_path / "results.jsonl")
    error = _refusal(writer.write, {"frame_number": 0})
    assert error.property == "output_directory" and "results.jsonl" in str(error)
