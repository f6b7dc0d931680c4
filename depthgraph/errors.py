"""The roots of depthgraph's exceptions, below every layer (no depthgraph imports).

Callers classify an error by its class, never by its name:

- :class:`DepthgraphError`: the message is written for the user (one line that says what was
  wrong and where), so a front end prints it as it is, without the class name.
- :class:`FatalError`: an error that would fail every input of a run alike (missing weights, a
  plugin that cannot be loaded): a batch stops at once instead of repeating it per image.
  :func:`is_fatal` also counts Python's ``ImportError`` and ``MemoryError``, and looks through
  the chain of causes (a block's error arrives wrapped in the step's).
"""

from __future__ import annotations


class DepthgraphError(Exception):
    """An error whose message is meant for the user as it is."""


class FatalError(DepthgraphError):
    """An error that would fail every input of a run the same way; a batch run stops."""


#: Python's own errors that no other input would avoid.
_FATAL_BUILTINS: tuple[type[BaseException], ...] = (ImportError, MemoryError)


def is_fatal(exc: BaseException) -> bool:
    """True when ``exc``, or an error it was raised from, is fatal (see :class:`FatalError`)."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        if isinstance(seen, (FatalError, *_FATAL_BUILTINS)):
            return True
        visited.add(id(seen))
        seen = seen.__cause__ or seen.__context__
    return False


def is_written_for_the_user(exc: BaseException) -> bool:
    """True when the message of ``exc`` can be shown without its class name."""
    return isinstance(exc, DepthgraphError)


__all__ = ["DepthgraphError", "FatalError", "is_fatal", "is_written_for_the_user"]
