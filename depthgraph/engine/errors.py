"""One error family for everything the engine reports.

Every error carries, where it has them, the step name, the block type and the property that the
problem is about, and its message says what was expected and what was found.  ``to_dict`` gives the
JSON shape the HTTP server returns (``{message, error_type, context, blocks_errors}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from depthgraph.errors import DepthgraphError, FatalError


@dataclass
class BlockErrorDetail:
    """Where one problem is: a step (and its block type) and a property of it."""

    step: str | None = None
    block_type: str | None = None
    property: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "block_type": self.block_type,
            "property": self.property,
            "message": self.message,
        }


class WorkflowError(DepthgraphError):
    """Base of every error depthgraph raises about a workflow, its inputs or its execution."""

    #: HTTP status the server maps this error to (client mistakes are 4xx).
    http_status: int = 400

    def __init__(
        self,
        message: str,
        *,
        step: str | None = None,
        block_type: str | None = None,
        property: str | None = None,
        context: str | None = None,
        details: list[BlockErrorDetail] | None = None,
    ) -> None:
        self.raw_message = message
        self.step = step
        self.block_type = block_type
        self.property = property
        self.context = context
        self.details: list[BlockErrorDetail] = list(details or [])
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.step is not None:
            where.append(f"step '{self.step}'")
        if self.block_type is not None:
            where.append(f"({self.block_type})")
        if self.property is not None:
            where.append(f"property '{self.property}'")
        prefix = " ".join(where)
        return f"{prefix}: {self.raw_message}" if prefix else self.raw_message

    @property
    def message(self) -> str:
        return str(self)

    @property
    def error_type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        details = self.details or (
            [BlockErrorDetail(self.step, self.block_type, self.property, self.raw_message)]
            if self.step is not None
            else []
        )
        return {
            "message": self.message,
            "error_type": self.error_type,
            "context": self.context,
            "blocks_errors": [d.to_dict() for d in details],
        }


# --- compilation -------------------------------------------------------------------------------


class WorkflowCompilationError(WorkflowError):
    """The definition cannot be turned into a runnable graph."""


class DefinitionParsingError(WorkflowCompilationError):
    """The JSON does not have the shape of a workflow definition (or of a step's manifest)."""


class UnknownBlockTypeError(WorkflowCompilationError):
    """A step's ``type`` names no loaded block."""


class DuplicateNameError(WorkflowCompilationError):
    """Two inputs, two steps or two outputs share a name."""


class InvalidSelectorError(WorkflowCompilationError):
    """A selector is malformed, or used where a selector is not accepted."""


class ReferenceNotFoundError(WorkflowCompilationError):
    """A selector points at an input, step or step output that does not exist."""


class KindMismatchError(WorkflowCompilationError):
    """A selector connects a source to a property that does not accept the source's kind."""


class CycleError(WorkflowCompilationError):
    """The steps reference each other in a loop."""


class PluginLoadingError(WorkflowError, FatalError):
    """A plugin module could not be imported or gave something that is not a block (fatal)."""

    http_status = 500


class DuplicateBlockError(PluginLoadingError):
    """Two sources register the same block identifier or alias."""


# --- runtime -------------------------------------------------------------------------------------


class RuntimeInputError(WorkflowError):
    """A runtime input is missing, unknown, or cannot be decoded."""

    @classmethod
    def for_input(cls, name: str, message: str) -> "RuntimeInputError":
        """The error about runtime input ``name``: its message and its context name the input."""
        return cls(f"input '{name}': {message}", context=f"input '{name}'")


class StepExecutionError(WorkflowError):
    """A block raised while running; the original exception is kept as ``__cause__``."""

    http_status = 500


class StepInputError(StepExecutionError, ValueError):
    """A block found the data it was given unusable: the request's mistake, not the server's (400).

    Blocks raise it for bad values (``"property 'depth': expected ..."``); a leading
    ``property 'name':`` is moved into :attr:`property` so the message does not repeat it. It is
    also a ``ValueError``, and a :class:`StepExecutionError` (a step failed; here, because of
    what it was given), so code that catches either around a block still does.
    """

    http_status = 400

    def __init__(self, message: str, **where: Any) -> None:
        if where.get("property") is None and message.startswith("property '"):
            name, sep, rest = message[len("property '"):].partition("'")
            if sep and rest.startswith(": "):
                where["property"], message = name, rest[2:]
        super().__init__(message, **where)


class WorkflowTimeoutError(WorkflowError):
    """Execution took longer than the configured limit."""

    http_status = 504


class ResponseTooLargeError(WorkflowError):
    """The serialized result would be larger than the configured limit (the server's 413)."""

    http_status = 413
