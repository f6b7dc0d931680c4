"""One confinement for every writer (issue 19, items 4, 8, 9, 10 and 20).

Every file depthgraph writes goes through ``depthgraph.output_root`` (``write_file``,
``replace_folder``, ``copy_user_file``, ``check_target``); the first test greps the package for
file-writing calls made anywhere else, so a new command or writer that bypasses it fails here
without being listed. The others try each entry point that writes the way a hostile file or
workflow would.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cli_helpers import fake_depth_workflow, gradient_image, test_registry, write_image

PACKAGE = Path(__file__).resolve().parent.parent / "depthgraph"
#: Calls that create or replace a file's content.
WRITE_CALL = re.compile(
    r"write_bytes\(|write_text\(|open\([^)]*['\"][wax]\+?b?['\"]|os\.replace\(|os\.rename\("
    r"|shutil\.(copy|copyfile|copy2|move)\(|imwrite\(|write_table\(|av\.open\(|VideoSink\("
    r"|VideoWriter\(|os\.open\(|symlink_to\(")
#: (file, call) pairs allowed outside output_root.py, each with the reason it is safe.
ALLOWED = {
    ("depthgraph/batch/folders.py", "write_bytes("): "an empty probe file in -o, deleted at once",
    ("depthgraph/cli/scene.py", "os.replace("): "a staged file moved onto check_target(target)",
    ("depthgraph/cli/ray.py", "open("): "Ray's log appended in -o after check_target(it)",
    ("depthgraph/scale/rows.py", "write_table("): "writes the temporary file write_file gives it",
    ("depthgraph/video/sinks.py", "av.open("): "check_target(self.path) just before",
    ("depthgraph/video/sinks.py", "VideoSink("): "check_target(self.path) just before",
    ("depthgraph/video/sinks.py", "os.open("): "O_NOFOLLOW after check_target(self.path)",
    ("depthgraph/cli/common.py", "symlink_to("): "--weights: the operator's file, own temp dir",
    ("depthgraph/cli/common.py", "shutil.copyfile("): "--weights: the operator's file, own temp dir",
    ("depthgraph/models/depth_anything_v3/recipe.py", "open("): "test weights into a new folder",
}


def test_every_file_write_goes_through_the_confinement_module() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if relative == "depthgraph/output_root.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for match in WRITE_CALL.finditer(code):
                call = match.group(0)
                call = "open(" if call.startswith("open(") else call
                if (relative, call) not in ALLOWED:
                    found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, ("write through depthgraph.output_root (write_file, replace_folder, "
                       "copy_user_file, check_target):\n" + "\n".join(found))


# --- names -------------------------------------------------------------------------------------


def test_two_inputs_never_share_an_output_name() -> None:
    from depthgraph.output_root import OutputNames

    names = OutputNames()
    claimed = [names.claim(n) for n in ["a", "A", "a/b", "x/y", "x", "a_2"]]
    lowered = [c.lower() for c in claimed]
    assert len(set(lowered)) == len(lowered), claimed
    for c in lowered:  # no name is a folder of another
        assert not any(other.startswith(c + "/") for other in lowered), claimed


def test_ray_keys_do_not_nest(tmp_path: Path) -> None:
    """Item 8: a.png and a/b.png gave keys 'a' and 'a/b'; replacing a/ removed a/b/."""
    from depthgraph.scale.inputs import list_inputs

    write_image(tmp_path / "a.png", gradient_image(8, 6))
    (tmp_path / "a").mkdir()
    write_image(tmp_path / "a" / "b.png", gradient_image(8, 6))
    keys = [item.key for item in list_inputs([str(tmp_path)], recursive=True)]
    assert len(keys) == 2
    for key in keys:
        assert not any(other.lower().startswith(key.lower() + "/") for other in keys), keys


def test_cli_run_folders_differ_in_more_than_case(tmp_path: Path) -> None:
    from depthgraph.batch import plan_jobs
    from depthgraph.engine.workflow import Workflow

    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
    write_image(tmp_path / "one" / "Photo.png", gradient_image(8, 6))
    write_image(tmp_path / "two" / "photo.jpg", gradient_image(8, 6))
    workflow = Workflow.from_definition(fake_depth_workflow(False), registry=test_registry())
    jobs = plan_jobs(workflow, [str(tmp_path / "one"), str(tmp_path / "two")])
    assert len({j.folder.lower() for j in jobs}) == 2, [j.folder for j in jobs]


def test_scene_views_differ_without_their_extension() -> None:
    """Item 10: a.png, a.jpg, b.png gave 3 views in scene.json and 2 folders in views/."""
    from depthgraph.scene_export import unique_names

    names = unique_names([Path("a.png"), Path("a.jpg"), Path("b.png"), Path("A.PNG")])
    stems = [Path(n).stem.lower() for n in names]
    assert len(set(stems)) == 4, names


# --- links -------------------------------------------------------------------------------------


def test_weights_import_refuses_a_linked_config(tmp_path: Path) -> None:
    """Item 9: a config.json linked to a secret was copied into the weights store."""
    from depthgraph.weights_store import WeightsError, import_weights

    secret = tmp_path / "secret"
    secret.write_text("root:x:0:0\n")
    source = tmp_path / "snapshot"
    source.mkdir()
    (source / "model.safetensors").write_bytes(b"\0" * 64)
    (source / "config.json").symlink_to(secret)
    store = tmp_path / "store"
    with pytest.raises(WeightsError, match="symbolic link"):
        import_weights(source, "small", root=store)
    assert not any(p.is_file() and p.read_bytes() == secret.read_bytes()
                   for p in store.rglob("*")) if store.exists() else True


def test_copy_user_file_never_follows_a_link(tmp_path: Path) -> None:
    from depthgraph.output_root import UserFileError, copy_user_file, read_user_file

    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    (tmp_path / "view.png").symlink_to(secret)
    with pytest.raises(UserFileError, match="symbolic link"):
        read_user_file(tmp_path / "view.png")
    with pytest.raises(UserFileError):
        copy_user_file(tmp_path / "view.png", tmp_path / "copy.png")
    assert not (tmp_path / "copy.png").exists()


def test_write_file_refuses_a_link_at_the_target_and_leaves_nothing(tmp_path: Path) -> None:
    from depthgraph.engine.errors import StepInputError
    from depthgraph.output_root import write_file, writing_under

    outside = tmp_path / "outside.txt"
    out = tmp_path / "out"
    out.mkdir()
    (out / "cloud.ply").symlink_to(outside)
    with pytest.raises(StepInputError):
        write_file(out / "cloud.ply", b"data")
    assert not outside.exists()
    (out / "escape").symlink_to(tmp_path)
    with writing_under(out), pytest.raises(StepInputError, match="outside the output root"):
        write_file(out / "escape" / "x.bin", b"data")
    assert not (tmp_path / "x.bin").exists()
    assert sorted(p.name for p in out.iterdir()) == ["cloud.ply", "escape"]


# --- entry points ---------------------------------------------------------------------------------


def _export_workflow(output_directory: str) -> dict[str, Any]:
    spec = fake_depth_workflow(False)
    spec["steps"].append({"type": "depthgraph/point_cloud_export@v1", "name": "export",
                          "point_cloud": "$steps.fake.cloud",
                          "output_directory": output_directory, "file_prefix": "c"})
    spec["outputs"] = [{"type": "JsonField", "name": "path", "selector": "$steps.export.file_path"}]
    return spec


@pytest.mark.parametrize("where", ["../escaped", "ABSOLUTE"])
def test_video_run_confines_file_writing_blocks(tmp_path: Path, where: str) -> None:
    """Item 4: `depthgraph run WF --video SRC -o OUT` wrote PLY files outside OUT."""
    from video_helpers import pattern_frames, write_clip
    from depthgraph.engine.workflow import Workflow
    from depthgraph.cli.video import run_video_command

    clip = write_clip(tmp_path / "clip.mkv", pattern_frames(2, 32, 24))
    target = str(tmp_path / "abs") if where == "ABSOLUTE" else where
    workflow = Workflow.from_definition(_export_workflow(target), registry=test_registry())
    out = tmp_path / "out"
    with pytest.raises(Exception) as raised:
        run_video_command(workflow, str(clip), {}, out, quiet=True)
    assert "output_directory" in str(raised.value)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "abs").exists()
    assert not list(tmp_path.glob("**/*.ply"))


def test_failed_video_run_leaves_a_summary_that_says_so(tmp_path: Path) -> None:
    """Item 20: a 0-frame video left a video.json that looked finished."""
    import cv2

    from depthgraph.engine.workflow import Workflow
    from depthgraph.video.pipeline import run_video

    empty = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 24))
    writer.release()  # a valid AVI header, no frame
    workflow = Workflow.from_definition(fake_depth_workflow(False), registry=test_registry())
    out = tmp_path / "out"
    with pytest.raises(Exception, match="no frame could be read"):
        run_video(workflow, str(empty), output_dir=out)
    body = json.loads((out / "video.json").read_text())
    assert body["complete"] is False and "no frame" in body["error"], body


def test_scene_onto_an_existing_file_is_a_clear_error(tmp_path: Path) -> None:
    """Item 20: `depthgraph scene -o <existing file>` printed a raw FileExistsError."""
    from typer.testing import CliRunner

    from depthgraph.cli import app

    write_image(tmp_path / "a.png", gradient_image(16, 12))
    write_image(tmp_path / "b.png", gradient_image(16, 12, seed=1))
    taken = tmp_path / "taken"
    taken.write_text("x")
    result = CliRunner().invoke(app, ["scene", str(tmp_path / "a.png"), str(tmp_path / "b.png"),
                                      "-o", str(taken)])
    assert result.exit_code != 0
    text = result.output
    assert "exists and is not a folder" in text, text
    assert "Traceback" not in text and "FileExistsError" not in text
    assert taken.read_text() == "x"
