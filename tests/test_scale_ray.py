"""depthgraph on Ray Data: a local Ray (2 CPUs, loopback) started once for this module.

The workflow is the numpy-only fake-depth block of ``cli_helpers`` (a depth map, an image, a
point cloud and a number per image), so every writer path runs without model weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli_helpers import fake_depth_workflow
from ray_helpers import die_once_workflow, ray_session, tree_files, write_images  # noqa: F401

pytest.importorskip("ray", reason="Ray is not installed (pip install 'depthgraph[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'depthgraph[ray]')")

pytestmark = pytest.mark.slow

runner = CliRunner()
COUNT = 24


def _cli(*args: object):
    from depthgraph.cli import app

    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def both_engines(ray_session, tmp_path_factory):  # noqa: F811
    """The same folder (24 images and one corrupt file) through both engines of ``depthgraph run``."""
    root = tmp_path_factory.mktemp("engines")
    images = root / "images"
    write_images(images, COUNT)
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a header, no image
    workflow = root / "fake.json"
    workflow.write_text(json.dumps(fake_depth_workflow()))
    local = _cli("run", workflow, "--image", images, "-o", root / "local", "--batch-size", "4", "-q")
    ray_run = _cli("run", workflow, "--image", images, "-o", root / "ray", "--batch-size", "4",
                   "--engine", "ray", "--concurrency", "2", "--num-cpus", "0.5", "-q")
    return root, local, ray_run


def test_ray_engine_writes_the_same_files_as_the_local_engine(both_engines):
    root, local, ray_run = both_engines
    assert local.exit_code == 3, local.output  # 3: some images failed (the broken one)
    assert ray_run.exit_code == 3, ray_run.output
    assert f"{COUNT} ok, 1 failed" in ray_run.output
    local_files, ray_files = tree_files(root / "local"), tree_files(root / "ray")
    assert len(local_files) == COUNT * 5  # depth.png/.npy, inverted.png, cloud.ply, results.json
    assert sorted(ray_files) == sorted(local_files)
    different = [name for name in local_files if local_files[name] != ray_files[name]]
    assert different == []  # byte for byte: same pixels, same depth values, same JSON


def test_corrupt_image_is_one_error_row_and_the_rest_go_on(both_engines):
    from depthgraph.scale.ray import load_rows

    root, _, ray_run = both_engines
    rows = load_rows(root / "ray")
    assert len(rows) == COUNT + 1
    failed = [r for r in rows if r["error"] is not None]
    assert [Path(r["input"]).name for r in failed] == ["broken.png"]
    assert "broken.png" in failed[0]["error"] and failed[0]["files"] == []
    assert not (root / "ray" / "broken").exists()
    assert "failed: " in ray_run.output and "broken.png" in ray_run.output


def test_rows_hold_the_non_file_outputs_of_each_results_folder(both_engines):
    import cv2

    from depthgraph.scale.ray import load_rows

    root, _, _ = both_engines
    rows = {r["key"]: r for r in load_rows(root / "ray") if r["error"] is None}
    assert len(rows) == COUNT
    for key, row in rows.items():
        results = json.loads((root / "ray" / key / "results.json").read_text())
        assert row["outputs"] == {"mean": results["outputs"]["mean"]}
        assert sorted(row["files"]) == sorted(f"{key}/{n}" for n in (
            "cloud.ply", "depth.npy", "depth.png", "inverted.png", "results.json"))
        assert row["seconds"] is not None and row["seconds"] >= 0
    image = cv2.imread(str(root / "images" / "img007.png"))
    assert rows["img007"]["outputs"]["mean"] == pytest.approx(float(image.mean(axis=2).mean()), rel=1e-5)
    depth = np.load(root / "ray" / "img007" / "depth.npy")
    np.testing.assert_allclose(depth, 1 + image.mean(axis=2) / 255, atol=1e-6)


def test_an_actor_killed_mid_run_still_gives_every_result_once(ray_session, tmp_path):  # noqa: F811
    from depthgraph.scale.ray import load_rows, run_on_ray

    images = tmp_path / "images"
    names = [p.name for p in write_images(images, 12)]
    names += [p.name for p in write_images(images, 1, prefix="img_kill")]
    marker = tmp_path / "killed"
    summary = run_on_ray(die_once_workflow(marker), str(images), tmp_path / "out",
                         batch_size=2, concurrency=1)
    assert marker.exists()  # the actor really was killed once (its batch ran again elsewhere)
    inputs = [Path(r["input"]).name for r in summary.rows]
    assert sorted(inputs) == sorted(names)  # every input, none twice
    assert all(r["error"] is None for r in summary.rows)
    assert len(load_rows(tmp_path / "out")) == len(names)
    for name in names:
        assert (tmp_path / "out" / Path(name).stem / "depth.npy").is_file()


def test_resume_skips_finished_inputs_unless_overwrite(ray_session, tmp_path):  # noqa: F811
    from depthgraph.scale.ray import load_rows, run_on_ray

    images = tmp_path / "images"
    write_images(images, 10)
    out = tmp_path / "out"
    first = run_on_ray(fake_depth_workflow(), str(images), out, batch_size=4)
    assert (first.planned, first.skipped, first.done) == (10, 0, 10)
    stamps = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    for key in ("img002", "img005", "img009"):  # as if an interrupted run never reached them
        shutil.rmtree(out / key)

    second = run_on_ray(fake_depth_workflow(), str(images), out, batch_size=4)
    assert (second.planned, second.skipped) == (10, 7)
    assert sorted(r["key"] for r in second.rows) == ["img002", "img005", "img009"]
    for key, stamp in stamps.items():
        if key not in ("img002", "img005", "img009"):
            assert (out / key / "results.json").stat().st_mtime_ns == stamp  # not rewritten
    rows = load_rows(out)
    assert [r["key"] for r in rows] == [f"img{i:03d}" for i in range(10)]  # one row each
    assert all(r["error"] is None for r in rows)

    third = run_on_ray(fake_depth_workflow(), str(images), out, batch_size=4, overwrite=True)
    assert (third.skipped, third.done) == (0, 10)
    assert (out / "img000" / "results.json").stat().st_mtime_ns != stamps["img000"]


def test_more_actors_than_cpus_is_one_clear_line_not_a_hang(ray_session, tmp_path):  # noqa: F811
    write_images(tmp_path / "images", 2)
    workflow = tmp_path / "fake.json"
    workflow.write_text(json.dumps(fake_depth_workflow()))
    result = _cli("run", workflow, "-i", tmp_path / "images", "-o", tmp_path / "out",
                  "--engine", "ray", "--concurrency", "3", "--num-cpus", "1", "-q")
    assert result.exit_code == 1
    assert "needs 3.25 CPUs; this Ray has 2" in " ".join(result.output.split())


def test_the_documented_two_cpu_command_fits_the_actors_to_the_cpus(ray_session, tmp_path):  # noqa: F811
    """Issue 20 item 4: `--concurrency 2` without --num-cpus on a 2-CPU Ray runs (2 x 0.875)."""
    write_images(tmp_path / "images", 3)
    workflow = tmp_path / "fake.json"
    workflow.write_text(json.dumps(fake_depth_workflow()))
    result = _cli("run", workflow, "-i", tmp_path / "images", "-o", tmp_path / "out",
                  "--engine", "ray", "--concurrency", "2", "-q")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "3 ok, 0 failed" in text and "on 2 actor(s) x 0.875 CPU" in text
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == \
        ["img000", "img001", "img002"]


def test_depth_model_on_ray_gives_the_numbers_of_a_single_process_run(ray_session, tmp_path,  # noqa: F811
                                                                       monkeypatch):
    """The real DA3-small network (recipe weights), loaded once in the actor."""
    import cv2

    from model_helpers import random_bgr, recipe_weights_root
    from depthgraph.scale.ray import load_rows, run_on_ray

    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(recipe_weights_root("small")))
    (tmp_path / "images").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "images" / f"photo{i}.png"), random_bgr(48, 64, seed=i))
    workflow = tmp_path / "depth.json"
    workflow.write_text(json.dumps({
        "version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [{"type": "roboflow_core/depth_estimation@v1", "name": "depth",
                   "images": "$inputs.image"}],
        "outputs": [{"type": "JsonField", "name": "depth", "selector": "$steps.depth.depth"},
                    {"type": "JsonField", "name": "intrinsics",
                     "selector": "$steps.depth.intrinsics"}]}))
    local = _cli("run", workflow, "-i", tmp_path / "images", "-o", tmp_path / "local",
                 "--batch-size", "2", "-q")
    assert local.exit_code == 0, local.output
    summary = run_on_ray(str(workflow), str(tmp_path / "images"), tmp_path / "ray", batch_size=2,
                         num_cpus=1)
    assert (summary.done, summary.failed) == (2, 0)
    rows = {r["key"]: r for r in load_rows(tmp_path / "ray")}
    for i in range(2):
        key = f"photo{i}"
        ours = np.load(tmp_path / "ray" / key / "depth.npy")
        theirs = np.load(tmp_path / "local" / key / "depth.npy")
        assert ours.shape == (48, 64) and np.ptp(ours) > 0
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        results = json.loads((tmp_path / "local" / key / "results.json").read_text())
        np.testing.assert_allclose(rows[key]["outputs"]["intrinsics"],
                                   results["outputs"]["intrinsics"], rtol=1e-5)


def test_missing_weights_stop_the_run_with_one_line(ray_session, tmp_path, monkeypatch):  # noqa: F811
    """An error that would fail every image alike is not turned into one error row per image."""
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_images(tmp_path / "images", 3)
    workflow = tmp_path / "depth.json"
    workflow.write_text(json.dumps({
        "version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [{"type": "roboflow_core/depth_estimation@v1", "name": "depth",
                   "images": "$inputs.image"}],
        "outputs": [{"type": "JsonField", "name": "depth", "selector": "$steps.depth.depth"}]}))
    result = _cli("run", workflow, "-i", tmp_path / "images", "-o", tmp_path / "out",
                  "--engine", "ray", "-q")
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "error: the Ray run stopped:" in text and "weights" in text.lower()
    assert "Traceback" not in result.output
