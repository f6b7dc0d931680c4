"""The one place that decides where a sink block may write a file.

Whoever runs workflows written by someone else sets an *output root*: the server its
``--output-root``, ``depthgraph run``/``predict`` their ``-o`` folder. Inside :func:`writing_under`
every folder a sink asks for must then be

- a relative path (no absolute path, no ``~``, no drive letter, no NUL),
- without ``..`` parts,
- and, once created and every symbolic link resolved, still inside the root;

and every file it writes must be a plain name in that folder that is not already a link, a
folder, a device (``/dev/null``) or any other special file. Errors are :class:`StepInputError`
(HTTP 400) naming the property and what was asked, never the server's absolute paths.

Without an output root (the Python API, where the caller owns the process) a folder is taken as
given, but the file checks (no special files, no links) still apply.
"""

from __future__ import annotations

import contextvars
import os
import stat
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterator

from depthgraph.engine.errors import StepInputError

_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar("depthgraph_output_root",
                                                                    default=None)
#: how the root is shown in paths given back (None: paths relative to the root itself)
_SHOWN_AS: contextvars.ContextVar[str | None] = contextvars.ContextVar("depthgraph_output_shown",
                                                                      default=None)


def current_root() -> Path | None:
    """The output root in force in this context (None: no confinement)."""
    return _ROOT.get()


@contextmanager
def writing_under(root: str | os.PathLike[str] | None,
                  shown_as: str | os.PathLike[str] | None = None) -> Iterator[Path | None]:
    """Confine sinks run inside this block to ``root`` (created if missing); None lifts it.

    Paths given back (:func:`shown_path`) are relative to the root, or start with ``shown_as``
    when given (the CLI: the ``-o`` folder as the user typed it, so a path in ``results.json``
    opens from where the command ran; the server gives none and never shows its own paths).
    """
    resolved = None
    if root is not None:
        path = Path(root).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        resolved = path.resolve(strict=True)
        if not resolved.is_dir():
            raise NotADirectoryError(f"output root {root} is not a folder")
    token = _ROOT.set(resolved)
    shown_token = _SHOWN_AS.set(None if shown_as is None else os.fspath(shown_as))
    try:
        yield resolved
    finally:
        _SHOWN_AS.reset(shown_token)
        _ROOT.reset(token)


def _refuse(prop: str, requested: str, why: str) -> StepInputError:
    return StepInputError(f"{requested!r} {why}", property=prop)


def _check_relative(requested: str, prop: str) -> PurePosixPath:
    if "\x00" in requested:
        raise _refuse(prop, requested.replace("\x00", "\\0"), "holds a NUL character")
    if not requested.strip():
        return PurePosixPath(".")
    if requested.startswith("~"):
        raise _refuse(prop, requested, "starts with '~'; give a folder relative to the output root")
    if PurePosixPath(requested).is_absolute() or PureWindowsPath(requested).drive or \
            requested.startswith("\\"):
        raise _refuse(prop, requested, "is an absolute path; give a folder relative to the "
                      "output root")
    parts = PurePosixPath(requested.replace("\\", "/")).parts
    if ".." in parts:
        raise _refuse(prop, requested, "contains '..'; give a folder inside the output root")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _make_confined(root: Path, relative: PurePosixPath, requested: str, prop: str) -> Path:
    """Create ``root/relative`` one part at a time; never create anything outside ``root``."""
    current = root
    for part in relative.parts:
        if part == ".":
            continue
        candidate = current / part
        if not os.path.lexists(candidate):
            try:
                candidate.mkdir()
            except FileExistsError:
                pass  # made by someone else meanwhile; checked below
        resolved = candidate.resolve(strict=True)
        if not _inside(resolved, root):
            raise _refuse(prop, requested, "leads out of the output root through a symbolic link")
        if not resolved.is_dir():
            raise _refuse(prop, f"{requested} (under the output root)",
                          "goes through something that is not a folder")
        current = resolved
    return current


def output_directory(requested: str, prop: str = "output_directory") -> Path:
    """The folder a sink asked for, created, resolved and checked (see the module docstring)."""
    requested = str(requested)
    root = current_root()
    try:
        if root is not None:
            return _make_confined(root, _check_relative(requested, prop), requested, prop)
        if "\x00" in requested:
            raise _refuse(prop, requested.replace("\x00", "\\0"), "holds a NUL character")
        directory = Path(requested).expanduser()
        directory.mkdir(parents=True, exist_ok=True)
        resolved = directory.resolve(strict=True)
    except StepInputError:
        raise
    except FileExistsError:
        raise _refuse(prop, requested, "exists and is not a folder") from None
    except NotADirectoryError:
        raise _refuse(prop, requested, "goes through something that is not a folder") from None
    except PermissionError:
        raise _refuse(prop, requested, "cannot be created here (permission denied)") from None
    except OSError as exc:
        raise _refuse(prop, requested, f"cannot be created ({exc.strerror or type(exc).__name__})") from None
    if not resolved.is_dir():
        raise _refuse(prop, requested, "is not a folder")
    return resolved


def output_file(directory: Path, name: str, prop: str = "output_directory") -> Path:
    """``directory/name`` for a new or replaced plain file; refuses links and special files."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise StepInputError(f"file name {name!r} is not a plain file name", property=prop)
    path = directory / name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise StepInputError(f"cannot write {name!r}: {exc.strerror}", property=prop) from None
    if not stat.S_ISREG(info.st_mode):
        raise StepInputError(f"{name!r} already exists there and is not a plain file "
                             "(a link, folder or device); refusing to write it", property=prop)
    return path


def shown_path(path: Path) -> str:
    """``path`` as a client may see it: relative to the output root when one is in force (under
    the root's ``shown_as`` name when :func:`writing_under` was given one)."""
    root = current_root()
    if root is not None:
        try:
            relative = path.relative_to(root)
        except ValueError:
            pass
        else:
            shown_as = _SHOWN_AS.get()
            return (PurePosixPath(Path(shown_as).as_posix()) / relative.as_posix()).as_posix() \
                if shown_as is not None else relative.as_posix()
    return str(path)


__all__ = ["current_root", "output_directory", "output_file", "shown_path", "writing_under"]
