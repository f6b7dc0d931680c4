"""What a scale-out run reads and where each result goes: the plan, its keys, and resume.

Inputs are local files, folders and glob patterns (listed exactly as ``depthgraph run`` lists
them, :func:`depthgraph.image_files.collect_images`) or URIs that pyarrow's file systems read
(``s3://bucket/photos``, ``gs://...``, ``hdfs://...``, ``file:///...``; a folder, a file or a glob
pattern). Only names are listed here, on the driver; the bytes are read later by Ray tasks,
a batch at a time.

Each input gets a *key*: its path relative to the folder it was found in (the folder given, the
fixed part of a glob, or the file's own folder), without the extension, each part made
file-name-safe with :func:`depthgraph.output_writer.safe_name`. Its results go to
``OUT/<key>/``. For a flat folder the key is the file's stem, as in ``depthgraph run``; two
inputs with the same key (``a.png`` and ``a.jpg``) get ``a`` and ``a_2`` in listing order, as
there. A key never starts with ``.`` or ``_`` (``safe_name`` strips them), so the run's own files
(``_rows.parquet``) and hidden temporary folders cannot collide with a result.

An input is *done* when ``OUT/<key>/results.json`` exists: results folders are written whole
and renamed into place (:mod:`depthgraph.batch.folders`), so a folder that exists is complete.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass
from urllib.parse import quote, unquote
from pathlib import Path, PurePosixPath

from depthgraph.output_root import OutputNames
from depthgraph.image_files import IMAGE_EXTENSIONS, ImageReadError, collect_images
from depthgraph.output_writer import RESULTS_FILE, safe_name


@dataclass(frozen=True)
class InputImage:
    """One image of a run: as the user named it, what a worker opens, and its output key."""

    input: str  #: shown in rows and results.json: the path as listed, or the URI
    source: str  #: an absolute local path, or a URI
    key: str  #: output folder relative to OUT, POSIX separators, unique within the run


def is_uri(spec: str) -> bool:
    """``scheme://...`` (with a scheme of two letters or more: ``C:\\`` is a Windows path)."""
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").isalnum()


def _is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def key_for(relative: PurePosixPath) -> str:
    """A relative path -> its output key (folders kept, extension dropped, parts made safe)."""
    parts = [safe_name(p) for p in relative.parent.parts if p not in ("", ".")]
    parts.append(safe_name(relative.stem))
    return "/".join(parts)


def _glob_base(spec: str) -> str:
    """The fixed folder in front of a glob pattern's first wildcard."""
    parts = PurePosixPath(spec.replace("\\", "/")).parts
    fixed: list[str] = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return str(PurePosixPath(*fixed)) if fixed else "."


def _local(spec: str, recursive: bool) -> list[tuple[str, str, PurePosixPath]]:
    path = Path(spec).expanduser()
    if path.is_dir():
        base = path
    elif path.is_file():
        base = path.parent
    else:
        base = Path(_glob_base(str(path)))
    found = []
    for file in collect_images([spec], recursive=recursive):
        try:
            relative = file.relative_to(base)
        except ValueError:  # not under the fixed part (should not happen): key by its name
            relative = Path(file.name)
        found.append((str(file), os.path.abspath(file), PurePosixPath(relative.as_posix())))
    return found


#: seconds a remote listing may retry before it fails (a bucket out of reach fails, not hangs)
REMOTE_RETRY_ENV = "DEPTHGRAPH_REMOTE_RETRY_S"


_URI_SAFE = "/:@!$&'()*+,;=~"


def _filesystem(scheme: str, base_uri: str, rest: str) -> tuple[object, str]:
    import pyarrow.fs as pafs

    if scheme in ("gs", "gcs"):  # bounded retries: without network it fails instead of hanging
        from datetime import timedelta

        retry = timedelta(seconds=float(os.environ.get(REMOTE_RETRY_ENV, "20")))
        return pafs.GcsFileSystem(retry_time_limit=retry), unquote(rest)
    return pafs.FileSystem.from_uri(base_uri)


def _remote(spec: str, recursive: bool) -> list[tuple[str, str, PurePosixPath]]:
    import pyarrow.fs as pafs

    scheme, _, rest = spec.partition("://")
    pattern = None
    if glob.has_magic(rest):
        fixed = _glob_base(rest)
        pattern = rest[len(fixed):].lstrip("/")
        rest, recursive = fixed, True
    rest = unquote(rest).rstrip("/")  # written plainly or percent-escaped: the same name
    # pyarrow reads URIs: spaces and non-ASCII names are percent-escaped in what it is given
    base_uri = f"{scheme}://{quote(rest, safe=_URI_SAFE)}"
    shown_base = f"{scheme}://{rest}"
    try:
        filesystem, base_path = _filesystem(scheme.lower(), base_uri, rest)
        info = filesystem.get_file_info(base_path)
        if info.type == pafs.FileType.File and pattern is None:
            name = PurePosixPath(base_path).name
            return [(spec, base_uri, PurePosixPath(name))] if _is_image_name(name) else []
        if info.type != pafs.FileType.Directory:
            raise ImageReadError(f"{spec}: no such file or folder")
        selector = pafs.FileSelector(base_path, recursive=recursive)
        entries = filesystem.get_file_info(selector)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises OSError, ArrowInvalid...
        raise ImageReadError(f"{spec}: cannot list ({' '.join(str(exc).split())})") from None
    found = []
    prefix = base_path.rstrip("/")
    for entry in sorted(entries, key=lambda e: e.path):
        if entry.type != pafs.FileType.File or not _is_image_name(entry.path):
            continue
        relative = PurePosixPath(entry.path[len(prefix):].lstrip("/"))
        if pattern is not None and not fnmatch.fnmatchcase(str(relative), pattern):
            continue
        found.append((f"{shown_base}/{relative}",
                      f"{base_uri}/{quote(str(relative), safe=_URI_SAFE)}", relative))
    if not found:
        raise ImageReadError(f"{spec}: {'pattern matches' if pattern else 'folder holds'} "
                             f"no image file ({', '.join(IMAGE_EXTENSIONS)})")
    return found


def list_inputs(specs: list[str], recursive: bool = False) -> list[InputImage]:
    """Paths, folders, globs and URIs -> the run's images in order, each with a unique key.

    Raises :class:`~depthgraph.image_files.ImageReadError` naming a spec that matches nothing.
    """
    items: list[InputImage] = []
    seen: set[str] = set()
    used = OutputNames()  # 'a' and 'a/b' never both: replacing a/ would remove a/b/
    for spec in specs:
        listed = _remote(spec, recursive) if is_uri(spec) else _local(spec, recursive)
        for shown, source, relative in listed:
            if source in seen:
                continue
            seen.add(source)
            items.append(InputImage(input=shown, source=source, key=used.claim(key_for(relative))))
    return items


def is_done(output: Path, item: InputImage) -> bool:
    """True when ``item``'s results folder is complete (holds its results.json)."""
    return (Path(output) / item.key / RESULTS_FILE).is_file()


def split_done(items: list[InputImage], output: Path,
               overwrite: bool = False) -> tuple[list[InputImage], list[InputImage]]:
    """(to run, already done); with ``overwrite`` everything is run again."""
    if overwrite:
        return list(items), []
    todo: list[InputImage] = []
    done: list[InputImage] = []
    for item in items:
        (done if is_done(output, item) else todo).append(item)
    return todo, done
