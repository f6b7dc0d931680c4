"""The visual workflow editor: its page, static files and the example workflows menu.

Routes (added to the app by :func:`depthgraph.server.app.create_app`):

- ``GET /`` and ``GET /editor``: the editor page;
- ``GET /editor/static/{path}``: the page's scripts and styles (``static/`` in this package),
  gzip-compressed when the browser accepts it, with an ETag; vendored files (versioned folder
  names) are cached for a year, our own files are revalidated on every load;
- ``GET /editor/examples``: the example workflows found (name and file name);
- ``GET /editor/examples/{name}``: one of them, as JSON.

Example workflows are read from ``$DEPTHGRAPH_EDITOR_EXAMPLES`` when that is set, else from the
``examples/workflows/`` folder of the source checkout this package runs from (an editable or
in-place install); a pip-installed wheel has no examples folder, and the menu is then empty.
They hold nothing secret and are served without an API key, like the page itself.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from depthgraph.server.errors import ServerError

STATIC_DIR = Path(__file__).resolve().parent / "static"
EXAMPLES_ENV = "DEPTHGRAPH_EDITOR_EXAMPLES"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_COMPRESSIBLE = {".html", ".js", ".mjs", ".css", ".json", ".svg", ".md", ".txt", ""}
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
          ".html": "text/html", ".json": "application/json", ".svg": "image/svg+xml"}

router = APIRouter(include_in_schema=False)


def examples_dir() -> Path | None:
    """The folder of example workflows, or None when there is none."""
    configured = os.environ.get(EXAMPLES_ENV)
    if configured:
        return Path(configured).expanduser()
    candidate = Path(__file__).resolve().parents[2] / "examples" / "workflows"
    return candidate if candidate.is_dir() else None


TITLES_FILE = "titles.toml"


def _toml_loads(text: str) -> dict[str, Any]:
    """The standard library's TOML reader (Python 3.11+), else tomli (the server extra's backport)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def _titles(folder: Path) -> dict[str, Any]:
    """``titles.toml`` of the examples folder: name -> {title, description}; {} when absent or bad."""
    try:
        text = (folder / TITLES_FILE).read_text(encoding="utf-8")
        data = _toml_loads(text)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def list_examples() -> list[dict[str, str]]:
    """``[{"name", "file", "title", "description"}]`` for each ``*.json`` in :func:`examples_dir`,
    sorted by name; title and description come from the folder's ``titles.toml`` (the name and
    "" when it has none)."""
    folder = examples_dir()
    if folder is None or not folder.is_dir():
        return []
    titles = _titles(folder)
    found = []
    for p in sorted(folder.glob("*.json")):
        if not (p.is_file() and _NAME.match(p.name)):
            continue
        meta = titles.get(p.stem, {})
        found.append({"name": p.stem, "file": p.name, "title": str(meta.get("title") or p.stem)[:120],
                      "description": str(meta.get("description") or "")[:300]})
    return found


@lru_cache(maxsize=256)
def _encoded(path: str, mtime_ns: int, size: int) -> tuple[bytes, bytes | None, str]:
    """(raw, gzip or None, etag) of a static file; cached per modification time."""
    raw = Path(path).read_bytes()
    packed = None
    if Path(path).suffix in _COMPRESSIBLE and len(raw) > 512:
        packed = gzip.compress(raw, compresslevel=9, mtime=0)
    etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    return raw, packed, etag


def _static_response(request: Request, file: Path, cache_control: str) -> Response:
    stat = file.stat()
    raw, packed, etag = _encoded(str(file), stat.st_mtime_ns, stat.st_size)
    headers = {"Cache-Control": cache_control, "ETag": etag, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff"}
    media_type = _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "text/plain"
    if media_type.startswith("text/") or media_type == "application/json":
        media_type += "; charset=utf-8"
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    accepts_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
    if packed is not None and accepts_gzip and len(packed) < len(raw):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type=media_type, headers=headers)
    return Response(raw, media_type=media_type, headers=headers)


def _static_file(relative: str) -> Path:
    """The file under STATIC_DIR named by ``relative``; 404 for anything else."""
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p in (".", "..") or not _NAME.match(p) or len(p) > 255 for p in parts):
        raise ServerError(404, f"no editor file '{relative[:80]}'", "NotFound")
    shown = relative if len(relative) <= 80 else relative[:77] + "..."
    try:
        file = STATIC_DIR.joinpath(*parts).resolve()
        found = STATIC_DIR in file.parents and file.is_file()
    except (OSError, ValueError):  # a name too long for the file system, for one: not a file
        found = False
    if not found:
        raise ServerError(404, f"no editor file '{shown}'", "NotFound")
    return file


@router.get("/")
@router.get("/editor")
async def editor_page(request: Request) -> Response:
    """The editor page."""
    return _static_response(request, STATIC_DIR / "index.html", "no-cache")


@router.get("/editor/static/{path:path}")
async def editor_static(path: str, request: Request) -> Response:
    """A script, style or vendored file of the editor."""
    file = _static_file(path)
    vendored = file.parent != STATIC_DIR and STATIC_DIR / "vendor" in file.parents
    cache = "public, max-age=31536000, immutable" if vendored else "no-cache"
    return _static_response(request, file, cache)


@router.get("/editor/examples")
async def editor_examples() -> dict[str, Any]:
    """The example workflows the editor's menu offers."""
    return {"examples": list_examples()}  # never the folder: no path of the server is shown


@router.get("/editor/examples/{name}")
async def editor_example(name: str) -> JSONResponse:
    """One example workflow (by name, with or without ``.json``)."""
    wanted = name[:-5] if name.endswith(".json") else name
    match = next((e for e in list_examples() if e["name"] == wanted), None)
    folder = examples_dir()
    if match is None or folder is None:
        raise ServerError(404, f"no example workflow '{name}'", "NotFound", "example")
    try:
        definition = json.loads((folder / match["file"]).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ServerError(422, f"example '{match['file']}' cannot be read as JSON "
                          f"({type(exc).__name__})", "InvalidExample", "example") from None
    return JSONResponse(definition, headers={"Cache-Control": "no-cache"})
