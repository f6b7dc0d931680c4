"""``depthgraph run WORKFLOW --video SOURCE``: the terminal side of a video run.

A progress bar (frames/s, and time left when the length is known), Ctrl-C handling (the first
finishes the batch in progress and closes every file; a second one stops at once, still closing
the files) and one summary line. The work itself is :func:`depthgraph.video.pipeline.run_video`.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from depthgraph.engine.workflow import Workflow


@contextmanager
def _graceful_sigint(stop: threading.Event, console: Any) -> Iterator[None]:
    """First Ctrl-C sets ``stop``; the second raises KeyboardInterrupt (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        console.print("[yellow]stopping: finishing the current batch and closing the files "
                      "(Ctrl-C again to stop at once)[/yellow]")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def first_batch_estimate(done: int, seconds: float, total: int | None,
                         frames: str | None) -> str | None:
    """One line after the first batch: how long the whole run would take at that pace (which
    includes loading the model, so it errs long), and ``--frames`` for a quick try."""
    if not done or seconds <= 0 or not total or total <= done:
        return None
    estimate = seconds / done * total
    shown = f"{estimate / 60:.0f} min" if estimate >= 120 else f"{estimate:.0f} s"
    line = (f"first batch: {done} frame(s) in {seconds:.1f} s (model load included); "
            f"all {total} frames: about {shown}")
    if frames is None and estimate >= 60:
        line += f" (for a quick try: --frames 0:{max(done, min(30, total // 4))})"
    return line


def run_video_command(workflow: Workflow, video: str, params: dict[str, Any], output_dir: Path, *,
                      batch_size: int = 1, max_fps: float | None = None, frames: str | None = None,
                      ply_every: int = 0, preview: bool = False, codec: str = "auto",
                      quiet: bool = False) -> int:
    """Run ``workflow`` over ``video`` writing under ``output_dir``; returns the exit code."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from depthgraph.cli.common import EXIT_INTERRUPTED, EXIT_OK, console, err_console
    from depthgraph.video import run_video

    stop = threading.Event()
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} frames/s"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=err_console, disable=quiet, transient=False,
    )
    task_id = None

    def on_progress(stats: Any, info: Any) -> None:
        nonlocal task_id
        if task_id is None:
            task_id = progress.add_task("video", total=info.total_frames, rate="-")
            if not quiet:
                note = first_batch_estimate(stats.frames_processed, stats.seconds,
                                            info.total_frames, frames)
                if note:
                    progress.console.print(note, highlight=False)
        progress.update(task_id, completed=stats.frames_processed, rate=f"{stats.fps:.1f}")

    with _graceful_sigint(stop, err_console), progress:
        # confined: file-writing blocks (PLY export...) write only under -o, as with images
        summary = run_video(workflow, video, params=params, confined=True, output_dir=output_dir, batch_size=batch_size,
                            max_fps=max_fps, frames=frames, ply_every=ply_every, preview=preview,
                            codec=codec, on_progress=on_progress, stop_event=stop)
    stats = summary.stats
    line = (f"{stats.frames_processed} frame(s) from {summary.source.name} in {stats.seconds:.1f} s "
            f"({stats.fps:.1f} frames/s) -> {output_dir}")
    if stats.frames_dropped:
        line += f"; {stats.frames_dropped} frame(s) dropped to keep up with the live source"
    if stats.missing_frames:
        line += f"; {stats.missing_frames} announced frame(s) could not be decoded (truncated file?)"
    if not quiet:
        console.print(line, highlight=False)
    if stats.interrupted:
        err_console.print(f"[yellow]interrupted[/yellow]: {stats.frames_processed} frame(s) written, "
                          "files closed")
        return EXIT_INTERRUPTED
    return EXIT_OK
