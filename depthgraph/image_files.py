"""Finding image files for the CLI: :func:`collect_images` turns paths, folders and glob
patterns into a sorted list of files.

Reading and decoding live in :mod:`depthgraph.image_decoding` (one decoder for the CLI, the
server, the engine and the model); :func:`read_image`, :func:`decode_image_bytes`,
:func:`image_size_from_header`, :func:`to_bgr_uint8` and :class:`ImageReadError` are re-exported
here for the callers that import them from this module.
"""

from __future__ import annotations

import glob
from pathlib import Path

from depthgraph.image_decoding import (
    ImageReadError,
    ImageTooLargeError,
    decode_image_bytes,
    image_size_from_header,
    read_image,
    to_bgr_uint8,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "ImageTooLargeError",
    "collect_images",
    "decode_image_bytes",
    "image_size_from_header",
    "read_image",
    "to_bgr_uint8",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")


def _is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def collect_images(specs: list[str], recursive: bool = False) -> list[Path]:
    """Expand files, folders (their image files) and glob patterns, keeping order, no duplicates.

    Raises :class:`ImageReadError` for a path that does not exist or a pattern/folder that
    matches no image.
    """
    found: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(path)

    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(p for p in path.glob(pattern) if _is_image_file(p))
            if not files:
                raise ImageReadError(
                    f"{spec}: folder holds no image files ({', '.join(IMAGE_EXTENSIONS)})"
                )
            for file in files:
                add(file)
        elif path.is_file():
            add(path)
        elif glob.has_magic(spec):
            files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if _is_image_file(Path(p)))
            if not files:
                raise ImageReadError(f"{spec}: pattern matches no image file")
            for file in files:
                add(file)
        else:
            raise ImageReadError(f"{spec}: no such file or folder")
    return found

