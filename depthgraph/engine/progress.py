"""Step progress events: what a running workflow tells a caller as it goes.

:func:`depthgraph.engine.executor.execute` (and ``Workflow.run`` / ``Workflow.run_inputs``) take
an optional ``on_step`` callback and call it with a :class:`StepEvent` when each step starts and
when it finishes. The engine knows no block by name: an event carries the step's name, its block
type identifier, its place in the execution order and, when finished, the seconds it took.

A callback runs in the thread that runs the workflow, between steps; it should be quick (put
the event on a queue, print a line). An exception it raises stops the run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Literal

StepPhase = Literal["started", "finished"]


@dataclass(frozen=True)
class StepEvent:
    """One step starting or finishing.

    ``index`` counts steps from 0 in execution order, ``total`` is the number of steps, so
    ``index + 1`` of ``total`` have started (or finished). ``seconds`` is the step's run time,
    set only when ``phase == "finished"``.
    """

    phase: StepPhase
    step: str
    block_type: str
    index: int
    total: int
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the server's event stream)."""
        return asdict(self)

    def describe(self) -> str:
        """One line for a terminal, e.g. ``step 2/3 depth (depthgraph/depth_estimation@v1) finished in 1.20 s``."""
        where = f"step {self.index + 1}/{self.total} {self.step} ({self.block_type})"
        if self.phase == "finished" and self.seconds is not None:
            return f"{where} finished in {self.seconds:.2f} s"
        return f"{where} {self.phase}"


StepCallback = Callable[[StepEvent], None]

__all__ = ["StepCallback", "StepEvent", "StepPhase"]
