"""A compiled workflow over many images on Ray Data (needs the ``ray`` extra: ``ray[data]``).

The pipeline :func:`run_on_ray` builds::

    plan (driver: list names, skip finished inputs)
      -> read tasks (bytes of a batch of images, streamed from local files or object storage)
      -> WorkflowActor pool (``concurrency`` actors, ``num_cpus``/``num_gpus`` each):
         decode, run the workflow on the batch, write each image's results folder
      -> rows back to the driver -> OUT/_rows.parquet

Each actor compiles the workflow once (and loads its model once, on the GPU Ray gives it when
``num_gpus`` > 0). Per-image work is the single-process code of ``depthgraph run``: the one
image decoder (:mod:`depthgraph.image_decoding`) and the same batch run, per-image fallback and
atomic results-folder writer (:mod:`depthgraph.batch`, :mod:`depthgraph.output_writer`),
so results equal a single-process run's. Nothing lost, nothing twice: a bad image becomes a row
with its error; an actor that dies is restarted by Ray and its batch run again (Ray Data's actor
pools restart actors and retry their tasks), its rows arriving once since a failed task's output
is dropped, and its folders rewritten whole; a re-run skips inputs whose results exist unless
``overwrite``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from depthgraph.errors import DepthgraphError
from depthgraph.scale.inputs import InputImage, list_inputs, split_done
from depthgraph.scale.rows import ROWS_FILE, error_row, row_from_folder, schema, write_rows

if TYPE_CHECKING:  # the actors import the engine when they start
    from depthgraph.engine.workflow import Workflow


class ScaleRunError(DepthgraphError):
    """A scale-out run could not start or had to stop (one line for the user)."""


@dataclass
class RayRunSummary:
    """What a run did. ``rows`` are the rows of the inputs run this time (not the skipped ones)."""

    planned: int
    skipped: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    rows_path: Path | None = None
    interrupted: bool = False
    #: the actor pool the run used (after fitting it to the CPUs that exist)
    concurrency: int = 0
    num_cpus: float = 0.0

    @property
    def done(self) -> int:
        return sum(1 for r in self.rows if r["error"] is None)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r["error"] is not None)


# --- the read stage (Ray tasks) ------------------------------------------------------------------


def _read_bytes(source: str, shown: str, filesystems: dict[str, Any]) -> bytes:
    from depthgraph.scale.inputs import is_uri

    if not is_uri(source):
        with open(source, "rb") as handle:
            return handle.read()
    import pyarrow.fs as pafs

    scheme_host = source.split("://", 1)[0] + "://" + source.split("://", 1)[1].split("/", 1)[0]
    cached = filesystems.get(scheme_host)
    if cached is None:
        filesystem, path = pafs.FileSystem.from_uri(source)
        filesystems[scheme_host] = filesystem
    else:
        filesystem, path = cached, pafs.FileSystem.from_uri(source)[1]
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


def read_batch(batch: Any) -> Any:
    """Ray Data stage: add each image's bytes (``data``) or why they could not be read."""
    import pyarrow as pa

    rows = batch.to_pylist()
    filesystems: dict[str, Any] = {}
    data: list[bytes | None] = []
    errors: list[str | None] = []
    for row in rows:
        try:
            data.append(_read_bytes(row["source"], row["input"], filesystems))
            errors.append(None)
        except OSError as exc:
            data.append(None)
            errors.append(f"{row['input']}: cannot read file ({exc.strerror or exc})")
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors for URIs
            data.append(None)
            errors.append(f"{row['input']}: cannot read ({' '.join(str(exc).split())})")
    return batch.append_column("data", pa.array(data, pa.binary())).append_column(
        "read_error", pa.array(errors, pa.string()))


# --- the workflow stage (actors) -----------------------------------------------------------------


def _check_single_image_input(workflow: Workflow) -> str:
    names = list(workflow.image_input_names)
    if len(names) != 1:
        raise ScaleRunError(
            "the Ray engine runs workflows with exactly one image input; this one has "
            + (", ".join(f"'{n}'" for n in names) if names else "none"))
    return names[0]


class WorkflowActor:
    """A Ray Data callable class: compiles the workflow once, then runs batches through it.

    ``__call__`` takes a batch (pyarrow table with ``input``, ``source``, ``key``, ``data``,
    ``read_error``), writes each image's results folder under ``output`` and returns one row per
    image (:mod:`depthgraph.scale.rows`).
    """

    def __init__(self, definition: dict[str, Any], params: dict[str, Any], output: str) -> None:
        from depthgraph.engine.workflow import Workflow

        self.workflow = Workflow.from_definition(definition)
        self.image_input = _check_single_image_input(self.workflow)
        self.params = dict(params or {})
        self.output = Path(output)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        items = []
        for row in batch.to_pylist():
            item = InputImage(input=row["input"], source=row["source"], key=row["key"])
            items.append((item, row["data"], row["read_error"]))
        rows = run_items(self.workflow, self.image_input, self.params, self.output, items)
        return pa.Table.from_pylist(rows, schema=schema())


def _bytes_loader(image_input: str, item: InputImage, data: bytes | None,
                  read_error: str | None) -> Callable[[], dict[str, Any]]:
    """A job's loader: decode the bytes Ray read (or report why they could not be read)."""
    from depthgraph.engine.values import WorkflowImageData
    from depthgraph.image_decoding import ImageReadError, decode_image_bytes

    def load() -> dict[str, Any]:
        if read_error is not None:
            raise ImageReadError(read_error)
        image = decode_image_bytes(data or b"", item.input)
        return {image_input: WorkflowImageData(numpy_image=image, file_name=item.input)}

    return load


def run_items(workflow: Workflow, image_input: str, params: dict[str, Any], output: Path,
              items: list[tuple[InputImage, bytes | None, str | None]]) -> list[dict[str, Any]]:
    """Decode, run as one batch (one by one when the batch fails), write; one row per item.

    The steps are ``depthgraph run``'s for one batch of images (:func:`depthgraph.batch.run_batch`:
    failure handling and the whole-or-nothing results folder); only the bytes come from Ray, each
    job carrying a loader that decodes its own. Errors that would fail every image alike raise
    ``FatalRunError``.
    """
    from depthgraph.batch import ImageJob, run_batch
    from depthgraph.output_root import writing_under

    # images hold the name as listed (str): results.json shows it as `depthgraph run` does
    jobs = [ImageJob(label=item.input, images={image_input: item.input}, folder=item.key,
                     loader=_bytes_loader(image_input, item, data, read_error))
            for item, data, read_error in items]
    with writing_under(output):  # sink blocks write only under OUT, as with `depthgraph run`
        results = run_batch(workflow, jobs, params, output)
    rows = []
    for (item, _, _), outcome in zip(items, results):
        if outcome.error is None:
            rows.append(row_from_folder(item, output, outcome.seconds))
        else:
            rows.append(error_row(item, outcome.error, outcome.seconds))
    return rows


# --- the driver ----------------------------------------------------------------------------------


def _root_message(exc: BaseException) -> str:
    """The user's exception inside Ray's wrappers (a ``FatalRunError`` first), as one line."""
    from ray.exceptions import RayError

    from depthgraph.batch import FatalRunError

    seen: BaseException | None = exc
    chosen: BaseException | None = None
    for _ in range(20):  # Ray's wrappers nest a few deep; never loop forever
        if seen is None:
            break
        if not isinstance(seen, RayError):  # Ray's dual classes (RayTaskError(X)) are skipped
            if isinstance(seen, (FatalRunError, ScaleRunError)):
                chosen = seen
                break
            chosen = chosen or seen
        seen = getattr(seen, "cause", None) or seen.__cause__ or seen.__context__
    chosen = chosen or exc
    text = " ".join((str(chosen).strip() or type(chosen).__name__).split())
    return text if len(text) < 2000 else text[:2000] + "..."


def _start_ray(address: str | None, num_cpus: int | None, object_store_memory: int | None) -> bool:
    """Connect to (``address``) or start (no address) Ray; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    quiet_logs = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address:
        ray.init(address=address, **quiet_logs)
        return True
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
             _node_ip_address="127.0.0.1", object_store_memory=object_store_memory, **quiet_logs)
    return True


def fit_actors(concurrency: int | None, num_cpus: float | None, num_gpus: float,
               read_cpus: float, have_cpus: float | None) -> tuple[int, float]:
    """The actor pool: ``(concurrency, CPUs per actor)``, what was not given fitted to the CPUs
    that exist (``have_cpus``; None for a cluster given by address, which may autoscale).

    Without ``num_cpus`` the actors share what reading leaves (at most one CPU each, one
    thread each): ``--concurrency 2`` on a 2-CPU machine is 2 actors of 0.875 CPU. Without
    ``concurrency``: one actor per CPU (one per ``num_cpus`` given; one with GPUs).
    """
    if have_cpus is None:
        return concurrency or 1, 1.0 if num_cpus is None else num_cpus
    spare = max(have_cpus - read_cpus, 0.0)
    if concurrency is None:
        if num_gpus > 0:
            concurrency = 1
        elif num_cpus is None:
            concurrency = max(1, int(have_cpus + 1e-9))
        else:
            concurrency = max(1, int(spare / num_cpus + 1e-9)) if num_cpus > 0 else 1
    if num_cpus is None:
        num_cpus = round(min(1.0, spare / concurrency), 4) if spare > 0 else 0.0
    return concurrency, num_cpus


def _check_resources(concurrency: int, num_cpus: float, num_gpus: float, read_cpus: float,
                     local: bool) -> None:
    import ray

    if not local:
        return  # a cluster given by address may autoscale: leave it to Ray
    have = ray.cluster_resources()
    need_cpus = concurrency * num_cpus + read_cpus
    if need_cpus > have.get("CPU", 0) + 1e-9:
        raise ScaleRunError(
            f"{concurrency} actor(s) x {num_cpus:g} CPU + {read_cpus:g} CPU for reading needs "
            f"{need_cpus:g} CPUs; this Ray has {have.get('CPU', 0):g} (lower --concurrency or "
            "--num-cpus; Ray would wait forever)")
    if concurrency * num_gpus > have.get("GPU", 0) + 1e-9:
        raise ScaleRunError(f"{concurrency} actor(s) x {num_gpus:g} GPU needs "
                            f"{concurrency * num_gpus:g} GPUs; this Ray has {have.get('GPU', 0):g}")


def _actor_env(num_cpus: float, num_gpus: float) -> dict[str, str]:
    """Environment for the actors: the driver's DEPTHGRAPH_* settings, its HF_HUB_OFFLINE,
    and a thread count."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith("DEPTHGRAPH_") or k == "HF_HUB_OFFLINE"}
    if num_gpus == 0 and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, math.ceil(num_cpus)))  # torch's CPU threads
    return env


def run_on_ray(
    definition: Any,
    source: str | list[str],
    output: str | Path,
    *,
    params: dict[str, Any] | None = None,
    recursive: bool = False,
    batch_size: int = 8,
    concurrency: int | None = None,
    num_cpus: float | None = None,
    num_gpus: float = 0.0,
    read_cpus: float = 0.25,
    overwrite: bool = False,
    address: str | None = None,
    local_cpus: int | None = None,
    object_store_memory: int | None = None,
    on_progress: Callable[[int, int, float], None] | None = None,
) -> RayRunSummary:
    """Run ``definition`` over every image of ``source`` on Ray Data; results under ``output``.

    ``source``: local files, folders, globs, or URIs pyarrow reads (``s3://bucket/dir``).
    Per image: ``output/<key>/`` as ``depthgraph run`` writes it; per run:
    ``output/_rows.parquet`` (:mod:`depthgraph.scale.rows`). ``concurrency`` actors, each with
    ``num_cpus``/``num_gpus``, take ``batch_size`` images per call; reading takes ``read_cpus``
    per task. On a local Ray, what is not given is fitted to its CPUs (:func:`fit_actors`). Ray: the one already initialised in this process, else ``address`` (``auto``,
    ``ray://host:10001``), else a local Ray started for the run (``local_cpus`` CPUs) and shut
    down after. ``on_progress(finished, to_run, seconds)`` is called as rows arrive.
    Raises :class:`ScaleRunError` (one line) when the run cannot start or a fatal error (missing
    weights, for one) stops it.
    """
    from depthgraph.batch import RunSetupError, check_output_dir
    from depthgraph.engine.compiler import load_definition
    from depthgraph.engine.workflow import Workflow
    from depthgraph.image_files import ImageReadError

    if batch_size < 1 or (concurrency is not None and concurrency < 1) or \
            (num_cpus is not None and num_cpus < 0) or num_gpus < 0 or read_cpus < 0:
        raise ScaleRunError("batch_size and concurrency must be >= 1; CPUs and GPUs >= 0")
    definition = load_definition(definition)
    workflow = Workflow.from_definition(definition)  # compile errors surface here, once
    _check_single_image_input(workflow)
    try:
        output = check_output_dir(Path(output))
        plan = list_inputs([source] if isinstance(source, str) else list(source), recursive)
    except (RunSetupError, ImageReadError) as exc:
        raise ScaleRunError(str(exc)) from None
    todo, done = split_done(plan, output, overwrite)
    summary = RayRunSummary(planned=len(plan), skipped=len(done))
    start = time.perf_counter()
    if not todo:
        summary.rows_path = write_rows(output, plan, [], done)
        return summary

    import ray
    import ray.data

    started = _start_ray(address, local_cpus, object_store_memory)
    try:
        have = None if address else float(ray.cluster_resources().get("CPU", 0))
        concurrency, num_cpus = fit_actors(concurrency, num_cpus, num_gpus, read_cpus, have)
        summary.concurrency, summary.num_cpus = concurrency, num_cpus
        _check_resources(concurrency, num_cpus, num_gpus, read_cpus, local=not address)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # no notes about progress bars
        records = [{"input": i.input, "source": i.source, "key": i.key} for i in todo]
        blocks = max(1, min(math.ceil(len(todo) / batch_size), 10_000))
        dataset = ray.data.from_items(records, override_num_blocks=blocks)
        dataset = dataset.map_batches(read_batch, batch_size=batch_size, batch_format="pyarrow",
                                      num_cpus=read_cpus)
        dataset = dataset.map_batches(
            WorkflowActor, batch_size=batch_size, batch_format="pyarrow",
            fn_constructor_kwargs={"definition": definition, "params": dict(params or {}),
                                   "output": str(output.resolve())},
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            num_cpus=num_cpus, num_gpus=num_gpus,
            runtime_env={"env_vars": _actor_env(num_cpus, num_gpus)})
        try:
            for table in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
                summary.rows.extend(table.to_pylist())
                if on_progress is not None:
                    on_progress(len(summary.rows), len(todo), time.perf_counter() - start)
        except KeyboardInterrupt:
            summary.interrupted = True
        except ScaleRunError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray's wrappers -> the user's one line
            raise ScaleRunError(f"the Ray run stopped: {_root_message(exc)}") from exc
    finally:
        summary.seconds = time.perf_counter() - start
        summary.rows_path = write_rows(output, plan, summary.rows, done)
        if started:
            ray.shutdown()
    return summary


def load_rows(output: str | Path) -> list[dict[str, Any]]:
    """The rows of ``output/_rows.parquet``, with ``outputs`` parsed from JSON."""
    from depthgraph.scale.rows import read_rows

    rows = read_rows(Path(output))
    for row in rows:
        row["outputs"] = json.loads(row["outputs"]) if row["outputs"] is not None else None
    return rows


__all__ = ["ROWS_FILE", "RayRunSummary", "ScaleRunError", "WorkflowActor", "load_rows",
           "read_batch", "run_items", "run_on_ray"]
