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

Every writer of depthgraph goes through this module (a test greps the package for writes made
anywhere else): :func:`write_file` writes one file whole (temporary name, then rename; never
through a link, never outside the root in force), :func:`replace_folder` moves a finished
folder into place, :func:`read_user_file`/:func:`copy_user_file` read what a user names without
following a link, and :class:`OutputNames` gives each input its own output name (two inputs never
share one, whatever the case or the extension, and no name is a folder holding another's).
"""

from __future__ import annotations

import contextvars
import os
import shutil
import stat
import uuid
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable, Iterator

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


def check_target(path: str | os.PathLike[str], prop: str = "output_directory") -> Path:
    """``path`` checked as a file about to be written: a plain name (or nothing yet) in a folder
    that lies inside the output root in force. Streaming writers (video, JSON Lines) call it
    before opening; :func:`write_file` calls it for every file."""
    path = Path(path)
    folder = path.parent.resolve(strict=True)
    root = current_root()
    if root is not None and not _inside(folder, root):
        raise StepInputError(f"{path.name!r} would be written outside the output root "
                             "(through a link or an absolute path)", property=prop)
    return output_file(folder, path.name, prop)


def write_file(path: str | os.PathLike[str], data: bytes | Callable[[Path], None],
               prop: str = "output_directory", mode: int = 0o644) -> Path:
    """Write one file whole: checked (:func:`check_target`), written under a temporary name in
    the same folder (created exclusively, never through a link), then renamed over ``path``.

    ``data`` is the bytes, or a function that writes the temporary path given to it (for
    libraries that write files themselves). A failed write leaves nothing behind.
    """
    target = check_target(path, prop)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        handle = os.open(temporary, flags, mode)
        with os.fdopen(handle, "wb") as out:
            if isinstance(data, (bytes, bytearray, memoryview)):
                out.write(data)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            data(temporary)
        if os.path.islink(temporary):
            raise StepInputError(f"{target.name!r}: the temporary file was replaced by a link",
                                 property=prop)
        os.replace(temporary, target)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
    return target


def replace_folder(temporary: Path, directory: Path) -> None:
    """Rename the finished folder ``temporary`` to ``directory`` (an earlier one is replaced,
    and put back if the rename fails). Refuses a link or a file at ``directory`` and a target
    outside the output root."""
    temporary, directory = Path(temporary), Path(directory)
    root = current_root()
    if root is not None and not _inside(directory.parent.resolve(strict=True), root):
        raise OSError(f"{directory.name} would be outside the output root")
    if directory.is_symlink() or (os.path.lexists(directory) and not directory.is_dir()):
        raise OSError(f"{directory.name} exists and is not a folder")
    if not directory.exists():
        os.rename(temporary, directory)
        return
    old = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(directory, old)
    try:
        os.rename(temporary, directory)
    except OSError:
        os.rename(old, directory)  # put the earlier results back
        raise
    shutil.rmtree(old, ignore_errors=True)


class UserFileError(OSError):
    """A file the user named that is not read (a link, not a plain file, unreadable)."""


def _open_user_file(path: Path) -> int:
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if os.path.islink(path):
            raise UserFileError(f"{path}: is a symbolic link; give the file itself") from None
        raise UserFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise UserFileError(f"{path}: is not a plain file")
    return handle


def read_user_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a plain file the user named; a symbolic link is refused, not followed."""
    with os.fdopen(_open_user_file(Path(path)), "rb") as handle:
        return handle.read()


def copy_user_file(source: str | os.PathLike[str], target: str | os.PathLike[str],
                   prop: str = "output") -> Path:
    """Copy a plain file the user named (never through a link) to ``target`` via
    :func:`write_file`; large files are streamed."""
    with os.fdopen(_open_user_file(Path(source)), "rb") as src:

        def copy(temporary: Path) -> None:
            with open(temporary, "r+b") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)

        return write_file(target, copy, prop=prop)


class OutputNames:
    """Output names for a run's inputs: one per input, never shared.

    Two names clash when they are equal ignoring case (``A.png`` and ``a.png`` on a
    case-insensitive disk) and the extension is not part of the name (``a.png`` and ``a.jpg``
    both give ``a``); a name that is a folder of another (``a`` and ``a/b``) clashes too, since
    replacing ``a`` would remove ``a/b``. A clash gets ``_2``, ``_3``... on its last part.
    """

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._folders: set[str] = set()

    def _clash(self, name: str) -> int | None:
        """None when ``name`` is free; else how many leading parts to rename (all: the name
        itself is taken or is a folder of a taken name; fewer: a folder of it is taken)."""
        key = name.lower()
        parts = key.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in self._used:
                return i
        if key in self._used or key in self._folders:
            return len(parts)
        return None

    def claim(self, name: str) -> str:
        """``name`` (a ``/``-separated relative name, without extension), or a free variant."""
        parts = name.split("/")
        candidate, counter = name, 1
        while (depth := self._clash(candidate)) is not None:
            counter += 1
            renamed = list(parts)
            renamed[depth - 1] = f"{parts[depth - 1]}_{counter}"
            candidate = "/".join(renamed)
        key = candidate.lower()
        self._used.add(key)
        pieces = key.split("/")
        self._folders.update("/".join(pieces[:i]) for i in range(1, len(pieces)))
        return candidate


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


__all__ = ["OutputNames", "UserFileError", "check_target", "copy_user_file", "current_root",
           "output_directory", "output_file", "read_user_file", "replace_folder", "shown_path",
           "write_file", "writing_under"]
