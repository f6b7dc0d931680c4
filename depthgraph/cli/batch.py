"""Running a compiled workflow over image jobs with a progress bar, and the summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from depthgraph.batch import ImageJob, RunSummary, check_output_dir, run_jobs
from depthgraph.cli.common import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, CLIError,
                                   check_weights_first, console, err_console)
from depthgraph.engine.progress import StepEvent
from depthgraph.engine.workflow import Workflow


def print_summary(summary: RunSummary, output_dir: Path, verbose: bool) -> int:
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
    where = f"outputs in {output_dir}" if summary.done else "no outputs written"
    console.print(f"{summary.done} ok, {summary.failed} failed in {summary.seconds:.1f} s "
                  f"({rate:.2f} images/s); {where}", highlight=False)
    if summary.failed:
        for item in summary.items:
            if item.error is not None:
                error = item.error  # most errors already start with the image's path
                if not error.startswith(f"{item.job.label}:"):
                    error = f"{item.job.label}: {error}"
                err_console.print(f"[red]error:[/red] {error}", highlight=False)
    if summary.interrupted:
        left = max(0, summary.planned - summary.total)
        err_console.print(f"[red]interrupted[/red]: {summary.done} image(s) finished and written, "
                          f"{left} not started; no partial folders were left", highlight=False)
        return EXIT_INTERRUPTED
    if summary.done == 0:
        return EXIT_ERROR
    return EXIT_PARTIAL if summary.failed else EXIT_OK


def any_image_usable(jobs: list[ImageJob]) -> bool:
    """True when some job's images pass the header checks (or a job has no image): only then is
    a missing model worth reporting first. Stops at the first usable job (usually the first)."""
    from depthgraph.image_decoding import ImageReadError, check_pixel_limit

    for job in jobs:
        try:
            for path in job.images.values():
                check_pixel_limit(Path(path).read_bytes(), str(path))
        except (ImageReadError, OSError):
            continue
        return True
    return False


def refuse_to_replace(jobs: list[ImageJob], output_dir: Path) -> None:
    """Stop before any work when result folders of an earlier run would be replaced."""
    existing = [output_dir / job.folder for job in jobs if (output_dir / job.folder).exists()]
    if existing:
        shown = ", ".join(str(path) for path in existing[:3])
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise CLIError(f"{shown}{more} already hold{'s' if len(existing) == 1 else ''} results of "
                       "an earlier run; pass --overwrite to replace them, or choose another "
                       "--output-dir")


def execute_jobs(workflow: Workflow, jobs: list[ImageJob], params: dict[str, Any], output_dir: Path,
             batch_size: int, verbose: bool, quiet: bool, overwrite: bool = False) -> int:
    """Run ``jobs``. Before any work, cheapest first: the folders of an earlier run (unless
    ``overwrite``), the output folder, then the model weights, when some image could use them."""
    if not overwrite:
        refuse_to_replace(jobs, output_dir)
    check_output_dir(output_dir)
    if any_image_usable(jobs):
        check_weights_first(workflow, params)
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    if len(jobs) > 1 and not quiet:
        columns = [TextColumn("[progress.description]{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TextColumn("{task.fields[rate]} img/s"),
                   TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                   TextColumn("{task.fields[step]}")]
        with Progress(*columns, console=err_console, transient=False) as progress:
            task = progress.add_task("images", total=len(jobs), rate="-", step="")

            def advance(done: int, seconds: float) -> None:
                rate = f"{done / seconds:.2f}" if seconds > 0 else "-"
                progress.update(task, completed=done, rate=rate)

            def show_step(event: StepEvent) -> None:  # the step running now, beside the bar
                running = event.phase == "started"
                progress.update(task, step=f"step {event.index + 1}/{event.total} {event.step}" if running else "")

            summary = run_jobs(workflow, jobs, params, output_dir, batch_size, on_progress=advance,
                               on_step=show_step)
    else:
        def print_step(event: StepEvent) -> None:  # --verbose: a line per step
            err_console.print(event.describe(), highlight=False, markup=False)

        summary = run_jobs(workflow, jobs, params, output_dir, batch_size,
                           on_step=print_step if verbose and not quiet else None)
    return print_summary(summary, output_dir, verbose)
