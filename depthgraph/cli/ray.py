"""``depthgraph run WORKFLOW --image DIR_OR_GLOB --engine ray``: the terminal side of a Ray run."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from rich.console import Console

from depthgraph.cli.common import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, CLIError,
                                   console, err_console)

#: where Ray's own lines go during a run, inside the output folder (``_`` files are not results)
RAY_LOG = "_ray.log"


def _stderr_is_fd2() -> bool:
    try:
        return sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # captured (tests) or replaced
        return False


@contextmanager
def ray_lines_to_log(output_dir: Path) -> Iterator[Console]:
    """Ray's C++ core worker writes notes to file descriptor 2 that are not the user's business
    (every Ray Data actor pool prints "core_worker.cc ... constructor arguments in the object
    store and max_restarts > 0", Ray's issue 57733: Ray Data passes its own handles that way,
    whatever the workflow). For the run, descriptor 2 goes to ``OUTPUT/_ray.log``; the console
    given back writes to the terminal. Where stderr is not descriptor 2 (captured), nothing moves.
    """
    if not _stderr_is_fd2() or (output_dir.exists() and not output_dir.is_dir()):
        yield err_console
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1)
    from depthgraph.output_root import check_target

    with open(check_target(output_dir / RAY_LOG), "ab") as log:  # a plain file, not a link
        os.dup2(log.fileno(), 2)
        try:
            yield Console(file=terminal, force_terminal=terminal.isatty(), soft_wrap=True,
                          width=None if terminal.isatty() else err_console.width)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            terminal.close()


def run_ray_command(definition: dict[str, Any], images: list[str], params: dict[str, Any],
                    output_dir: Path, *, batch_size: int, recursive: bool, address: str | None,
                    concurrency: int | None, num_cpus: float | None, num_gpus: float, overwrite: bool,
                    quiet: bool) -> int:
    """Run on Ray, show progress and a summary; the exit code (0 ok, 3 some failed, 1 none ok)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise CLIError("--engine ray needs Ray Data: pip install 'depthgraph[ray]'") from None
    from depthgraph.scale import ScaleRunError

    if not images:
        raise CLIError("--engine ray needs --image (files, folders, globs or URIs)")
    options = dict(params=params, recursive=recursive, batch_size=batch_size,
                   concurrency=concurrency, num_cpus=num_cpus, num_gpus=num_gpus,
                   overwrite=overwrite, address=address)
    try:
        with ray_lines_to_log(Path(output_dir)) as terminal:
            summary = _run_with_progress(definition, images, output_dir, options, quiet, terminal)
    except ScaleRunError as exc:
        raise CLIError(str(exc)) from None
    for row in summary.rows:
        if row["error"] is not None:
            err_console.print(f"[red]failed:[/red] {row['input']}: {row['error']}", highlight=False)
    rate = summary.done / summary.seconds if summary.seconds > 0 else 0.0
    skipped = f", {summary.skipped} skipped (results exist; --overwrite to redo)" if summary.skipped else ""
    pool = (f" on {summary.concurrency} actor(s) x {summary.num_cpus:g} CPU"
            if summary.concurrency else "")
    console.print(f"{summary.done} ok, {summary.failed} failed{skipped} in {summary.seconds:.1f} s "
                  f"({rate:.2f} images/s{pool}); outputs in {output_dir}, rows in "
                  f"{summary.rows_path}", highlight=False)
    if summary.interrupted:
        err_console.print("[red]interrupted[/red]: finished images are kept; run the same command "
                          "again to do the rest")
        return EXIT_INTERRUPTED
    if summary.done == 0 and summary.failed:
        return EXIT_ERROR
    return EXIT_PARTIAL if summary.failed else EXIT_OK


def _run_with_progress(definition: dict[str, Any], images: list[str], output_dir: Path,
                       options: dict[str, Any], quiet: bool, terminal: Console) -> Any:
    from depthgraph.scale import run_on_ray

    if quiet:
        return run_on_ray(definition, images, output_dir, **options)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("[progress.description]{task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("{task.fields[rate]} img/s"),
               TimeElapsedColumn()]
    with Progress(*columns, console=terminal, transient=False) as progress:
        task = progress.add_task("images (ray)", total=None, rate="-")

        def advance(finished: int, total: int, seconds: float) -> None:
            rate = f"{finished / seconds:.2f}" if seconds > 0 else "-"
            progress.update(task, completed=finished, total=total, rate=rate)

        return run_on_ray(definition, images, output_dir, on_progress=advance, **options)
