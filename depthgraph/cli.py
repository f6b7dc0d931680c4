"""The ``depthgraph`` command line (typer + rich).

Commands: ``predict`` (depth for images, no workflow file), ``run`` (a workflow over images),
``validate``, ``describe``, ``serve`` and ``weights list|import|download``.

Exit codes: 0 everything worked; 1 nothing could be done (bad workflow, no image, every image
failed, a weights problem); 2 wrong usage (typer's); 3 some images failed and were skipped, the
others were written; 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, Iterator, List, Optional

import typer
from rich.console import Console
from rich.table import Table
from typing_extensions import Annotated

from depthgraph.cli_runner import (
    ImageJob,
    RunSummary,
    build_predict_definition,
    parse_params,
    plan_jobs,
    run_jobs,
)

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 3, 130

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="depthgraph",
    help="Depth Anything 3 as workflow blocks: depth maps, colour maps, point clouds, distances.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
weights_app = typer.Typer(
    help="See and manage the local weights directory ($DEPTHGRAPH_WEIGHTS_DIR).",
    no_args_is_help=True,
)
app.add_typer(weights_app, name="weights")

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Print tracebacks on failure.")]
Device = Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1, mps (default: automatic).")]
OutputDir = Annotated[Path, typer.Option("--output-dir", "-o", help="Where results go.")]
Recursive = Annotated[bool, typer.Option("--recursive", "-r", help="Look into sub-folders.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


class ModelSize(str, Enum):
    small = "small"
    base = "base"


class CLIError(Exception):
    """A failure the CLI reports as one line."""


@contextmanager
def _reported(verbose: bool) -> Iterator[None]:
    """Turn any exception into one red line (plus the traceback with --verbose) and exit 1."""
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if verbose:
            err_console.print("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
                              markup=False, highlight=False)
        err_console.print(f"[red]error:[/red] {_one_line(exc)}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None


def _one_line(exc: BaseException) -> str:
    from depthgraph.engine.errors import WorkflowError

    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, (WorkflowError, CLIError)) and type(exc).__name__ not in (
        "ImageReadError", "WeightsError", "WeightsNotFoundError", "RunSetupError", "FatalRunError"
    ):
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split())


# --- predict / run -------------------------------------------------------------------------------


def _print_summary(summary: RunSummary, output_dir: Path, verbose: bool) -> int:
    table = Table(title=f"depthgraph: {summary.done} of {summary.total} images", show_lines=False)
    table.add_column("image", overflow="fold")
    table.add_column("status")
    table.add_column("written / error", overflow="fold")
    table.add_column("seconds", justify="right")
    for item in summary.items:
        if item.error is None:
            table.add_row(str(item.job.label), "[green]ok[/green]",
                          f"{len(item.files)} files in {item.directory}", f"{item.seconds:.2f}")
        else:
            table.add_row(str(item.job.label), "[red]failed[/red]", item.error, f"{item.seconds:.2f}")
    console.print(table)
    for item in summary.items:
        if item.error is not None and verbose and item.traceback:
            err_console.print(item.traceback, markup=False, highlight=False)
    rate = summary.done / summary.seconds if summary.seconds > 0 else 0.0
    console.print(f"{summary.done} ok, {summary.failed} failed in {summary.seconds:.1f} s "
                  f"({rate:.2f} images/s); outputs in {output_dir}", highlight=False)
    if summary.failed:
        for item in summary.items:
            if item.error is not None:
                err_console.print(f"[red]failed:[/red] {item.job.label}: {item.error}",
                                  highlight=False)
    if summary.done == 0:
        return EXIT_ERROR
    return EXIT_PARTIAL if summary.failed else EXIT_OK


def _execute(workflow: Any, jobs: list[ImageJob], params: dict[str, Any], output_dir: Path,
             batch_size: int, verbose: bool, quiet: bool) -> int:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    if len(jobs) > 1 and not quiet:
        columns = [TextColumn("[progress.description]{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TextColumn("{task.fields[rate]} img/s"),
                   TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
        with Progress(*columns, console=err_console, transient=False) as progress:
            task = progress.add_task("images", total=len(jobs), rate="-")

            def advance(done: int, seconds: float) -> None:
                rate = f"{done / seconds:.2f}" if seconds > 0 else "-"
                progress.update(task, completed=done, rate=rate)

            summary = run_jobs(workflow, jobs, params, output_dir, batch_size, on_progress=advance)
    else:
        summary = run_jobs(workflow, jobs, params, output_dir, batch_size)
    return _print_summary(summary, output_dir, verbose)


@app.command()
def predict(
    images: Annotated[List[str], typer.Argument(help="Image files, folders or glob patterns.")],
    model: Annotated[ModelSize, typer.Option("--model", "-m", help="DA3 variant.")] = ModelSize.small,
    output_dir: OutputDir = Path("depthgraph_outputs"),
    colormap: Annotated[str, typer.Option(help="Colour map of the depth picture (turbo, inferno, magma, plasma, viridis, jet, bone, gray).")] = "turbo",
    point_cloud: Annotated[bool, typer.Option("--point-cloud", help="Also write a coloured point cloud (PLY).")] = False,
    device: Device = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 1,
    weights: Annotated[Optional[Path], typer.Option(help="A model.safetensors to use instead of the weights directory.")] = None,
    recursive: Recursive = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Depth for images without a workflow file: depth (16-bit PNG + .npy), colour map, optional point cloud."""
    with _reported(verbose):
        from depthgraph.engine.workflow import Workflow

        _use_device(device)
        if weights is not None:
            _point_model_at(weights, model.value)
        definition = build_predict_definition(model.value, colormap, point_cloud)
        workflow = Workflow.from_definition(definition)
        jobs = plan_jobs(workflow, images, recursive=recursive)
        code = _execute(workflow, jobs, {}, output_dir, batch_size, verbose, quiet)
    raise typer.Exit(code)


def _use_device(device: str | None) -> None:
    """Pass ``--device`` to the depth blocks, which read it from their environment variable."""
    if device:
        from depthgraph.blocks.depth_estimation import DEVICE_ENV

        os.environ[DEVICE_ENV] = device


def _point_model_at(weights: Path, variant: str) -> None:
    """Use one checkpoint file: a temporary weights root whose variant folder links to it."""
    import atexit
    import shutil
    import tempfile

    from depthgraph.models.depth_anything_v3.recipe import weights_folder_name
    from depthgraph.weights_store import WEIGHTS_DIR_ENV

    source = weights.expanduser().resolve()
    if source.is_dir():
        source = source / "model.safetensors"
    if not source.is_file():
        raise CLIError(f"--weights {weights}: no such file")
    root = Path(tempfile.mkdtemp(prefix="depthgraph-weights-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # only a link (or copy) lives there
    folder = root / weights_folder_name(variant)
    folder.mkdir()
    try:
        (folder / "model.safetensors").symlink_to(source)
    except OSError:
        shutil.copyfile(source, folder / "model.safetensors")
    os.environ[WEIGHTS_DIR_ENV] = str(root)


@app.command()
def run(
    workflow_path: Annotated[Path, typer.Argument(metavar="WORKFLOW.json", help="Workflow definition (JSON).")],
    image: Annotated[List[str], typer.Option("--image", "-i", help="Image file, folder or glob; repeatable; NAME=PATH for a workflow with several image inputs.")] = [],  # noqa: B006
    param: Annotated[List[str], typer.Option("--param", "-p", help="Workflow parameter NAME=VALUE (VALUE read as JSON when it parses, else as text); repeatable.")] = [],  # noqa: B006
    output_dir: OutputDir = Path("depthgraph_outputs"),
    batch_size: Annotated[int, typer.Option(min=1, help="Images per workflow run.")] = 1,
    device: Device = None,
    recursive: Recursive = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Run a workflow over every image; outputs written by kind, one folder per image."""
    with _reported(verbose):
        from depthgraph.engine.workflow import Workflow

        _use_device(device)
        if not workflow_path.is_file():
            raise CLIError(f"{workflow_path}: no such workflow file")
        workflow = Workflow.from_definition(workflow_path)
        params = parse_params(param, workflow)
        if not image and list(workflow.image_input_names):
            raise CLIError("no --image given; the workflow needs "
                           + ", ".join(f"'{n}'" for n in workflow.image_input_names))
        jobs = plan_jobs(workflow, image, recursive=recursive)
        code = _execute(workflow, jobs, params, output_dir, batch_size, verbose, quiet)
    raise typer.Exit(code)


# --- validate / describe -------------------------------------------------------------------------


@app.command()
def validate(
    workflow_path: Annotated[Path, typer.Argument(metavar="WORKFLOW.json", help="Workflow definition (JSON).")],
    verbose: Verbose = False,
) -> None:
    """Check a workflow: prints "valid", or every error with its step and property (exit 1)."""
    with _reported(verbose):
        from depthgraph.engine.compiler import validate_definition

        if not workflow_path.is_file():
            raise CLIError(f"{workflow_path}: no such workflow file")
        errors = validate_definition(workflow_path)
        if errors:
            err_console.print(f"[red]invalid:[/red] {workflow_path}: {len(errors)} error(s)",
                              highlight=False)
            for error in errors:
                err_console.print(f"  - {error.message}", markup=False, highlight=False)
                for detail in error.details[1:] if len(error.details) > 1 else []:
                    err_console.print(f"      {detail.message}", markup=False, highlight=False)
            raise typer.Exit(EXIT_ERROR)
        console.print(f"valid: {workflow_path}", highlight=False)


def _kind_names(kinds: Any) -> str:
    names = []
    for kind in kinds or []:
        names.append(kind.get("name", "?") if isinstance(kind, dict) else str(kind))
    return ", ".join(names) or "*"


@app.command()
def describe(
    as_json: Annotated[bool, typer.Option("--json", help="Print the full description as JSON.")] = False,
    verbose: Verbose = False,
) -> None:
    """List the blocks with their inputs, outputs and kinds."""
    with _reported(verbose):
        from depthgraph.engine.describe import describe as describe_blocks

        data = describe_blocks()
        if as_json:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
            return
        table = Table(title="depthgraph blocks", show_lines=True)
        table.add_column("block", overflow="fold")
        table.add_column("inputs (kinds)", overflow="fold")
        table.add_column("outputs (kinds)", overflow="fold")
        for block in data.get("blocks", []):
            identifier = block.get("identifier") or block.get("manifest_type_identifier", "?")
            aliases = block.get("aliases") or block.get("manifest_type_identifier_aliases") or []
            label = identifier + "".join(f"\n  alias {a}" for a in aliases)
            inputs = "\n".join(f"{name}: {_kind_names(kinds)}"
                               for name, kinds in _block_inputs(block).items())
            outputs = "\n".join(f"{o.get('name')}: {_kind_names(o.get('kind'))}"
                                for o in block.get("outputs_manifest", block.get("outputs", [])))
            table.add_row(label, inputs or "-", outputs or "-")
        console.print(table)


def _block_inputs(block: dict[str, Any]) -> dict[str, Any]:
    """Input name -> kinds: selector inputs with their kinds, other properties as 'value'."""
    result: dict[str, Any] = dict(block.get("input_kinds") or {})
    for name in block.get("block_schema", {}).get("properties", {}):
        if name not in ("type", "name") and name not in result:
            result[name] = ["value"]
    return result


# --- serve ---------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 exposes the server to the network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 9001,
    api_key: Annotated[Optional[str], typer.Option(envvar="DEPTHGRAPH_API_KEY", help="Refuse requests without this key (401). Prefer the environment variable.", show_default=False)] = None,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, MiB.")] = 32.0,
    max_image_pixels: Annotated[int, typer.Option(help="Largest image, width x height.")] = 40_000_000,
    max_batch_size: Annotated[int, typer.Option(help="Most images per request.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds one request may run.")] = 120.0,
    workers: Annotated[int, typer.Option(help="Inference threads.")] = 1,
    allow_url_images: Annotated[bool, typer.Option("--allow-url-images", help="Let requests give images as URLs the server fetches.")] = False,
    allow_sinks: Annotated[bool, typer.Option("--allow-sinks", help="Let requests run blocks that write files on the server.")] = False,
    device: Device = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    verbose: Verbose = False,
) -> None:
    """Serve the Roboflow-compatible Workflows HTTP API (uvicorn)."""
    with _reported(verbose):
        from depthgraph.server import ServerSettings, run_server

        _use_device(device)
        settings = ServerSettings.from_env(
            host=host, port=port, api_key=api_key or None,
            max_body_bytes=int(max_body_mb * 1024 * 1024), max_image_pixels=max_image_pixels,
            max_batch_size=max_batch_size, request_timeout_s=timeout, inference_workers=workers,
            allow_url_images=allow_url_images or None, allow_sinks=allow_sinks or None,
        )
        if host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
            err_console.print(f"[yellow]warning:[/yellow] serving on {host} without an API key; "
                              "set DEPTHGRAPH_API_KEY", highlight=False)
        run_server(settings, log_level=log_level)


# --- weights -------------------------------------------------------------------------------------


@weights_app.command("list")
def weights_list(verbose: Verbose = False) -> None:
    """Show which checkpoints the weights directory holds."""
    with _reported(verbose):
        from depthgraph.weights_store import list_weights, weights_dir

        root = weights_dir()
        table = Table(title=f"weights in {root}")
        for column in ("model", "status", "size", "path"):
            table.add_column(column, overflow="fold")
        for entry in list_weights(root):
            if not entry.present:
                state = "[yellow]missing[/yellow]"
            elif entry.problem:
                state = f"[red]broken[/red]: {entry.problem}"
            else:
                state = f"[green]ok[/green] ({entry.tensors_found} tensors)"
            size = f"{entry.size_bytes / 1e6:.1f} MB" if entry.present else "-"
            table.add_row(entry.variant, state, size, str(entry.path))
        console.print(table)


@weights_app.command("import")
def weights_import(
    path: Annotated[Path, typer.Argument(help="A model.safetensors file or a folder holding one.")],
    model: Annotated[ModelSize, typer.Option("--model", "-m", help="Which DA3 variant it is.")],
    verbose: Verbose = False,
) -> None:
    """Check a checkpoint against the DA3 tensor names and copy it into the weights directory."""
    with _reported(verbose):
        from depthgraph.weights_store import import_weights

        target = import_weights(path, model.value)
        console.print(f"imported {path} as DA3-{model.value} -> {target}", highlight=False)


@weights_app.command("download")
def weights_download(
    model: Annotated[ModelSize, typer.Option("--model", "-m", help="Which DA3 variant.")],
    verbose: Verbose = False,
) -> None:
    """Download a checkpoint from the Hugging Face hub into the weights directory."""
    with _reported(verbose):
        from depthgraph.weights_store import download_weights

        target = download_weights(model.value)
        console.print(f"downloaded DA3-{model.value} -> {target}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
