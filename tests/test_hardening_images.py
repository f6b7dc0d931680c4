"""One honest image gate (issue 19, items 3 and 5).

- a header that decoders could read two ways (a TIFF size tagged twice, a JPEG with two frame
  headers) is refused before decoding, from the Python API, the server and the CLI;
- the pixel limit applies to video: from the size the stream declares, before a frame is decoded
  (nothing is written), and to every frame;
- OpenCV's own limit is set to ours when depthgraph is imported (a decoder refuses too).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import encode, gradient_image
from depthgraph.image_decoding import (
    AmbiguousHeaderError,
    ImageReadError,
    check_pixel_limit,
    decode_image_bytes,
)
from hardening_helpers import client, run_body

ROOT = Path(__file__).resolve().parent.parent


def tiff_bytes(widths: list[int], height: int, pixels: bytes) -> bytes:
    """A little-endian grey 8-bit TIFF, one strip, ImageWidth written once per ``widths``."""
    entries = [(256, 3, 1, w) for w in widths] + [
        (257, 3, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, 0), (277, 3, 1, 1), (278, 3, 1, height), (279, 4, 1, len(pixels)),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = 8 + ifd_size
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        if tag == 273:
            value = data_offset
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0) + pixels
    return bytes(out)


def test_a_plain_tiff_still_decodes() -> None:
    data = tiff_bytes([8], 4, bytes(range(32)))
    assert check_pixel_limit(data, "t.tif") == (8, 4)
    assert decode_image_bytes(data, "t.tif").shape == (4, 8, 3)


def test_a_tiff_that_tags_its_width_twice_is_refused_before_decoding() -> None:
    # our reader used to keep the last width (8), libtiff decodes with the first (60000)
    bomb = tiff_bytes([60000, 8], 60000, bytes(32))
    with pytest.raises(AmbiguousHeaderError, match="ImageWidth appears twice"):
        check_pixel_limit(bomb, "bomb.tif")
    with pytest.raises(ImageReadError, match="bomb.tif"):
        decode_image_bytes(bomb, "bomb.tif", max_pixels=None)  # with no limit too


def test_a_jpeg_with_two_frame_headers_is_refused() -> None:
    jpeg = encode(gradient_image(16, 8), ".jpg")
    sof = jpeg.index(b"\xff\xc0")
    length = struct.unpack(">H", jpeg[sof + 2:sof + 4])[0]
    segment = bytearray(jpeg[sof:sof + 2 + length])
    segment[5:9] = struct.pack(">HH", 30000, 30000)  # a second, huge frame header first
    crafted = jpeg[:sof] + bytes(segment) + jpeg[sof:]
    with pytest.raises(AmbiguousHeaderError, match="two frame headers"):
        check_pixel_limit(crafted, "x.jpg")


def test_the_server_answers_4xx_for_the_double_tagged_tiff() -> None:
    import base64

    bomb = tiff_bytes([60000, 8], 60000, bytes(32))
    body = run_body(image={"type": "base64", "value": base64.b64encode(bomb).decode()})
    response = client().post("/workflows/run", json=body)
    assert 400 <= response.status_code < 500, response.text[:300]
    assert "ambiguous TIFF header" in response.json()["message"]


def test_cli_run_refuses_the_double_tagged_tiff(tmp_path: Path) -> None:
    from cli_helpers import depthgraph_command, fake_depth_workflow, plugin_env
    import json

    (tmp_path / "bomb.tif").write_bytes(tiff_bytes([60000, 8], 60000, bytes(32)))
    (tmp_path / "wf.json").write_text(json.dumps(fake_depth_workflow(with_param=False)))
    done = subprocess.run([*depthgraph_command(), "run", str(tmp_path / "wf.json"), "-i",
                           str(tmp_path / "bomb.tif"), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, env=plugin_env())
    assert done.returncode != 0
    assert "ambiguous TIFF header" in done.stdout + done.stderr


def test_a_video_over_the_pixel_limit_is_refused_before_any_frame_or_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from video_helpers import make_registry, pattern_frames, write_clip
    from depthgraph.video.pipeline import run_video
    from depthgraph.video.sources import VideoSourceError, open_source

    clip = write_clip(tmp_path / "clip.avi", pattern_frames(3, 64, 48))
    monkeypatch.setenv("DEPTHGRAPH_MAX_IMAGE_PIXELS", "3000")  # 64 x 48 = 3072
    with pytest.raises(VideoSourceError, match="3072 pixels, more than the limit of 3000"):
        open_source(clip)
    out = tmp_path / "out"
    from depthgraph.engine.workflow import Workflow

    spec = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": [], "outputs": [{"type": "JsonField", "name": "image",
                                      "selector": "$inputs.image"}]}
    with pytest.raises(VideoSourceError):
        run_video(Workflow.from_definition(spec, registry=make_registry()), clip, output_dir=out)
    assert not out.exists() or not any(out.iterdir())


def test_in_memory_frames_are_held_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from depthgraph.video.sources import VideoSourceError, open_source

    monkeypatch.setenv("DEPTHGRAPH_MAX_IMAGE_PIXELS", "1000")
    frames = [np.zeros((10, 10, 3), np.uint8), np.zeros((100, 100, 3), np.uint8)]
    source = open_source(frames)
    seen = []
    with pytest.raises(VideoSourceError, match="frame 1"):
        for number, _, _ in source.frames():
            seen.append(number)
    assert seen == [0]


def test_opencv_is_given_our_limit_when_depthgraph_is_imported() -> None:
    code = ("import depthgraph, os, cv2, numpy as np\n"
            "print(os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'])\n"
            "ok, buf = cv2.imencode('.png', np.zeros((100, 100, 3), np.uint8))\n"
            "try:\n    cv2.imdecode(buf, 1); print('decoded')\n"
            "except cv2.error:\n    print('refused')\n")
    env = {**os.environ, "DEPTHGRAPH_MAX_IMAGE_PIXELS": "5000", "PYTHONPATH": str(ROOT)}
    env.pop("OPENCV_IO_MAX_IMAGE_PIXELS", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.stdout.split() == ["5000", "refused"], done.stderr[-500:]


def test_the_server_hands_checked_bytes_on_and_the_engine_decodes_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """House issue 18, item 6: one decoder, one base64 parser, no second prepare_inputs."""
    from depthgraph.engine import serialization

    calls = []
    real = serialization.decode_image_bytes

    def counting(data: bytes, source: str, max_pixels: object = None) -> np.ndarray:
        calls.append(source)
        return real(data, source, max_pixels=max_pixels)

    monkeypatch.setattr(serialization, "decode_image_bytes", counting)
    response = client(max_image_pixels=5000).post("/workflows/run", json=run_body())
    assert response.status_code == 200, response.text[:300]
    assert len(calls) == 1  # decoded once, by the engine's decoder, under the server's limit
    import depthgraph.server.inputs as server_inputs

    assert not hasattr(server_inputs, "prepare_inputs")
    assert not hasattr(server_inputs, "decode_image_bytes")


def test_a_gif_whose_frame_is_larger_than_its_screen_is_refused() -> None:
    from PIL import Image
    import io

    buffer = io.BytesIO()
    Image.new("P", (16, 8)).save(buffer, format="GIF")
    plain = buffer.getvalue()
    assert check_pixel_limit(plain, "ok.gif") == (16, 8)
    descriptor = plain.index(b"\x2c\x00\x00\x00\x00")
    crafted = bytearray(plain)
    crafted[descriptor + 5:descriptor + 9] = struct.pack("<HH", 30000, 30000)
    with pytest.raises(AmbiguousHeaderError, match="GIF"):
        check_pixel_limit(bytes(crafted), "x.gif")
