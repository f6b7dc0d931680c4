"""Running a compiled workflow over jobs: in batches, each result written to its folder.

A job whose image cannot be read, or whose run fails, is recorded and skipped; when a batch
fails, its jobs are retried one by one so that only the bad ones are lost. An error that would
fail every job alike (missing weights, a plugin that cannot load: :func:`depthgraph.errors.is_fatal`)
stops the run with :class:`FatalRunError`. Sink blocks write only under the output folder
(:mod:`depthgraph.output_root`).
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any, Callable

from depthgraph.batch.errors import FatalRunError
from depthgraph.batch.folders import check_output_dir, write_job
from depthgraph.batch.jobs import ImageJob, JobResult, RunSummary
from depthgraph.engine.progress import StepCallback
from depthgraph.engine.workflow import Workflow
from depthgraph.errors import is_fatal
from depthgraph.output_root import writing_under

#: ``on_progress(jobs_done, seconds)`` after each batch.
Progress = Callable[[int, float], None]

_WEIGHTS_HINT = (" From the command line: 'depthgraph weights import PATH --model small|base|metric-large|mono-large', "
                 "or 'depthgraph predict --weights FILE'.")


def run_jobs(workflow: Workflow, jobs: list[ImageJob], params: dict[str, Any], output_dir: Path,
             batch_size: int = 1, on_progress: Progress | None = None,
             on_step: StepCallback | None = None) -> RunSummary:
    """Run every job (``batch_size`` at a time), writing outputs under ``output_dir/<folder>``.

    ``on_progress`` hears of each finished batch, ``on_step`` of each workflow step starting and
    finishing (:class:`~depthgraph.engine.progress.StepEvent`).

    The output folder is checked first (:class:`~depthgraph.batch.errors.RunSetupError`). On
    Ctrl-C the summary holds the jobs finished so far and ``interrupted`` is set; no half-written
    folder is left.
    """
    output_dir = check_output_dir(Path(output_dir))
    size = max(1, batch_size)
    start = time.perf_counter()
    items: list[JobResult] = []
    interrupted = False
    try:
        # sink blocks (PLY export...) write only under -o; paths they give back start with -o
        with writing_under(output_dir, shown_as=output_dir):
            for offset in range(0, len(jobs), size):
                items.extend(run_batch(workflow, jobs[offset: offset + size], params, output_dir,
                                       on_step=on_step))
                if on_progress is not None:
                    on_progress(len(items), time.perf_counter() - start)
    except KeyboardInterrupt:
        interrupted = True
    return RunSummary(items=items, seconds=time.perf_counter() - start, planned=len(jobs),
                      interrupted=interrupted)


def run_batch(workflow: Workflow, batch: list[ImageJob], params: dict[str, Any],
              output_dir: Path, on_step: StepCallback | None = None) -> list[JobResult]:
    """Run one batch of jobs in one workflow call and write each result; one result per job.

    Each job loads its own inputs (:meth:`ImageJob.load`); one that cannot be loaded is recorded
    and left out of the batch. When the batch fails, its jobs run one at a time so that only the
    bad ones are lost. Raises :class:`FatalRunError` on an error that would fail every job.
    ``depthgraph run`` and the Ray engine both run their images through here.
    """
    t0 = time.perf_counter()
    results: dict[int, JobResult] = {}
    loaded: list[tuple[int, ImageJob, dict[str, Any]]] = []
    for index, job in enumerate(batch):
        try:
            loaded.append((index, job, job.load()))
        except Exception as exc:  # noqa: BLE001 - a bad file is reported, the rest go on
            results[index] = _stop_if_fatal(job_failure(job, exc, 0.0), exc)
    if loaded:
        try:
            outputs = _run_workflow(workflow, [inputs for _, _, inputs in loaded], params, on_step)
            per = (time.perf_counter() - t0) / len(loaded)
            for (index, job, _), result in zip(loaded, outputs):
                results[index] = _write(job, result, output_dir, per)
        except Exception as exc:  # noqa: BLE001
            if is_fatal(exc) or len(loaded) == 1:
                index, job, _ = loaded[0]
                results[index] = _stop_if_fatal(job_failure(job, exc, time.perf_counter() - t0), exc)
            else:  # find the bad image(s): run the batch's images one at a time
                for index, job, inputs in loaded:
                    t1 = time.perf_counter()
                    try:
                        result = _run_workflow(workflow, [inputs], params, on_step)[0]
                        results[index] = _write(job, result, output_dir, time.perf_counter() - t1)
                    except Exception as inner:  # noqa: BLE001
                        failed = job_failure(job, inner, time.perf_counter() - t1)
                        results[index] = _stop_if_fatal(failed, inner)
    return [results[i] for i in range(len(batch))]


def job_failure(job: ImageJob, exc: BaseException, seconds: float) -> JobResult:
    """The result of a job that failed: the error in one line, its traceback, whether it is fatal.

    Never raises; :func:`run_batch` stops the run when the result is fatal.
    """
    message = " ".join((str(exc).strip() or type(exc).__name__).split())
    fatal = is_fatal(exc)
    if fatal and "weights" in message.lower():
        message += _WEIGHTS_HINT
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return JobResult(job, error=message, traceback=trace, seconds=seconds, fatal=fatal)


def _stop_if_fatal(result: JobResult, exc: BaseException) -> JobResult:
    if result.fatal:
        raise FatalRunError(result.error or "the run cannot go on") from exc
    return result


def _run_workflow(workflow: Workflow, inputs: list[dict[str, Any]], params: dict[str, Any],
                  on_step: StepCallback | None = None) -> list[dict[str, Any]]:
    """One workflow call over the jobs' inputs (each image input gets a list, one per job)."""
    batch: dict[str, Any] = dict(params)
    for name in inputs[0]:
        batch[name] = [job_inputs[name] for job_inputs in inputs]
    results = workflow.run_inputs(batch, on_step=on_step)
    if len(results) != len(inputs):
        raise RuntimeError(f"workflow gave {len(results)} results for {len(inputs)} images")
    return results


def _write(job: ImageJob, result: dict[str, Any], output_dir: Path, seconds: float) -> JobResult:
    try:
        files = write_job(job, result, output_dir)
    except Exception as exc:  # noqa: BLE001 - the job failed; the others go on
        return _stop_if_fatal(job_failure(job, exc, seconds), exc)
    return JobResult(job, files=files, directory=Path(output_dir) / job.folder, seconds=seconds)
