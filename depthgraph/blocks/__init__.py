"""Built-in blocks. ``load_blocks()`` lists them for the registry."""

from __future__ import annotations

from depthgraph.blocks.base import WorkflowBlock


def load_blocks() -> list[type[WorkflowBlock]]:
    """Every built-in block class (imports no torch)."""
    return []
