"""The Python API: compile once, run many times.

>>> wf = Workflow.from_definition("workflow.json")
>>> results = wf.run(image=frame, threshold=0.5)   # one dict per image
"""

from __future__ import annotations

from typing import Any

from depthgraph.engine.compiler import CompiledWorkflow, compile_workflow
from depthgraph.engine.executor import execute
from depthgraph.engine.progress import StepCallback
from depthgraph.engine.registry import BlockRegistry


class Workflow:
    """A compiled workflow. Build it with :meth:`from_definition`; run it with :meth:`run`."""

    def __init__(self, compiled: CompiledWorkflow) -> None:
        self.compiled = compiled

    @classmethod
    def from_definition(cls, definition: Any, registry: BlockRegistry | None = None) -> "Workflow":
        """Compile a definition: a dict, a path to a ``.json`` file, or a JSON string.

        Raises a :class:`~depthgraph.engine.errors.WorkflowCompilationError` subclass naming the
        step and property at fault.
        """
        return cls(compile_workflow(definition, registry))

    # --- description -----------------------------------------------------------------------

    @property
    def definition(self) -> dict[str, Any]:
        return self.compiled.definition

    @property
    def input_names(self) -> list[str]:
        """Every input name: image inputs first, then parameters."""
        return self.compiled.input_names

    @property
    def image_input_names(self) -> list[str]:
        return list(self.compiled.image_inputs)

    @property
    def parameter_names(self) -> dict[str, Any]:
        """Parameter name -> default value (None where the parameter has no default)."""
        return {name: p.default_value for name, p in self.compiled.parameters.items()}

    @property
    def required_parameter_names(self) -> list[str]:
        """Parameters declared without ``default_value``: they must be given at run time."""
        return [name for name, p in self.compiled.parameters.items() if not p.has_default]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.compiled.outputs]

    @property
    def output_kinds(self) -> dict[str, list[str]]:
        """Output name -> the kinds it gives (``dictionary`` for ``$steps.x.*``)."""
        return {o.name: list(o.kinds) for o in self.compiled.outputs}

    @property
    def step_names(self) -> list[str]:
        """Step names in execution order."""
        return [s.name for s in self.compiled.steps]

    # --- running -----------------------------------------------------------------------------

    def run(self, *, on_step: StepCallback | None = None, **inputs: Any) -> list[dict[str, Any]]:
        """Run with inputs as keyword arguments; one output dict per batch element.

        ``on_step`` (keyword only; so an input cannot be called ``on_step`` here, use
        :meth:`run_inputs`) is called with a :class:`~depthgraph.engine.progress.StepEvent` as
        each step starts and finishes.
        """
        return execute(self.compiled, inputs, on_step=on_step)

    def run_inputs(
        self, inputs: dict[str, Any], timeout: float | None = None, on_step: StepCallback | None = None
    ) -> list[dict[str, Any]]:
        """Run with inputs as a dict; ``timeout`` (seconds) is checked between steps;
        ``on_step`` receives step progress events (:mod:`depthgraph.engine.progress`)."""
        return execute(self.compiled, inputs, timeout=timeout, on_step=on_step)

    def __repr__(self) -> str:
        return (
            f"Workflow(inputs={self.input_names}, steps={self.step_names}, outputs={self.output_names})"
        )


def run_workflow(definition: Any, inputs: dict[str, Any], registry: BlockRegistry | None = None) -> list[dict[str, Any]]:
    """Compile ``definition`` and run it once on ``inputs``."""
    return Workflow.from_definition(definition, registry).run_inputs(inputs)


__all__ = ["Workflow", "run_workflow"]
