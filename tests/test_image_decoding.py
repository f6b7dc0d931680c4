"""One decoder for every entry point: the same pixels, the same limits, the same refusals.

The four ways an image comes in (CLI file reads, server request bodies, ``Workflow.run`` inputs,
``DepthAnything3.predict``) must agree pixel for pixel, refuse truncated files, and check the
pixel limit from the header before anything is decoded.
"""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthgraph import image_decoding
from depthgraph.engine.errors import RuntimeInputError
from depthgraph.engine.serialization import decode_image
from depthgraph.image_decoding import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    ImageReadError,
    ImageTooLargeError,
    decode_image_bytes,
    default_max_pixels,
    image_size_from_header,
    read_image,
    to_bgr_uint8,
)
from depthgraph.models.depth_anything_v3.preprocess import to_rgb_uint8
from depthgraph.server.errors import ServerError
from depthgraph.server.inputs import check_image_inputs
from depthgraph.server.settings import ServerSettings


def _encode(image: np.ndarray, ext: str = ".png", params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok, ext
    return buf.tobytes()


def _decode_one(value, where, settings):
    """What the server does with one image value: check it (header, limits), hand the bytes on,
    and the engine's decoder decodes them when the workflow runs."""
    import types

    workflow = types.SimpleNamespace(image_input_names=["image"])
    checked = check_image_inputs(workflow, {"image": value}, settings)
    return decode_image(checked["image"], where)


def _all_entry_points(data: bytes, tmp_path: Path, name: str = "img.png") -> dict[str, np.ndarray]:
    """The BGR pixels each entry point makes of the same encoded bytes."""
    path = tmp_path / name
    path.write_bytes(data)
    b64 = base64.b64encode(data).decode()
    return {
        "cli": read_image(path),
        "server": _decode_one({"type": "base64", "value": b64}, "inputs.image", ServerSettings()).numpy_image,
        "workflow_path": decode_image(str(path)).numpy_image,
        "workflow_bytes": decode_image(data).numpy_image,
        "model": cv2.cvtColor(to_rgb_uint8(path), cv2.COLOR_RGB2BGR),
    }


def test_16_bit_rule_is_rounding_and_the_same_everywhere(tmp_path):
    values = np.array([[0, 128, 129, 385, 386], [65280, 65406, 65407, 65535, 257 * 77]], np.uint16)
    # round(v * 255 / 65535): 128 -> 0.498 -> 0, 129 -> 0.502 -> 1, 65280 -> 254.0, 65406 -> 254.498, 65407 -> 254.502
    expected = np.array([[0, 0, 1, 1, 2], [254, 254, 255, 255, 77]], np.uint8)
    np.testing.assert_array_equal(to_bgr_uint8(values)[:, :, 0], expected)
    got = _all_entry_points(_encode(values), tmp_path)
    for where, pixels in got.items():
        np.testing.assert_array_equal(pixels[:, :, 1], expected, err_msg=where)
    # in-memory arrays too: Workflow.run(image=array) and model.predict(array)
    np.testing.assert_array_equal(decode_image(values).numpy_image[:, :, 2], expected)
    np.testing.assert_array_equal(to_rgb_uint8(values)[:, :, 0], expected)


def test_16_bit_rule_matches_exact_rounding_for_every_value():
    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    exact = np.floor(every.astype(np.float64) * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(to_bgr_uint8(every)[:, :, 0], exact)


def test_colour_grey_and_alpha_files_agree_everywhere(tmp_path):
    rng = np.random.default_rng(3)
    bgr = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    bgra = np.dstack([bgr, rng.integers(0, 256, (9, 11), dtype=np.uint8)])
    grey = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    for image, expected in ((bgr, bgr), (bgra, bgr), (grey, np.repeat(grey[:, :, None], 3, 2))):
        for where, pixels in _all_entry_points(_encode(image), tmp_path).items():
            np.testing.assert_array_equal(pixels, expected, err_msg=f"{where} {image.shape}")


def test_array_rules_bool_float_grey_bgra():
    mask = np.array([[True, False], [False, True]])
    np.testing.assert_array_equal(to_bgr_uint8(mask)[:, :, 1], [[255, 0], [0, 255]])
    unit = np.array([[0.0, 0.5, 1.0], [0.002, 0.998, 0.25]], np.float32)
    np.testing.assert_array_equal(to_bgr_uint8(unit)[:, :, 0], [[0, 128, 255], [1, 254, 64]])
    wide = np.array([[0.0, 2.0, 254.5], [300.0, -4.0, 17.49]], np.float64)
    np.testing.assert_array_equal(to_bgr_uint8(wide)[:, :, 0], [[0, 2, 255], [255, 0, 17]])
    bgra = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = to_bgr_uint8(bgra)
    np.testing.assert_array_equal(out, bgra[:, :, :3])
    assert out.flags["C_CONTIGUOUS"]
    single = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    np.testing.assert_array_equal(to_bgr_uint8(single), np.repeat(single, 3, axis=2))
    # the engine and the model apply the same rules to arrays
    np.testing.assert_array_equal(decode_image(unit).numpy_image, to_bgr_uint8(unit))
    np.testing.assert_array_equal(to_rgb_uint8(mask), to_bgr_uint8(mask)[:, :, ::-1])


@pytest.mark.parametrize(
    "array, fragment",
    [
        (np.zeros((3, 3), np.int16), "unsupported dtype int16"),
        (np.array([[0.0, np.inf]], np.float32), "NaN or infinite"),
        (np.zeros((3, 3, 2), np.uint8), "got shape (3, 3, 2)"),
        (np.zeros((3,), np.uint8), "got shape (3,)"),
        (np.zeros((3, 0, 3), np.uint8), "empty (3x0 pixels)"),
    ],
)
def test_bad_arrays_are_refused_with_the_reason(array, fragment):
    with pytest.raises(ImageReadError) as info:
        to_bgr_uint8(array, "frame 4")
    assert str(info.value).startswith("frame 4: ") and fragment in str(info.value)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".gif", ".tiff", ".ppm"])
def test_truncated_files_are_refused_everywhere(ext, tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    data = _encode(image, ext)
    assert decode_image_bytes(data, "whole").shape == (40, 48, 3)
    cut = data[: len(data) - max(2, len(data) // 20)]
    path = tmp_path / f"cut{ext}"
    path.write_bytes(cut)
    with pytest.raises(ImageReadError, match="truncated|not a decodable"):
        read_image(path)
    with pytest.raises((ServerError, RuntimeInputError)) as server:
        _decode_one(base64.b64encode(cut).decode(), "inputs.image", ServerSettings())
    assert getattr(server.value, "status", getattr(server.value, "http_status", None)) == 400
    with pytest.raises(RuntimeInputError):
        decode_image(str(path))
    with pytest.raises(ValueError, match="image 0"):
        to_rgb_uint8(path)


def test_truncation_reasons_for_walked_containers():
    image = np.full((16, 16, 3), 90, np.uint8)
    png = _encode(image, ".png")
    assert "no PNG end chunk" in image_decoding._truncation(png[:-12])
    jpeg = _encode(image, ".jpg")
    assert "no JPEG end marker" in image_decoding._truncation(jpeg[:-2])
    webp = _encode(image, ".webp")
    assert "RIFF header declares" in image_decoding._truncation(webp[:-1])
    bmp = _encode(image, ".bmp")
    assert "BMP pixel rows need" in image_decoding._truncation(bmp[:-1])
    for whole in (png, jpeg, webp, bmp, png + b"trailing bytes"):
        assert image_decoding._truncation(whole) is None


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds one tiny IDAT: a decompression-bomb stand-in."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path, monkeypatch):
    bomb = _png_header_only(50_000, 50_000)  # 2.5 gigapixels declared in 100 bytes

    def no_decoding(*args, **kwargs):
        raise AssertionError("the decoder ran before the pixel limit was checked")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    for attempt in (
        lambda: read_image(path),
        lambda: decode_image_bytes(bomb, "bomb"),
        lambda: to_rgb_uint8(path),
    ):
        with pytest.raises(ValueError, match="50000x50000 = 2500000000 pixels, more than the limit of 40000000"):
            attempt()
    with pytest.raises(RuntimeInputError, match="more than the limit"):
        decode_image(str(path))
    with pytest.raises(ServerError) as info:
        _decode_one(base64.b64encode(bomb).decode(), "inputs.image", ServerSettings(max_image_pixels=1000))
    assert info.value.status == 413 and "more than the limit of 1000" in str(info.value)


def test_limit_boundary_and_explicit_values():
    data = _encode(np.zeros((23, 37, 3), np.uint8))
    assert decode_image_bytes(data, "x", max_pixels=37 * 23).shape == (23, 37, 3)
    with pytest.raises(ImageTooLargeError, match="37x23 = 851 pixels, more than the limit of 850"):
        decode_image_bytes(data, "x", max_pixels=37 * 23 - 1)
    assert decode_image_bytes(data, "x", max_pixels=None).shape == (23, 37, 3)


def test_limit_is_configurable_through_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    path.write_bytes(_encode(np.zeros((10, 20, 3), np.uint8)))
    assert default_max_pixels() == DEFAULT_MAX_PIXELS == 40_000_000
    monkeypatch.setenv(MAX_PIXELS_ENV, "199")
    assert default_max_pixels() == 199
    with pytest.raises(ImageTooLargeError, match="limit of 199"):
        read_image(path)
    with pytest.raises(ValueError, match="limit of 199"):
        to_rgb_uint8(str(path))
    with pytest.raises(RuntimeInputError, match="limit of 199"):
        decode_image(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "200")
    assert read_image(path).shape == (10, 20, 3)
    for off in ("0", "none", "OFF"):
        monkeypatch.setenv(MAX_PIXELS_ENV, off)
        assert default_max_pixels() is None
    monkeypatch.setenv(MAX_PIXELS_ENV, "1_000")
    assert default_max_pixels() == 1000
    for bad in ("-5", "lots"):
        monkeypatch.setenv(MAX_PIXELS_ENV, bad)
        with pytest.raises(ValueError, match=MAX_PIXELS_ENV):
            default_max_pixels()


@pytest.mark.parametrize(
    "ext, params",
    [(".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), (".bmp", []),
     (".webp", []), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]), (".gif", []), (".tiff", []),
     (".ppm", []), (".pgm", []), (".pbm", [])],
)
def test_header_size_matches_decoded_size(ext, params):
    image = np.random.default_rng(2).integers(0, 256, (23, 37, 3), dtype=np.uint8)
    if ext in (".pgm", ".pbm"):
        image = image[:, :, 0]
    data = _encode(image, ext, params)
    assert image_size_from_header(data) == (37, 23)
    assert decode_image_bytes(data, "x").shape == (23, 37, 3)


def test_header_sizes_of_hand_made_headers():
    # PNM with comments and odd whitespace
    assert image_size_from_header(b"P6\n# made by hand\n 640\t# width\n480\n255\n") == (640, 480)
    assert image_size_from_header(b"P5 7") is None  # height missing
    assert image_size_from_header(b"P5 x 7") is None
    # classic TIFF, big-endian, LONG width and SHORT length
    entries = struct.pack(">HHII", 256, 4, 1, 70_000) + struct.pack(">HHIHH", 257, 3, 1, 900, 0)
    assert image_size_from_header(b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 2) + entries) == (70_000, 900)
    # BigTIFF, little-endian, LONG8 width and LONG length
    big = struct.pack("<HHQQ", 256, 16, 1, 123_456) + struct.pack("<HHQIxxxx", 257, 4, 1, 654_321)
    header = b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 2) + big
    assert image_size_from_header(header) == (123_456, 654_321)
    # a TIFF directory without the length tag, and one cut short
    only_width = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 256, 4, 1, 5)
    assert image_size_from_header(only_width) is None
    assert image_size_from_header(b"II*\x00" + struct.pack("<I", 8000)) is None
    # BMP with a negative (top-down) height, GIF, WebP lossless
    assert image_size_from_header(b"BM" + bytes(16) + struct.pack("<ii", 12, -34)) == (12, 34)
    assert image_size_from_header(b"GIF89a" + struct.pack("<HH", 300, 200)) == (300, 200)
    assert image_size_from_header(b"not an image") is None


def test_pil_images_agree_with_arrays():
    pil = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(5).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    image = pil.fromarray(rgb)
    np.testing.assert_array_equal(to_rgb_uint8(image), rgb)
    np.testing.assert_array_equal(decode_image(image).numpy_image, rgb[:, :, ::-1])
    grey = pil.fromarray(rgb[:, :, 0])
    np.testing.assert_array_equal(decode_image(grey).numpy_image[:, :, 1], rgb[:, :, 0])
