"""The batch runner package: jobs carry their own loaders, failures are classified by class."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from cli_helpers import fake_depth_workflow, gradient_image
from depthgraph.batch import FatalRunError, ImageJob, job_failure, run_batch, run_jobs
from depthgraph.cli.common import one_line
from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.errors import PluginLoadingError, StepExecutionError
from depthgraph.engine.kinds import IMAGE_KIND, STRING_KIND
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector
from depthgraph.engine.registry import load_registry
from depthgraph.engine.values import WorkflowImageData
from depthgraph.engine.workflow import Workflow
from depthgraph.errors import DepthgraphError, FatalError, is_fatal
from depthgraph.image_decoding import ImageReadError
from depthgraph.models.depth_anything_v3.weights import WeightsNotFoundError
from hardening_helpers import registry


class OddlyNamedFatal(FatalError):
    """Fatal by its base class, whatever its name."""


class WeightsError(Exception):  # noqa: N818 - the old name list would have called this fatal
    """Named like a fatal error, but not one."""


class _RaiseManifest(BlockManifest):
    type: Literal["test_batch/raise@v1"]
    image: Selector(kind=[IMAGE_KIND])  # type: ignore[valid-type]
    what: Selector(kind=[STRING_KIND]) | str = "nothing"  # type: ignore[valid-type]

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="width", kind=[STRING_KIND])]


class _RaiseBlock(WorkflowBlock):
    manifest_class = _RaiseManifest

    def run(self, image: WorkflowImageData, what: str) -> dict[str, Any]:  # type: ignore[override]
        if what == "fatal" or (what == "fatal_on_wide" and image.width > 20):
            raise OddlyNamedFatal("the model is missing")
        if what == "lookalike":
            raise WeightsError("an error with a fatal-sounding name")
        return {"width": str(image.width)}


def _workflow(what: str) -> Workflow:
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [{"type": "test_batch/raise@v1", "name": "r", "image": "$inputs.image", "what": what}],
        "outputs": [{"type": "JsonField", "name": "width", "selector": "$steps.r.width"}],
    }
    reg = load_registry(entry_points=False, env=False, builtins=False, blocks=[_RaiseBlock])
    return Workflow.from_definition(definition, reg)


def _memory_job(name: str, width: int, folder: str) -> ImageJob:
    image = gradient_image(width, 8)
    return ImageJob(label=name, images={"image": name}, folder=folder,
                    loader=lambda: {"image": WorkflowImageData(numpy_image=image, file_name=name)})


def test_fatal_is_decided_by_base_class_through_the_cause_chain() -> None:
    assert is_fatal(OddlyNamedFatal("x"))
    assert not is_fatal(WeightsError("x"))  # a name is not a class
    assert is_fatal(WeightsNotFoundError("no checkpoint")) and is_fatal(PluginLoadingError("bad plugin"))
    assert is_fatal(ModuleNotFoundError("torch")) and is_fatal(MemoryError())
    try:
        try:
            raise OddlyNamedFatal("inner")
        except OddlyNamedFatal as inner:
            raise StepExecutionError("step failed", step="s") from inner
    except StepExecutionError as wrapped:
        assert is_fatal(wrapped)
    assert not is_fatal(StepExecutionError("step failed", step="s"))
    assert not is_fatal(ImageReadError("a.png: not an image"))


def test_job_failure_never_raises_and_says_whether_it_is_fatal() -> None:
    job = ImageJob(label="a", images={}, folder="a")
    fatal = job_failure(job, WeightsNotFoundError("weights not found"), 0.5)
    assert fatal.fatal and fatal.error.startswith("weights not found") and "depthgraph weights import" in fatal.error
    plain = job_failure(job, ValueError("  two\nlines "), 0.1)
    assert not plain.fatal and plain.error == "two lines" and "ValueError" in plain.traceback


def test_a_job_carries_its_own_loader_and_may_write_into_a_sub_folder(tmp_path: Path) -> None:
    workflow = Workflow.from_definition(fake_depth_workflow(with_param=False), registry())
    jobs = [_memory_job("s3://bucket/x/a.png", 16, "x/a"), _memory_job("s3://bucket/b.png", 24, "b")]
    results = run_batch(workflow, jobs, {}, tmp_path)
    assert [r.error for r in results] == [None, None]
    assert results[0].directory == tmp_path / "x" / "a"
    assert (tmp_path / "x" / "a" / "depth.npy").is_file() and (tmp_path / "b" / "results.json").is_file()
    assert np.load(tmp_path / "b" / "depth.npy").shape == (8, 24)
    assert not [p for p in (tmp_path / "x").iterdir() if p.name.startswith(".")]  # no partial folder


def test_a_failing_loader_is_recorded_and_the_others_still_run(tmp_path: Path) -> None:
    def unreadable() -> dict[str, Any]:
        raise ImageReadError("bad.png: not an image")

    workflow = Workflow.from_definition(fake_depth_workflow(with_param=False), registry())
    jobs = [ImageJob(label="bad", images={"image": "bad.png"}, folder="bad", loader=unreadable),
            _memory_job("good.png", 16, "good")]
    bad, good = run_batch(workflow, jobs, {}, tmp_path)
    assert bad.error == "bad.png: not an image" and not bad.fatal
    assert good.error is None and (tmp_path / "good" / "results.json").is_file()


def test_a_fatal_error_stops_the_run_and_a_lookalike_name_does_not(tmp_path: Path) -> None:
    jobs = [_memory_job("a.png", 16, "a"), _memory_job("b.png", 24, "b")]
    with pytest.raises(FatalRunError, match="the model is missing"):
        run_jobs(_workflow("fatal"), jobs, {}, tmp_path / "fatal")
    with pytest.raises(FatalRunError):  # one image of the batch is enough: no retry one by one
        run_batch(_workflow("fatal_on_wide"), jobs, {}, tmp_path / "wide")
    assert not (tmp_path / "wide").exists() or not any((tmp_path / "wide").iterdir())
    summary = run_jobs(_workflow("lookalike"), jobs, {}, tmp_path / "lookalike", batch_size=2)
    assert summary.failed == 2 and all(not item.fatal for item in summary.items)
    assert "fatal-sounding" in summary.items[0].error


def test_cli_prints_errors_written_for_the_user_without_their_class_name() -> None:
    assert one_line(ImageReadError("a.png: not an image")) == "a.png: not an image"
    assert one_line(OddlyNamedFatal("the model is missing")) == "the model is missing"
    assert one_line(DepthgraphError("plain")) == "plain"
    assert one_line(KeyError("k")) == "KeyError: 'k'"
