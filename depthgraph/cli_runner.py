"""What ``depthgraph run`` and ``depthgraph predict`` do, without the terminal parts.

- :func:`build_predict_definition`: the workflow ``predict`` runs (depth estimation, colour map,
  optionally a point cloud), so the quick path goes through the same engine as ``run``.
- :func:`plan_jobs`: images given on the command line -> one :class:`ImageJob` per output folder.
- :func:`run_jobs`: read, run in batches, write each result by kind; a bad image is recorded and
  skipped, the others still run.

Files: the output folder is checked (made, writable) before the model runs; each image's outputs
are written to a hidden temporary folder that is renamed into place once complete, so a folder
exists only when whole (an interrupted run leaves no half-written folder); sink blocks write only
under the output folder (:mod:`depthgraph.output_root`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from depthgraph.image_files import ImageReadError, collect_images, read_image
from depthgraph.output_root import writing_under
from depthgraph.output_writer import safe_name, write_result

#: Errors that would fail every image alike: stop the run instead of repeating them per image.
_FATAL_ERRORS = ("WeightsError", "WeightsNotFoundError", "ImportError", "ModuleNotFoundError",
                 "PluginLoadingError", "MemoryError")


class RunSetupError(Exception):
    """The command line does not fit the workflow (one line for the user)."""


@dataclass
class ImageJob:
    """One workflow run: the image(s) for each image input and the folder its outputs go to."""

    label: str
    images: dict[str, Path]
    folder: str


@dataclass
class JobResult:
    job: ImageJob
    error: str | None = None
    traceback: str | None = None
    files: list[Path] = field(default_factory=list)
    directory: Path | None = None
    seconds: float = 0.0


@dataclass
class RunSummary:
    items: list[JobResult]
    seconds: float
    #: jobs planned (more than ``items`` when the run was interrupted)
    planned: int = 0
    interrupted: bool = False

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def done(self) -> int:
        return sum(1 for i in self.items if i.error is None)

    @property
    def failed(self) -> int:
        return self.total - self.done


# --- predict's workflow --------------------------------------------------------------------------


def build_predict_definition(model: str = "small", colormap: str = "turbo",
                             point_cloud: bool = False) -> dict[str, Any]:
    """The workflow ``depthgraph predict`` runs: depth + colour map (+ coloured point cloud).

    Outputs: ``depth`` (depth_map: 16-bit PNG + .npy), ``depth_color`` (image),
    ``intrinsics`` (3x3, in results.json) and, with ``point_cloud``, ``point_cloud`` (PLY).
    """
    steps: list[dict[str, Any]] = [
        {"type": "depthgraph/depth_estimation@v1", "name": "depth", "images": "$inputs.image",
         "model_version": f"depth-anything-v3/{model}", "colormap": colormap},
        {"type": "depthgraph/depth_colormap@v1", "name": "colormap",
         "depth": "$steps.depth.depth", "colormap": colormap},
    ]
    outputs = [
        {"type": "JsonField", "name": "depth", "selector": "$steps.depth.depth"},
        {"type": "JsonField", "name": "depth_color", "selector": "$steps.colormap.image"},
        {"type": "JsonField", "name": "intrinsics", "selector": "$steps.depth.intrinsics"},
    ]
    if point_cloud:
        steps.append({"type": "depthgraph/point_cloud_projection@v1", "name": "cloud",
                      "depth": "$steps.depth.depth", "image": "$inputs.image",
                      "intrinsics": "$steps.depth.intrinsics"})
        outputs.append({"type": "JsonField", "name": "point_cloud",
                        "selector": "$steps.cloud.point_cloud"})
    return {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": steps, "outputs": outputs}


# --- command-line values -------------------------------------------------------------------------


def parse_params(items: list[str], workflow: Any) -> dict[str, Any]:
    """``NAME=VALUE`` strings -> parameters.

    VALUE is read as JSON when it parses (``0.5``, ``true``, ``["a"]``), else kept as text; it is
    always kept as text for a parameter whose default value is text.
    """
    defaults = getattr(workflow, "parameter_names", {})
    known = list(defaults)
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise RunSetupError(f"--param {item!r}: expected NAME=VALUE")
        if name not in known:
            listing = ", ".join(known) or "none"
            raise RunSetupError(f"--param {name}: the workflow has no such parameter "
                                f"(its parameters: {listing})")
        default = defaults.get(name) if isinstance(defaults, dict) else None
        if isinstance(default, str):  # a text parameter: "123" stays text
            params[name] = raw
            continue
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def plan_jobs(workflow: Any, specs: list[str], recursive: bool = False) -> list[ImageJob]:
    """Image arguments -> jobs. ``NAME=PATH`` names an image input; bare paths go to the only one.

    With several image inputs, their lists are paired by position (a single image is used with
    every image of the others).
    """
    names = list(getattr(workflow, "image_input_names", []))
    if not names:
        if specs:
            raise RunSetupError("the workflow has no image input; drop --image")
        return [ImageJob(label="(no image)", images={}, folder="run")]
    per_input: dict[str, list[str]] = {n: [] for n in names}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if sep and name in per_input:
            per_input[name].append(rest)
        elif len(names) == 1:
            per_input[names[0]].append(spec)
        else:
            raise RunSetupError(f"--image {spec}: the workflow has image inputs "
                                f"{', '.join(names)}; write --image NAME=PATH")
    files: dict[str, list[Path]] = {}
    for name, items in per_input.items():
        if not items:
            raise RunSetupError(f"no image given for the workflow's image input '{name}'")
        try:
            files[name] = collect_images(items, recursive=recursive)
        except ImageReadError as exc:
            raise RunSetupError(str(exc)) from None
    counts = {n: len(f) for n, f in files.items()}
    total = max(counts.values())
    if any(c not in (1, total) for c in counts.values()):
        listing = ", ".join(f"'{n}' has {c}" for n, c in counts.items())
        raise RunSetupError(f"image inputs need the same number of images (or one): {listing}")
    primary = max(names, key=lambda n: counts[n])
    jobs: list[ImageJob] = []
    used: set[str] = set()
    for index in range(total):
        images = {n: f[index if len(f) > 1 else 0] for n, f in files.items()}
        main = images[primary]
        folder = unique_folder(safe_name(main.stem), used)
        jobs.append(ImageJob(label=str(main), images=images, folder=folder))
    return jobs


def unique_folder(stem: str, used: set[str]) -> str:
    """``stem``, or ``stem_2``, ``stem_3``... when already in ``used`` (which it joins)."""
    name, counter = stem, 1
    while name in used:
        counter += 1
        name = f"{stem}_{counter}"
    used.add(name)
    return name


# --- running -------------------------------------------------------------------------------------


def _is_fatal(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in _FATAL_ERRORS or any(
            c.__name__ in _FATAL_ERRORS for c in type(seen).__mro__
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _short(exc: BaseException) -> str:
    text = " ".join((str(exc).strip() or type(exc).__name__).split())
    return text


class FatalRunError(Exception):
    """An error that would fail every image the same way (missing weights, for one)."""


def _load(job: ImageJob) -> dict[str, Any]:
    from depthgraph.engine.values import WorkflowImageData

    return {name: WorkflowImageData(numpy_image=read_image(path), file_name=str(path))
            for name, path in job.images.items()}


def _run_batch(workflow: Any, loaded: list[tuple[ImageJob, dict[str, Any]]],
               params: dict[str, Any]) -> list[dict[str, Any]]:
    inputs: dict[str, Any] = dict(params)
    for name in loaded[0][1]:
        inputs[name] = [images[name] for _, images in loaded]
    results = workflow.run_inputs(inputs)
    if len(results) != len(loaded):
        raise RuntimeError(f"workflow gave {len(results)} results for {len(loaded)} images")
    return results


def check_output_dir(output_dir: Path) -> Path:
    """Make ``output_dir`` and check that files can be written there, before any model runs."""
    output_dir = Path(output_dir).expanduser()
    if output_dir.exists() and not output_dir.is_dir():
        raise RunSetupError(f"output folder {output_dir}: exists and is not a folder")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".depthgraph-write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunSetupError(f"output folder {output_dir}: cannot write there "
                            f"({exc.strerror or type(exc).__name__})") from None
    return output_dir


def run_jobs(workflow: Any, jobs: list[ImageJob], params: dict[str, Any], output_dir: Path,
             batch_size: int = 1,
             on_progress: Callable[[int, float], None] | None = None) -> RunSummary:
    """Run every job (``batch_size`` at a time), writing outputs under ``output_dir/<folder>``.

    A job whose image cannot be read, or whose run fails, is recorded and skipped. When a batch
    fails, its jobs are retried one by one so that only the bad ones are lost. Errors that would
    fail every image alike (missing weights, for one) raise :class:`FatalRunError` at once.
    The output folder is checked first (:class:`RunSetupError`). On Ctrl-C the summary holds
    the jobs finished so far and ``interrupted`` is set; no half-written folder is left.
    """
    output_dir = check_output_dir(Path(output_dir))
    start = time.perf_counter()
    items: list[JobResult] = []
    interrupted = False
    try:
        with writing_under(output_dir):  # sink blocks (PLY export...) write only under -o
            for offset in range(0, len(jobs), max(1, batch_size)):
                chunk = jobs[offset: offset + max(1, batch_size)]
                items.extend(_run_chunk(workflow, chunk, params, output_dir))
                if on_progress is not None:
                    on_progress(len(items), time.perf_counter() - start)
    except KeyboardInterrupt:
        interrupted = True
    return RunSummary(items=items, seconds=time.perf_counter() - start, planned=len(jobs),
                      interrupted=interrupted)


def failure(job: ImageJob, exc: BaseException, seconds: float) -> JobResult:
    """The result of a job that failed; errors that would fail every image raise FatalRunError."""
    if _is_fatal(exc):
        message = _short(exc)
        if "Weights" in message or "weights" in message:
            message += (" From the command line: 'depthgraph weights import PATH --model "
                        "small|base', or 'depthgraph predict --weights FILE'.")
        raise FatalRunError(message) from exc
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return JobResult(job, error=_short(exc), traceback=trace, seconds=seconds)


#: ``write(job, result, seconds)`` stores one job's outputs and says what it wrote.
JobWriter = Callable[[ImageJob, dict[str, Any], float], JobResult]


def run_chunk(workflow: Any, chunk: list[ImageJob], params: dict[str, Any], write: JobWriter,
              load: Callable[[ImageJob], dict[str, Any]] | None = None) -> list[JobResult]:
    """Run one chunk of jobs as one batch and write each result; one :class:`JobResult` per job.

    ``load(job)`` gives a job's image inputs (default: read its files). A job that cannot be
    loaded is recorded and left out of the batch. When the batch fails, its jobs are run one at
    a time so that only the bad ones are lost. ``depthgraph run`` and the Ray engine both run
    their images through here.
    """
    load = load or _load
    t0 = time.perf_counter()
    results: dict[int, JobResult] = {}
    loaded: list[tuple[int, ImageJob, dict[str, Any]]] = []
    for index, job in enumerate(chunk):
        try:
            loaded.append((index, job, load(job)))
        except Exception as exc:  # noqa: BLE001 - a bad file is reported, the rest go on
            results[index] = failure(job, exc, 0.0)
    if loaded:
        try:
            outputs = _run_batch(workflow, [(job, images) for _, job, images in loaded], params)
            per = (time.perf_counter() - t0) / len(loaded)
            for (index, job, _), result in zip(loaded, outputs):
                results[index] = write(job, result, per)
        except Exception as exc:  # noqa: BLE001
            if _is_fatal(exc) or len(loaded) == 1:
                index, job, _ = loaded[0]
                results[index] = failure(job, exc, time.perf_counter() - t0)
            else:  # find the bad image(s): run the batch's images one at a time
                for index, job, images in loaded:
                    t1 = time.perf_counter()
                    try:
                        result = _run_batch(workflow, [(job, images)], params)[0]
                        results[index] = write(job, result, time.perf_counter() - t1)
                    except Exception as inner:  # noqa: BLE001
                        results[index] = failure(job, inner, time.perf_counter() - t1)
    return [results[i] for i in range(len(chunk))]


def _run_chunk(workflow: Any, chunk: list[ImageJob], params: dict[str, Any],
               output_dir: Path) -> list[JobResult]:
    def write(job: ImageJob, result: dict[str, Any], seconds: float) -> JobResult:
        return write_job(job, result, output_dir, seconds)

    return run_chunk(workflow, chunk, params, write)


def write_job(job: ImageJob, result: dict[str, Any], output_dir: Path, seconds: float) -> JobResult:
    """Write ``output_dir/<job.folder>`` through a hidden temporary folder renamed into place
    (whole or not at all)."""
    directory = output_dir / job.folder
    temporary = output_dir / f".{job.folder}.partial-{uuid.uuid4().hex[:8]}"
    try:
        try:
            extra = {"images": {n: str(p) for n, p in job.images.items()}}
            files = write_result(result, temporary, extra=extra)
            _move_into_place(temporary, directory)
        except Exception as exc:  # noqa: BLE001
            return failure(job, OSError(f"writing outputs to {directory}: {_short(exc)}"), seconds)
    finally:  # also on Ctrl-C: never leave a half-written folder behind
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    files = [directory / f.relative_to(temporary) for f in files]
    return JobResult(job, files=files, directory=directory, seconds=seconds)


def _move_into_place(temporary: Path, directory: Path) -> None:
    """Rename ``temporary`` to ``directory``; an earlier run's folder there is replaced."""
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise OSError(f"{directory.name} exists and is not a folder")
    if not directory.exists():
        os.rename(temporary, directory)
        return
    old = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(directory, old)
    try:
        os.rename(temporary, directory)
    except OSError:
        os.rename(old, directory)  # put the earlier results back
        raise
    shutil.rmtree(old, ignore_errors=True)
