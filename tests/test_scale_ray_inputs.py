"""The scale-out plan without Ray: listing, keys, resume, rows, and the read stage on file:// URIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ray_helpers import write_images
from depthgraph.scale.inputs import is_uri, key_for, list_inputs, split_done

pa = pytest.importorskip("pyarrow", reason="pyarrow comes with Ray Data (pip install 'depthgraph[ray]')")


def test_flat_folder_keys_are_the_stems_as_depthgraph_run_names_its_folders(tmp_path):
    from cli_helpers import fake_depth_workflow
    from depthgraph.batch import plan_jobs
    from depthgraph.engine.registry import load_registry
    from depthgraph.engine.workflow import Workflow
    from ray_helpers import load_blocks

    write_images(tmp_path, 3)
    write_images(tmp_path, 1, prefix="img001")  # img0010.png
    (tmp_path / "img000.jpg").write_bytes((tmp_path / "img000.png").read_bytes())  # same stem
    workflow = Workflow.from_definition(fake_depth_workflow(),
                                        load_registry(entry_points=False, env=False, blocks=load_blocks()))
    jobs = plan_jobs(workflow, [str(tmp_path)])
    items = list_inputs([str(tmp_path)])
    assert [i.key for i in items] == [j.folder for j in jobs]
    assert [i.input for i in items] == [j.label for j in jobs]
    assert "img000_2" in [i.key for i in items]


def test_nested_folders_keep_their_relative_path_and_unsafe_names_are_cleaned(tmp_path):
    write_images(tmp_path / "2024" / "day one", 2)
    write_images(tmp_path / "2025", 1)
    write_images(tmp_path / ".." / f"{tmp_path.name}-sibling", 1)  # outside: never listed
    with pytest.raises(ValueError, match="no image"):  # without recursion: only top-level files
        list_inputs([str(tmp_path)])
    items = list_inputs([str(tmp_path)], recursive=True)
    assert [i.key for i in items] == ["2024/day_one/img000", "2024/day_one/img001", "2025/img000"]
    assert all(Path(i.source).is_absolute() for i in items)
    assert key_for(Path("../.hidden/..x.png")) == "output/hidden/x"  # no '..', no hidden parts


def test_globs_key_from_their_fixed_folder_and_duplicates_are_listed_once(tmp_path):
    write_images(tmp_path / "a", 2)
    write_images(tmp_path / "b", 1)
    items = list_inputs([str(tmp_path / "*" / "img00*.png"), str(tmp_path / "a")])
    assert [i.key for i in items] == ["a/img000", "a/img001", "b/img000"]


def test_missing_inputs_name_the_spec(tmp_path):
    from depthgraph.image_files import ImageReadError

    with pytest.raises(ImageReadError, match="nope"):
        list_inputs([str(tmp_path / "nope")])
    with pytest.raises(ImageReadError, match="no image"):
        list_inputs([f"file://{tmp_path}/*.jpg"])


def test_uris_are_listed_through_pyarrow_and_read_by_the_read_stage(tmp_path):
    from depthgraph.scale.ray import read_batch

    write_images(tmp_path / "lake" / "x", 2)
    (tmp_path / "lake" / "notes.txt").write_text("not an image")
    items = list_inputs([f"file://{tmp_path}/lake"], recursive=True)
    assert [i.key for i in items] == ["x/img000", "x/img001"]
    assert items[0].source == f"file://{tmp_path}/lake/x/img000.png" == items[0].input
    assert [i.key for i in list_inputs([f"file://{tmp_path}/lake/x/*1.png"])] == ["img001"]
    batch = pa.Table.from_pylist(
        [{"input": i.input, "source": i.source, "key": i.key} for i in items]
        + [{"input": "gone", "source": f"file://{tmp_path}/gone.png", "key": "gone"}])
    out = read_batch(batch).to_pylist()
    assert out[0]["data"] == (tmp_path / "lake" / "x" / "img000.png").read_bytes()
    assert out[0]["read_error"] is None
    assert out[2]["data"] is None and out[2]["read_error"].startswith("gone: cannot read")


def test_is_uri():
    assert is_uri("s3://bucket/photos") and is_uri("gs://b/x.jpg") and is_uri("file:///tmp")
    assert not is_uri("photos/*.jpg") and not is_uri("C:\\photos") and not is_uri("/data")


def test_split_done_and_rows_keep_one_row_per_input(tmp_path):
    from depthgraph.scale.rows import error_row, read_rows, write_rows

    write_images(tmp_path / "images", 3)
    items = list_inputs([str(tmp_path / "images")])
    out = tmp_path / "out"
    (out / "img001").mkdir(parents=True)
    (out / "img001" / "results.json").write_text(json.dumps(
        {"outputs": {"mean": 1.5, "depth": {"type": "file", "path": "depth.png"}}}))
    (out / "img001" / "depth.png").write_bytes(b"x")
    (out / "img002").mkdir()  # no results.json: not finished
    todo, done = split_done(items, out)
    assert [i.key for i in todo] == ["img000", "img002"] and [i.key for i in done] == ["img001"]
    assert split_done(items, out, overwrite=True)[1] == []
    write_rows(out, items, [error_row(items[2], "bad", 0.1), error_row(items[0], "worse", 0.2)], done)
    rows = read_rows(out)
    assert [r["key"] for r in rows] == ["img000", "img001", "img002"]  # plan order
    assert rows[1]["outputs"] == json.dumps({"mean": 1.5}) and rows[1]["seconds"] is None
    assert rows[1]["files"] == ["img001/depth.png", "img001/results.json"]
    assert (rows[0]["error"], rows[2]["error"]) == ("worse", "bad")
    assert not list(out.glob(".*"))  # the table was renamed into place


# --- the CLI's checks before any Ray starts -----------------------------------------------------


def _cli(*args: object):
    from typer.testing import CliRunner

    from depthgraph.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_refuses_an_unknown_engine_and_a_workflow_with_two_image_inputs(tmp_path):
    write_images(tmp_path / "images", 1)
    two = {"version": "1.0",
           "inputs": [{"type": "WorkflowImage", "name": "a"}, {"type": "WorkflowImage", "name": "b"}],
           "steps": [], "outputs": [{"type": "JsonField", "name": "a", "selector": "$inputs.a"}]}
    (tmp_path / "two.json").write_text(json.dumps(two))
    result = _cli("run", tmp_path / "two.json", "-i", tmp_path / "images", "-o", tmp_path / "o",
                  "--engine", "spark")
    assert result.exit_code == 1 and "--engine spark: expected local or ray" in result.output
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'depthgraph[ray]')")
    result = _cli("run", tmp_path / "two.json", "-i", f"a={tmp_path / 'images'}",
                  "-o", tmp_path / "o", "--engine", "ray")
    assert result.exit_code == 1
    assert "exactly one image input; this one has 'a', 'b'" in " ".join(result.output.split())
    assert "Traceback" not in result.output
