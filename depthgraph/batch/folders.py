"""The batch runner's files: the output folder is checked before any model runs, and each job's
results folder is written to a hidden temporary folder renamed into place once complete, so a
folder exists only when whole (an interrupted run leaves no half-written folder)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from depthgraph.batch.errors import RunSetupError
from depthgraph.batch.jobs import ImageJob
from depthgraph.output_root import replace_folder
from depthgraph.output_writer import write_result


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


def write_job(job: ImageJob, result: dict[str, Any], output_dir: Path) -> list[Path]:
    """Write ``output_dir/<job.folder>`` whole or not at all; returns the files, as placed.

    Raises ``OSError`` (naming the folder) when it cannot; nothing is left half-written.
    """
    directory = Path(output_dir) / job.folder
    temporary = directory.parent / f".{directory.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
            extra = {"images": {n: str(p) for n, p in job.images.items()}}
            files = write_result(result, temporary, extra=extra)
            replace_folder(temporary, directory)
        except Exception as exc:  # noqa: BLE001 - one line naming the folder
            raise OSError(f"writing outputs to {directory}: {' '.join(str(exc).split())}") from exc
    finally:  # also on Ctrl-C: never leave a half-written folder behind
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return [directory / f.relative_to(temporary) for f in files]
