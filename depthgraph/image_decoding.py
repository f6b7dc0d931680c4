"""The one place where depthgraph turns image files, bytes and arrays into BGR uint8 pixels.

The CLI, the server, the workflow engine (``Workflow.run`` inputs) and the model
(``DepthAnything3.predict``) all go through this module, so an image gives the same pixels
whichever way it comes in.

- :func:`decode_image_bytes` / :func:`read_image`: encoded bytes / a file -> BGR uint8 HxWx3.
  Before anything is decoded, the width and height are read from the header
  (:func:`image_size_from_header`) and checked against a pixel limit (a decompression bomb is
  refused without being expanded), and the bytes are checked for a truncated file.
- :func:`to_bgr_uint8`: an in-memory array (decoded by us or handed in by a user) -> BGR uint8.
- :func:`pil_to_bgr_uint8`: a PIL image -> BGR uint8.

Pixel rules (the same for files and arrays):

- ``uint8``: as is.
- ``uint16`` (16-bit PNG/TIFF): the nearest 8-bit value, ``round(v * 255 / 65535)``, computed
  exactly in integers as ``(v + 128) // 257``. An 8-bit value stored as 16 bits (``v * 257``)
  comes back unchanged; 65280 becomes 254, 65535 becomes 255.
- ``bool``: ``False`` -> 0, ``True`` -> 255.
- float: finite values only (NaN/inf are refused); if the largest value is at most 1 the image is
  taken as ``[0, 1]`` and scaled by 255, else as ``[0, 255]``; then rounded (halves up) and
  clipped to 0..255.
- any other dtype is refused.
- shapes: HxW and HxWx1 (grey, repeated to three channels), HxWx3 (BGR), HxWx4 (BGRA, alpha
  dropped). An image with no pixels is refused.

Pixel limit: ``max_pixels`` given explicitly wins (``None`` = no limit); by default the limit is
``$DEPTHGRAPH_MAX_IMAGE_PIXELS`` (``0`` or ``none`` = no limit), else
:data:`DEFAULT_MAX_PIXELS` (40 000 000, the same as the server's default). Formats whose size this
module reads from the header: PNG, JPEG, GIF, BMP, WebP, TIFF (and BigTIFF), PNM (PBM/PGM/PPM).
Any other format is refused while a limit is in force, since only decoding would tell its size.

numpy and OpenCV only (OpenCV imported when something is decoded).
"""

from __future__ import annotations

import codecs
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from depthgraph.decoder_limits import (  # noqa: F401 (public here too)
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    default_max_pixels,
    set_pillow_limit,
)
from depthgraph.errors import DepthgraphError

HEADER_FORMATS = "PNG, JPEG, GIF, BMP, WebP, TIFF or PNM"


class ImageReadError(ValueError, DepthgraphError):
    """An image could not be read or decoded; the message names the source and the reason."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the limit in force (found from its header)."""


class AmbiguousHeaderError(ImageReadError):
    """A header that decoders may read two ways (a size given twice, two frames headers)."""


class _Default:
    def __repr__(self) -> str:  # pragma: no cover - shown only in signatures
        return "DEFAULT"


DEFAULT: Any = _Default()


def _resolve_limit(max_pixels: Any) -> int | None:
    return default_max_pixels() if max_pixels is DEFAULT else max_pixels


# --- bytes and files -----------------------------------------------------------------------------


def _looks_like_text(data: bytes) -> bool:
    """True when the first bytes are UTF-8 text without control bytes (no image format is)."""
    head = data[:4096]
    try:  # not final: the cut may have split a multi-byte character (kept back, not an error)
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return bool(text) and all(c.isprintable() or c in "\t\r\n\f" for c in text)


def check_pixel_limit(data: bytes, source: str, max_pixels: Any = DEFAULT) -> tuple[int, int] | None:
    """Read (width, height) from the header and refuse the image if it exceeds the limit.

    Returns the size (None when there is no limit and the header could not be read). Raises
    :class:`ImageTooLargeError` above the limit and :class:`ImageReadError` when a limit is in
    force but the size cannot be read from the header.
    """
    limit = _resolve_limit(max_pixels)
    try:
        size = image_size_from_header(data)
    except AmbiguousHeaderError as error:
        raise AmbiguousHeaderError(f"{source}: {error}") from None
    if limit is None:
        return size
    if size is None and _looks_like_text(data):
        raise ImageReadError(f"{source}: not a decodable image (text, not a {HEADER_FORMATS} file)")
    if size is None:
        raise ImageReadError(
            f"{source}: not a decodable image (not a {HEADER_FORMATS} file, the formats whose "
            f"size can be checked before decoding; set {MAX_PIXELS_ENV}=0 to decode others "
            "without a pixel limit)"
        )
    check_size(size[0], size[1], source, limit)
    return size


def check_size(width: int, height: int, source: str, max_pixels: Any = DEFAULT) -> None:
    """Refuse a ``width`` x ``height`` image or video frame above the pixel limit.

    The one pixel gate: images (from their header), video streams (from the size they declare,
    before a frame is decoded) and decoded frames all go through it.
    """
    limit = _resolve_limit(max_pixels)
    if limit is not None and width * height > limit:
        raise ImageTooLargeError(
            f"{source}: image is {width}x{height} = {width * height} pixels, more than the limit "
            f"of {limit}"
        )


def decode_image_bytes(data: bytes, source: str, max_pixels: Any = DEFAULT) -> np.ndarray:
    """Decode encoded image bytes to BGR uint8 HxWx3; ``source`` names them in errors.

    The pixel limit is checked from the header before decoding (see the module docstring for
    ``max_pixels``); truncated files are refused.
    """
    import cv2

    if not data:
        raise ImageReadError(f"{source}: empty image data")
    check_pixel_limit(data, source, max_pixels)
    truncated = _truncation(data)
    if truncated:
        raise ImageReadError(f"{source}: truncated image file ({truncated}; {len(data)} bytes)")
    set_pillow_limit(_resolve_limit(max_pixels))
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:  # OpenCV's own limit (OPENCV_IO_MAX_IMAGE_PIXELS) refused it
        if "CV_IO_MAX_IMAGE" in str(error):
            raise ImageTooLargeError(
                f"{source}: the decoder found more pixels than its limit "
                f"(OPENCV_IO_MAX_IMAGE_PIXELS={os.environ.get('OPENCV_IO_MAX_IMAGE_PIXELS', 'default')})"
            ) from None
        raise ImageReadError(f"{source}: not a decodable image ({len(data)} bytes)") from None
    if image is None:
        raise ImageReadError(f"{source}: not a decodable image, or a truncated one ({len(data)} bytes)")
    limit = _resolve_limit(max_pixels)
    if limit is not None and image.shape[0] * image.shape[1] > limit:
        # The header understated the size (a crafted file): refuse what was decoded.
        raise ImageTooLargeError(
            f"{source}: image is {image.shape[1]}x{image.shape[0]} pixels, more than the limit "
            f"of {limit}"
        )
    return to_bgr_uint8(image, source)


def read_image(path: str | Path, max_pixels: Any = DEFAULT) -> np.ndarray:
    """Read an image file as BGR uint8 HxWx3 (any path, unicode included)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    return decode_image_bytes(data, str(path), max_pixels=max_pixels)


# --- arrays --------------------------------------------------------------------------------------


def to_bgr_uint8(image: np.ndarray, source: str = "image") -> np.ndarray:
    """An HxW / HxWx1 / HxWx3 (BGR) / HxWx4 (BGRA) array as contiguous BGR uint8 HxWx3.

    dtype rules in the module docstring; raises :class:`ImageReadError` naming ``source``.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageReadError(
            f"{source}: image arrays must be HxW (grey), HxWx3 (BGR) or HxWx4 (BGRA); got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageReadError(f"{source}: the image is empty ({arr.shape[0]}x{arr.shape[1]} pixels)")
    arr = _to_uint8(arr, source)
    if arr.ndim == 2:
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    return np.ascontiguousarray(arr[:, :, :3])


def _to_uint8(arr: np.ndarray, source: str) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageReadError(f"{source}: the image contains NaN or infinite values")
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        return np.clip(np.floor(arr.astype(np.float64) * scale + 0.5), 0, 255).astype(np.uint8)
    raise ImageReadError(
        f"{source}: unsupported dtype {arr.dtype} (expected uint8, uint16, bool or float; "
        "convert with np.clip(a, 0, 255).astype(np.uint8))"
    )


def pil_to_bgr_uint8(image: Any, source: str = "image") -> np.ndarray:
    """A PIL image as BGR uint8 HxWx3 (converted to RGB by PIL first)."""
    rgb = np.asarray(image.convert("RGB"))
    return to_bgr_uint8(np.ascontiguousarray(rgb[:, :, ::-1]), source)


def is_pil_image(value: Any) -> bool:
    """True for PIL images (without importing PIL when it is not loaded)."""
    import sys

    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(value, pil.Image)


# --- truncated files -----------------------------------------------------------------------------


def _truncation(data: bytes) -> str | None:
    """Why the bytes look cut short (PNG, JPEG, WebP, BMP), else None.

    Only the container is walked (chunk lengths, markers); pixels are not decoded. Other formats
    are left to the decoder, which refuses truncated GIF, TIFF and PNM data.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        index = 8
        while index + 8 <= len(data):
            length = struct.unpack(">I", data[index : index + 4])[0]
            if data[index + 4 : index + 8] == b"IEND":
                return None
            index += 12 + length
        return "no PNG end chunk"
    if data[:2] == b"\xff\xd8":
        end, scan = data.rfind(b"\xff\xd9"), data.rfind(b"\xff\xda")
        return None if end > scan else "no JPEG end marker after the last scan"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        declared = 8 + int.from_bytes(data[4:8], "little")
        return None if len(data) >= declared else f"RIFF header declares {declared} bytes"
    if data[:2] == b"BM" and len(data) >= 34:
        offset, _, width, height, _, bits, compression = struct.unpack("<IIiiHHI", data[10:34])
        if compression in (0, 3) and bits:  # uncompressed rows
            needed = offset + ((bits * abs(width) + 31) // 32) * 4 * abs(height)
            return None if len(data) >= needed else f"BMP pixel rows need {needed} bytes"
    return None


# --- header parsing ------------------------------------------------------------------------------


def image_size_from_header(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header of PNG, JPEG, GIF, BMP, WebP, TIFF or PNM bytes; else None."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _gif_size(data)
        if data[:2] == b"BM" and len(data) >= 26:
            width, height = struct.unpack("<ii", data[18:26])
            return abs(int(width)), abs(int(height))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
        if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _tiff_size(data)
        if data[:1] == b"P" and data[1:2] in b"123456" and len(data) > 2:
            return _pnm_size(data)
    except AmbiguousHeaderError:
        raise
    except (struct.error, ValueError, IndexError):
        return None
    return None


def _gif_size(data: bytes) -> tuple[int, int]:
    """The logical screen of a GIF; its first frame must lie inside it (a decoder could size its
    buffer by either)."""
    width, height = struct.unpack("<HH", data[6:10])
    packed = data[10] if len(data) > 10 else 0
    index = 13 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)
    while index + 9 <= len(data):
        block = data[index]
        if block == 0x21:  # extension: label, then sub-blocks up to an empty one
            index += 2
            while index < len(data) and data[index]:
                index += data[index] + 1
            index += 1
        elif block == 0x2C:  # the first image descriptor
            left, top, frame_w, frame_h = struct.unpack("<HHHH", data[index + 1:index + 9])
            if left + frame_w > width or top + frame_h > height:
                raise AmbiguousHeaderError(
                    f"ambiguous GIF header: a {frame_w}x{frame_h} frame at ({left}, {top}) on a "
                    f"{width}x{height} screen")
            break
        else:
            break
    return int(width), int(height)


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
    size: tuple[int, int] | None = None
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
        if marker in (0xD9, 0xDA):  # end of image, start of scan: the frame header is behind us
            break
        length = struct.unpack(">H", data[index + 2 : index + 4])[0]
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            if size is not None and size != (int(width), int(height)):
                raise AmbiguousHeaderError(
                    f"ambiguous JPEG header: two frame headers ({size[0]}x{size[1]} and "
                    f"{width}x{height})"
                )
            size = int(width), int(height)
        index += 2 + length
    return size


_TIFF_WIDTH, _TIFF_LENGTH = 256, 257


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """ImageWidth and ImageLength of the first image directory (classic TIFF and BigTIFF)."""
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack(order + "H", data[2:4])[0] == 43
    if big:
        offset = struct.unpack(order + "Q", data[8:16])[0]
        count = struct.unpack(order + "Q", data[offset : offset + 8])[0]
        first, entry_size = offset + 8, 20
    else:
        offset = struct.unpack(order + "I", data[4:8])[0]
        count = struct.unpack(order + "H", data[offset : offset + 2])[0]
        first, entry_size = offset + 2, 12
    found: dict[int, int] = {}
    for i in range(min(count, 4096)):
        entry = data[first + i * entry_size : first + (i + 1) * entry_size]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag not in (_TIFF_WIDTH, _TIFF_LENGTH):
            continue
        if tag in found:  # our reader would keep one, libtiff the other
            name = "ImageWidth" if tag == _TIFF_WIDTH else "ImageLength"
            raise AmbiguousHeaderError(f"ambiguous TIFF header: the tag {name} appears twice")
        value_count = struct.unpack(order + ("Q" if big else "I"), entry[4:12] if big else entry[4:8])[0]
        if value_count != 1:
            raise AmbiguousHeaderError(f"ambiguous TIFF header: {value_count} values for one size")
        value = entry[12:] if big else entry[8:]
        if kind == 3:  # SHORT
            found[tag] = struct.unpack(order + "H", value[:2])[0]
        elif kind == 4:  # LONG
            found[tag] = struct.unpack(order + "I", value[:4])[0]
        elif kind == 16 and big:  # LONG8
            found[tag] = struct.unpack(order + "Q", value[:8])[0]
    if _TIFF_WIDTH in found and _TIFF_LENGTH in found:
        return int(found[_TIFF_WIDTH]), int(found[_TIFF_LENGTH])
    return None


def _pnm_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PBM/PGM/PPM header (comments and any whitespace allowed)."""
    tokens: list[bytes] = []
    index, head = 2, data[:4096]
    while len(tokens) < 2 and index < len(head):
        char = head[index : index + 1]
        if char == b"#":
            newline = head.find(b"\n", index)
            index = len(head) if newline < 0 else newline + 1
        elif char.isspace():
            index += 1
        else:
            end = index
            while end < len(head) and head[end : end + 1].isdigit():
                end += 1
            if end == index:
                return None
            tokens.append(head[index:end])
            index = end
    if len(tokens) < 2:
        return None
    return int(tokens[0]), int(tokens[1])
