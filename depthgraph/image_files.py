"""Finding, reading and sizing image files for the CLI and the server (numpy + OpenCV only).

- :func:`collect_images` turns paths, folders and glob patterns into a sorted list of files.
- :func:`read_image` / :func:`decode_image_bytes` give BGR uint8 HxWx3 arrays or raise
  :class:`ImageReadError` naming the file (or input) and what was wrong.
- :func:`image_size_from_header` reads width and height from the first bytes of PNG, JPEG, GIF,
  BMP and WebP files without decoding pixels, so a server can refuse decompression bombs.
"""

from __future__ import annotations

import glob
import struct
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")


class ImageReadError(Exception):
    """An image could not be found or decoded; the message names the source."""


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


def decode_image_bytes(data: bytes, source: str, max_pixels: int | None = None) -> np.ndarray:
    """Decode encoded image bytes to BGR uint8 HxWx3; ``source`` names them in errors.

    With ``max_pixels`` the size is read from the header first and images larger than that are
    refused before their pixels are decoded; formats whose header cannot be read cheaply (TIFF,
    for one) are then refused too, since only decoding would tell their size.
    """
    import cv2

    if not data:
        raise ImageReadError(f"{source}: empty image data")
    if max_pixels is not None:
        size = image_size_from_header(data)
        if size is None:
            raise ImageReadError(
                f"{source}: not a PNG, JPEG, GIF, BMP or WebP image (the formats whose size can "
                "be checked before decoding)"
            )
        if size[0] * size[1] > max_pixels:
            raise ImageReadError(
                f"{source}: image is {size[0]}x{size[1]} = {size[0] * size[1]} pixels, "
                f"more than the limit of {max_pixels}"
            )
    array = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(array, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageReadError(f"{source}: not a decodable image ({len(data)} bytes)")
    image = to_bgr_uint8(image)
    if max_pixels is not None and image.shape[0] * image.shape[1] > max_pixels:
        raise ImageReadError(
            f"{source}: image is {image.shape[1]}x{image.shape[0]} pixels, more than the limit "
            f"of {max_pixels}"
        )
    return image


def to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """Grey, BGRA and 16-bit images as BGR uint8 HxWx3."""
    import cv2

    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image[:, :, :3])


def read_image(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as BGR uint8 HxWx3 (works with any path, unicode included)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    return decode_image_bytes(data, str(path), max_pixels=max_pixels)


# --- header parsing ------------------------------------------------------------------------------


def image_size_from_header(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header of PNG, JPEG, GIF, BMP or WebP bytes; else None."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", data[6:10])
            return int(width), int(height)
        if data[:2] == b"BM" and len(data) >= 26:
            width, height = struct.unpack("<ii", data[18:26])
            return abs(int(width)), abs(int(height))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


# JPEG start-of-frame markers (baseline, progressive, lossless, ...); not DHT/JPG/DAC.
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        length = struct.unpack(">H", data[index + 2 : index + 4])[0]
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return int(width), int(height)
        index += 2 + length
    return None
