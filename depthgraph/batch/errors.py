"""The batch runner's own errors."""

from __future__ import annotations

from depthgraph.errors import DepthgraphError, FatalError


class RunSetupError(DepthgraphError):
    """The command line does not fit the workflow, or the output folder is unusable (one line)."""


class FatalRunError(FatalError):
    """An error that would fail every image the same way (missing weights, for one): the run stops."""
