"""What the writers promise, pinned where mutation testing (docs/testing.md, issue 18) found that
no test noticed a change: the output folders of ``run``/``predict`` and the batch runner, the
output-root confinement, the scene exports (COLMAP, Nerfstudio), the video sinks and the PLY
writer. Small real data, real files in ``tmp_path``; the whole file runs in a few seconds because
mutmut runs it again for every mutant of the functions it reaches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthgraph.engine.encoders import PNG16_DECODE
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import DepthMap, PointCloud, WorkflowImageData
from depthgraph.output_writer import write_result


def _image(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _results(directory: Path) -> dict:
    return json.loads((directory / "results.json").read_text())


# --- output_writer: one result as files ------------------------------------------------------


def test_results_json_names_each_written_file_with_its_kind(tmp_path: Path) -> None:
    picture = _image(4, 5, 0)
    depth = np.linspace(1.0, 9.0, 12, dtype=np.float32).reshape(3, 4)
    confidence = np.arange(65, dtype=np.float32).reshape(5, 13)  # 65 values: a file
    small = np.arange(64, dtype=np.int64).reshape(8, 8)  # 64 values: inline
    cloud = PointCloud(np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], np.float32))
    out = tmp_path / "out"
    write_result({"picture": WorkflowImageData(numpy_image=picture), "depth": DepthMap(depth),
                  "confidence": confidence, "small": small, "cloud": cloud}, out)
    outputs = _results(out)["outputs"]

    assert outputs["picture"] == {"type": "file", "kind": "image", "path": "picture.png",
                                  "width": 5, "height": 4}
    np.testing.assert_array_equal(cv2.imread(str(out / "picture.png")), picture)

    entry = outputs["depth"]
    assert (entry["type"], entry["kind"], entry["path"], entry["npy"]) == \
        ("file", "depth_map", "depth.png", "depth.npy")
    assert "png_encoding" in entry and entry["decode"] == PNG16_DECODE
    np.testing.assert_array_equal(np.load(out / entry["npy"]), depth)
    png = cv2.imread(str(out / entry["path"]), cv2.IMREAD_UNCHANGED)
    decoded = entry["min"] + png / 65535 * (entry["max"] - entry["min"])
    np.testing.assert_allclose(decoded, depth, atol=1e-3)

    assert outputs["confidence"] == {"type": "file", "kind": "numpy_array",
                                     "npy": "confidence.npy", "shape": [5, 13], "dtype": "float32"}
    np.testing.assert_array_equal(np.load(out / "confidence.npy"), confidence)
    assert outputs["small"] == small.tolist()
    assert not (out / "small.npy").exists()

    entry = outputs["cloud"]
    assert (entry["type"], entry["kind"], entry["path"]) == ("file", "point_cloud", "cloud.ply")
    assert entry["num_points"] == 2 and (out / "cloud.ply").read_bytes().startswith(b"ply\n")


def test_outputs_whose_file_names_clash_get_a_file_each(tmp_path: Path) -> None:
    pictures = [_image(3, 3, seed) for seed in range(3)]
    # three output names that are the same once made file-name safe
    result = {name: WorkflowImageData(numpy_image=p) for name, p in zip(["a b", "a_b", "a?b"], pictures)}
    files = write_result(result, tmp_path)
    outputs = _results(tmp_path)["outputs"]
    paths = [outputs[name]["path"] for name in result]
    assert len(set(paths)) == 3 and len(files) == 4  # three pictures and results.json
    for path, picture in zip(paths, pictures):
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / path)), picture)


def test_write_result_makes_missing_folders_and_writes_into_an_existing_one(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "c"
    write_result({"n": 1}, nested)
    write_result({"n": 2}, nested)  # the folder exists now: written again, not refused
    assert _results(nested)["outputs"] == {"n": 2}


def test_extra_values_such_as_a_source_path_are_recorded_in_results_json(tmp_path: Path) -> None:
    source = Path("images") / "photo.jpg"
    write_result({"n": 1}, tmp_path, extra={"source": source})
    assert _results(tmp_path)["source"] == str(source)


# --- batch.folders: the batch runner's folders -----------------------------------------------


def test_a_job_folder_is_placed_whole_at_any_depth_and_records_its_images(tmp_path: Path) -> None:
    from depthgraph.batch.folders import check_output_dir, write_job
    from depthgraph.batch.jobs import ImageJob

    output = check_output_dir(tmp_path / "new" / "runs")  # missing parents are made
    assert output.is_dir()
    job = ImageJob(label="a", images={"image": Path("in") / "a.png", "depth": "s3://b/a.png"},
                   folder="x/y/z")
    files = write_job(job, {"n": 1}, output)
    folder = output / "x" / "y" / "z"
    assert files == [folder / "results.json"] and files[0].is_file()
    assert _results(folder)["images"] == {"image": str(Path("in") / "a.png"), "depth": "s3://b/a.png"}
    assert sorted(p.name for p in (output / "x" / "y").iterdir()) == ["z"]  # nothing half-written


def test_an_output_folder_that_is_a_file_is_refused_by_name(tmp_path: Path) -> None:
    from depthgraph.batch.errors import RunSetupError
    from depthgraph.batch.folders import check_output_dir

    taken = tmp_path / "taken"
    taken.write_text("x")
    with pytest.raises(RunSetupError, match="taken"):
        check_output_dir(taken)


# --- output_root: confinement, replacing folders, user files, output names -------------------


def test_replace_folder_refuses_a_target_outside_the_output_root(tmp_path: Path) -> None:
    from depthgraph.output_root import replace_folder, writing_under

    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    finished = root / ".partial"
    finished.mkdir(parents=True)
    with writing_under(root):
        with pytest.raises(OSError, match="outside the output root"):
            replace_folder(finished, outside / "job")
    assert finished.is_dir() and not (outside / "job").exists()


def test_replace_folder_refuses_a_file_or_a_link_in_its_place_and_leaves_them(tmp_path: Path) -> None:
    from depthgraph.output_root import replace_folder

    finished = tmp_path / ".partial"
    finished.mkdir()
    (finished / "new.txt").write_text("new")
    a_file = tmp_path / "file"
    a_file.write_text("keep")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    a_link = tmp_path / "link"
    a_link.symlink_to(elsewhere, target_is_directory=True)
    for target in (a_file, a_link):
        with pytest.raises(OSError, match="not a folder"):
            replace_folder(finished, target)
    assert a_file.read_text() == "keep" and a_link.is_symlink() and not any(elsewhere.iterdir())
    assert (finished / "new.txt").is_file()


def test_replace_folder_replaces_an_earlier_folder_and_leaves_no_copy(tmp_path: Path) -> None:
    from depthgraph.output_root import replace_folder

    earlier = tmp_path / "job"
    earlier.mkdir()
    (earlier / "old.txt").write_text("old")
    finished = tmp_path / ".partial"
    finished.mkdir()
    (finished / "new.txt").write_text("new")
    replace_folder(finished, earlier)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job"]
    assert sorted(p.name for p in earlier.iterdir()) == ["new.txt"]


def test_user_files_are_read_and_copied_byte_for_byte_never_through_a_link(tmp_path: Path) -> None:
    from depthgraph.output_root import UserFileError, copy_user_file, read_user_file

    data = bytes(range(256)) * 3  # not text in any encoding
    source = tmp_path / "photo.bin"
    source.write_bytes(data)
    assert read_user_file(source) == data
    copied = copy_user_file(source, tmp_path / "copy.bin")
    assert copied.read_bytes() == data
    link = tmp_path / "link.bin"
    link.symlink_to(source)
    with pytest.raises(UserFileError, match="symbolic link"):
        read_user_file(link)


def test_copy_user_file_errors_name_the_output_property(tmp_path: Path) -> None:
    from depthgraph.output_root import copy_user_file

    source = tmp_path / "photo.bin"
    source.write_bytes(b"x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(StepInputError) as caught:
        copy_user_file(source, tmp_path / "folder")
    assert caught.value.property == "output" and "folder" in str(caught.value)


def test_output_names_are_never_shared_ignoring_case_nor_a_folder_of_another() -> None:
    from depthgraph.output_root import OutputNames

    names = OutputNames()
    asked = ["x/y", "x", "X", "x/y/z", "p/q", "P/Q", "p/q", "a b", "a"]
    given = [names.claim(n) for n in asked]
    assert given == ["x/y", "x_2", "X_3", "x/y_2/z", "p/q", "P/Q_2", "p/q_3", "a b", "a"]
    keys = [g.lower() for g in given]
    assert len(set(keys)) == len(keys)
    assert not [(a, b) for a in keys for b in keys if b.startswith(a + "/")]
