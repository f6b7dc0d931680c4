"""``depthgraph run WORKFLOW --image DIR_OR_GLOB --engine ray``: the terminal side of a Ray run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from depthgraph.cli.common import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, CLIError,
                                   console, err_console)


def run_ray_command(definition: dict[str, Any], images: list[str], params: dict[str, Any],
                    output_dir: Path, *, batch_size: int, recursive: bool, address: str | None,
                    concurrency: int, num_cpus: float, num_gpus: float, overwrite: bool,
                    quiet: bool) -> int:
    """Run on Ray, show progress and a summary; the exit code (0 ok, 3 some failed, 1 none ok)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise CLIError("--engine ray needs Ray Data: pip install 'depthgraph[ray]'") from None
    from depthgraph.scale import ScaleRunError, run_on_ray

    if not images:
        raise CLIError("--engine ray needs --image (files, folders, globs or URIs)")
    options = dict(params=params, recursive=recursive, batch_size=batch_size,
                   concurrency=concurrency, num_cpus=num_cpus, num_gpus=num_gpus,
                   overwrite=overwrite, address=address)
    try:
        if quiet:
            summary = run_on_ray(definition, images, output_dir, **options)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            columns = [TextColumn("[progress.description]{task.description}"), BarColumn(),
                       MofNCompleteColumn(), TextColumn("{task.fields[rate]} img/s"),
                       TimeElapsedColumn()]
            with Progress(*columns, console=err_console, transient=False) as progress:
                task = progress.add_task("images (ray)", total=None, rate="-")

                def advance(finished: int, total: int, seconds: float) -> None:
                    rate = f"{finished / seconds:.2f}" if seconds > 0 else "-"
                    progress.update(task, completed=finished, total=total, rate=rate)

                summary = run_on_ray(definition, images, output_dir, on_progress=advance, **options)
    except ScaleRunError as exc:
        raise CLIError(str(exc)) from None
    for row in summary.rows:
        if row["error"] is not None:
            err_console.print(f"[red]failed:[/red] {row['input']}: {row['error']}", highlight=False)
    rate = summary.done / summary.seconds if summary.seconds > 0 else 0.0
    skipped = f", {summary.skipped} skipped (results exist; --overwrite to redo)" if summary.skipped else ""
    console.print(f"{summary.done} ok, {summary.failed} failed{skipped} in {summary.seconds:.1f} s "
                  f"({rate:.2f} images/s); outputs in {output_dir}, rows in {summary.rows_path}",
                  highlight=False)
    if summary.interrupted:
        err_console.print("[red]interrupted[/red]: finished images are kept; run the same command "
                          "again to do the rest")
        return EXIT_INTERRUPTED
    if summary.done == 0 and summary.failed:
        return EXIT_ERROR
    return EXIT_PARTIAL if summary.failed else EXIT_OK
