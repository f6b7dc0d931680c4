"""What the batch runner runs and what it reports: jobs, their results, the run's summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from depthgraph.image_decoding import read_image

#: ``loader()`` -> the job's image inputs (input name -> value the workflow takes).
Loader = Callable[[], dict[str, Any]]


@dataclass
class ImageJob:
    """One workflow run: its image(s) for each image input, the folder its outputs go to, and how
    its inputs are loaded.

    - ``images``: image input name -> the file as given (a path, or a name such as a URI); it is
      recorded in the job's ``results.json``.
    - ``folder``: the job's results folder, relative to the output folder (``/``-separated; may
      hold sub-folders).
    - ``loader``: gives the job's inputs; without one, each file in ``images`` is read from disk.
    """

    label: str
    images: dict[str, str | Path]
    folder: str
    loader: Loader | None = field(default=None, repr=False, compare=False)

    def load(self) -> dict[str, Any]:
        """The job's image inputs, ready for the workflow (raises when an image cannot be read)."""
        if self.loader is not None:
            return self.loader()
        from depthgraph.engine.values import WorkflowImageData

        return {name: WorkflowImageData(numpy_image=read_image(Path(path)), file_name=str(path))
                for name, path in self.images.items()}


@dataclass
class JobResult:
    """What became of one job: the files written, or the error (and whether it is fatal)."""

    job: ImageJob
    error: str | None = None
    traceback: str | None = None
    files: list[Path] = field(default_factory=list)
    directory: Path | None = None
    seconds: float = 0.0
    #: the error would fail every job alike (see :func:`depthgraph.errors.is_fatal`)
    fatal: bool = False


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
