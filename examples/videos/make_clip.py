"""Make ``examples/videos/pan_zoom.mp4`` from the example photos: a slow pan and zoom.

Three seconds per photo at 15 frames/s, 320x240, H.264 through PyAV (``pip install
"depthgraph[video]"``); the camera drifts across each photo while zooming in by 15 %, so the
clip has real motion but no sudden change inside a shot, and two cuts between the photos
(where the depth stabiliser restarts its estimate).

    python examples/videos/make_clip.py            # writes examples/videos/pan_zoom.mp4
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
PHOTOS = ("coffee", "chelsea", "astronaut")
WIDTH, HEIGHT, FPS, SECONDS = 320, 240, 15, 3


def shot(photo: np.ndarray, frames: int) -> list[np.ndarray]:
    """A slow pan (left to right) and zoom (1.0 -> 1.15) over ``photo``."""
    h, w = photo.shape[:2]
    base = min(w / WIDTH, h / HEIGHT) * 0.85  # source pixels per output pixel at zoom 1
    out = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        scale = base / (1.0 + 0.15 * t)
        crop_w, crop_h = WIDTH * scale, HEIGHT * scale
        x0 = (w - crop_w) * (0.3 + 0.4 * t)
        y0 = (h - crop_h) * 0.5
        matrix = np.array([[1 / scale, 0, -x0 / scale], [0, 1 / scale, -y0 / scale]], dtype=np.float64)
        out.append(cv2.warpAffine(photo, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA))
    return out


def main(target: Path = HERE / "pan_zoom.mp4") -> None:
    import av

    frames: list[np.ndarray] = []
    for name in PHOTOS:
        photo = cv2.imread(str(HERE.parent / "images" / f"{name}.jpg"), cv2.IMREAD_COLOR)
        if photo is None:
            sys.exit(f"cannot read examples/images/{name}.jpg")
        frames += shot(photo, FPS * SECONDS)
    container = av.open(str(target), "w")
    stream = container.add_stream("libx264", rate=Fraction(FPS))
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.options = {"preset": "slow", "crf": "26"}
    for frame in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    print(f"{target}: {len(frames)} frames, {WIDTH}x{HEIGHT} at {FPS} fps, {target.stat().st_size} bytes")


if __name__ == "__main__":
    main()
