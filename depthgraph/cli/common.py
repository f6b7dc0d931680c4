"""What every command shares: the typer apps, consoles, option types, exit codes and error reporting."""

from __future__ import annotations

import os
import traceback
import warnings
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from typing_extensions import Annotated

from depthgraph.errors import DepthgraphError, is_written_for_the_user


EXIT_OK, EXIT_ERROR, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 3, 130

#: Piped output (a file, ``| tee``, CI logs) has no width; rich would assume 80 columns and wrap
#: table cells (paths) over several lines. Give it room unless COLUMNS says otherwise; tables
#: are as wide as their content, no wider.
PIPED_WIDTH = 240


def _console(**options: object) -> Console:
    console = Console(**options)  # type: ignore[arg-type]
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(width=PIPED_WIDTH, **options)  # type: ignore[arg-type]
    return console


console = _console()
err_console = _console(stderr=True, soft_wrap=True)

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

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Print tracebacks on failure; with one image, also a line per workflow step as it runs.")]
Device = Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1, mps (default: automatic).")]


class BackendName(str, Enum):
    torch = "torch"
    onnxruntime = "onnxruntime"
    openvino = "openvino"


Backend = Annotated[
    Optional[BackendName],
    typer.Option(help="Where the network runs: torch, onnxruntime or openvino (an exported ONNX graph, CPU; "
                      "default: $DEPTHGRAPH_BACKEND, else torch)."),
]
OutputDir = Annotated[Path, typer.Option("--output-dir", "-o", help="Where results go.")]
Recursive = Annotated[bool, typer.Option("--recursive", "-r", help="Look into sub-folders.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace result folders of an earlier run (default: stop before any work, naming them).")]


class ModelSize(str, Enum):
    small = "small"
    base = "base"


class AnyModel(str, Enum):
    """Every checkpoint a single-image command or the weights directory knows (scenes take
    :class:`ModelSize` only: the LARGE checkpoints have no cross-view attention)."""

    small = "small"
    base = "base"
    metric_large = "metric-large"
    mono_large = "mono-large"


class CLIError(DepthgraphError):
    """A failure the CLI reports as one line."""


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """depthgraph's own warnings (stand-in weights) as one yellow line; others as Python shows them."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if category.__name__ == "StandInWeightsWarning":
            err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)
            return
        previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


@contextmanager
def reported(verbose: bool) -> Iterator[None]:
    """Turn any exception into one red line (plus the traceback with --verbose) and exit 1."""
    with _warnings_as_lines():
        yield from _reported(verbose)


def _reported(verbose: bool) -> Iterator[None]:
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
        err_console.print(f"[red]error:[/red] {one_line(exc)}", highlight=False)
        raise typer.Exit(EXIT_ERROR) from None


def one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if not is_written_for_the_user(exc):
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split())


def use_device(device: str | None) -> None:
    """Pass ``--device`` to the depth blocks, which read it from their environment variable."""
    from depthgraph.models.loading import use_device as set_device

    set_device(device)


def use_backend(backend: "BackendName | None") -> None:
    """Pass ``--backend`` to the depth blocks (through the model layer's setting)."""
    if backend is not None:
        from depthgraph.models.loading import use_backend as set_backend

        set_backend(backend.value)


def point_model_at(weights: Path, variant: str) -> None:
    """``--weights FILE``: check the user's checkpoint (errors name that file, not a temporary
    link), then use it: a temporary weights root whose variant folder links to it."""
    import atexit
    import shutil
    import tempfile

    from depthgraph.models.depth_anything_v3.recipe import weights_folder_name
    from depthgraph.weights_store import WEIGHTS_DIR_ENV, WeightsError, check_user_weights

    try:
        source = check_user_weights(weights, variant).resolve()
    except WeightsError as exc:
        raise CLIError(f"--weights {exc}") from None
    root = Path(tempfile.mkdtemp(prefix="depthgraph-weights-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # only a link (or copy) lives there
    folder = root / weights_folder_name(variant)
    folder.mkdir()
    try:
        (folder / "model.safetensors").symlink_to(source)
    except OSError:
        shutil.copyfile(source, folder / "model.safetensors")
    os.environ[WEIGHTS_DIR_ENV] = str(root)


def check_weights_first(workflow: object, params: dict[str, object]) -> None:
    """Find (or download) the weights of every depth model the workflow uses, before any image is
    read or a progress bar starts: a machine without them stops at once with one line saying
    where to put them."""
    from depthgraph.models.depth_anything_v3.recipe import canonical_variant
    from depthgraph.models.depth_anything_v3.weights import resolve_weights

    compiled = workflow.compiled  # type: ignore[attr-defined]
    variants: set[str] = set()
    for step in compiled.steps:
        version = getattr(step.manifest, "model_version", None)
        if isinstance(version, str) and version.startswith("$inputs."):
            name = version[len("$inputs."):]
            parameter = compiled.parameters.get(name)
            version = params.get(name, parameter.default_value if parameter else None)
        if isinstance(version, str) and version.startswith("depth-anything"):
            try:
                variants.add(canonical_variant(version))
            except ValueError:
                continue  # the block itself reports an unknown version, naming the step
    for variant in sorted(variants):
        resolve_weights(variant)
