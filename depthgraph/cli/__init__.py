"""The ``depthgraph`` command line (typer + rich): one module per command, sharing ``common``.

Commands: ``predict`` (depth for images, no workflow file), ``run`` (a workflow over images),
``validate``, ``describe``, ``serve``, ``weights list|import|download`` and ``export onnx``.

Exit codes: 0 everything worked; 1 nothing could be done (bad workflow, no image, every image
failed, a weights problem); 2 wrong usage (typer's); 3 some images failed and were skipped, the
others were written; 130 interrupted.
"""

from __future__ import annotations

from depthgraph.cli import export, inspect, predict, run, scene, serve, weights  # noqa: F401 - they register commands
from depthgraph.cli.common import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, CLIError,
                                   app)

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "CLIError", "app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
