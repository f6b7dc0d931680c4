"""Helpers for the video tests: generated clips, cheap test blocks, flicker measures.

Also a plugin module: ``DEPTHGRAPH_PLUGINS=video_helpers`` (with ``tests/`` on ``PYTHONPATH``)
registers the test blocks in a ``depthgraph`` subprocess.

Test blocks (no model, milliseconds per frame):

- ``depthgraph_test/intensity_depth@v1``: depth from a frame's pixels, 16 bits in blue (high
  byte) and green (low byte): inverse depth = 2 * value / 65535 + 0.05, so a clip's pixels say
  exactly what depth the "model" sees (:func:`encode_inverse_depth`).
- ``depthgraph_test/sleep@v1``: passes the image through after sleeping (a slow model).
- ``depthgraph_test/frame_counter@v1``: counts the frames of each video through the engine's
  per-video state (:class:`~depthgraph.engine.state.VideoStateStore`).
- ``depthgraph_test/tiny_cloud@v1``: a 10-point cloud per frame.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import Field

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.kinds import (DEPTH_MAP_KIND, IMAGE_KIND, INTEGER_KIND, POINT_CLOUD_KIND,
                                     STRING_KIND)
from depthgraph.engine.state import VideoStateStore
from depthgraph.engine.values import DepthMap, PointCloud, WorkflowImageData
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector

TESTS_DIR = Path(__file__).resolve().parent
EXAMPLES = TESTS_DIR.parent / "examples"

# --- test blocks -------------------------------------------------------------------------------


class _IntensityDepthManifest(BlockManifest):
    type: Literal["depthgraph_test/intensity_depth@v1"]
    image: Selector(kind=[IMAGE_KIND])  # type: ignore[valid-type]

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="depth", kind=[DEPTH_MAP_KIND])]


class IntensityDepthBlock(WorkflowBlock):
    manifest_class = _IntensityDepthManifest

    def run(self, image: WorkflowImageData, **_: Any) -> dict[str, Any]:  # type: ignore[override]
        return {"depth": DepthMap(values=1.0 / decode_inverse_depth(image.numpy_image), parent_id=image.parent_id)}


def encode_inverse_depth(inverse: np.ndarray) -> np.ndarray:
    """Inverse depth in [0.05, 2.05] as a BGR frame (16 bits: blue high byte, green low byte)."""
    value = np.clip(np.round((inverse - 0.05) / 2.0 * 65535.0), 0, 65535).astype(np.uint16)
    high, low = (value >> 8).astype(np.uint8), (value & 255).astype(np.uint8)
    return np.stack([high, low, high], axis=2)


def decode_inverse_depth(frame: np.ndarray) -> np.ndarray:
    value = frame[:, :, 0].astype(np.float64) * 256.0 + frame[:, :, 1]
    return value / 65535.0 * 2.0 + 0.05


class _SleepManifest(BlockManifest):
    type: Literal["depthgraph_test/sleep@v1"]
    image: Selector(kind=[IMAGE_KIND])  # type: ignore[valid-type]
    seconds: float = Field(default=0.01, ge=0.0)

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="image", kind=[IMAGE_KIND])]


class SleepBlock(WorkflowBlock):
    manifest_class = _SleepManifest

    def run(self, image: WorkflowImageData, seconds: float = 0.01, **_: Any) -> dict[str, Any]:  # type: ignore[override]
        time.sleep(seconds)
        return {"image": image}


class _FrameCounterManifest(BlockManifest):
    type: Literal["depthgraph_test/frame_counter@v1"]
    image: Selector(kind=[IMAGE_KIND])  # type: ignore[valid-type]

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="count", kind=[INTEGER_KIND]),
                OutputDefinition(name="video", kind=[STRING_KIND])]


class FrameCounterBlock(WorkflowBlock):
    manifest_class = _FrameCounterManifest

    def __init__(self, manifest: Any = None) -> None:
        super().__init__(manifest)
        self.states = VideoStateStore(idle_seconds=60.0)

    def run(self, image: WorkflowImageData, **_: Any) -> dict[str, Any]:  # type: ignore[override]
        state = self.states.get(image, factory=lambda: {"count": 0})
        if state is None:
            return {"count": 0, "video": ""}
        state["count"] += 1
        time.sleep(0.001)  # let two videos interleave
        return {"count": state["count"], "video": image.video_metadata.video_identifier}


class _TinyCloudManifest(BlockManifest):
    type: Literal["depthgraph_test/tiny_cloud@v1"]
    image: Selector(kind=[IMAGE_KIND])  # type: ignore[valid-type]

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="point_cloud", kind=[POINT_CLOUD_KIND])]


class TinyCloudBlock(WorkflowBlock):
    manifest_class = _TinyCloudManifest

    def run(self, image: WorkflowImageData, **_: Any) -> dict[str, Any]:  # type: ignore[override]
        points = np.arange(30, dtype=np.float32).reshape(10, 3)
        colors = np.full((10, 3), 200, dtype=np.uint8)
        return {"point_cloud": PointCloud(points=points, colors=colors)}


TEST_VIDEO_BLOCKS = [IntensityDepthBlock, SleepBlock, FrameCounterBlock, TinyCloudBlock]


def load_blocks() -> list[type[WorkflowBlock]]:
    """Plugin hook (``DEPTHGRAPH_PLUGINS=video_helpers``)."""
    return list(TEST_VIDEO_BLOCKS)


def make_registry():
    """Built-in blocks plus the test blocks (no entry points, no environment plugins)."""
    from depthgraph.engine.registry import load_registry

    return load_registry(entry_points=False, env=False, blocks=TEST_VIDEO_BLOCKS)


def workflow(steps: list[dict[str, Any]], outputs: dict[str, str]):
    """A compiled one-image-input workflow of ``steps`` with ``outputs`` (name -> selector)."""
    from depthgraph.engine.workflow import Workflow

    definition = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
                  "steps": steps,
                  "outputs": [{"type": "JsonField", "name": n, "selector": s} for n, s in outputs.items()]}
    return Workflow.from_definition(definition, make_registry())


STABILISED_STEPS = [
    {"type": "depthgraph_test/intensity_depth@v1", "name": "depth", "image": "$inputs.image"},
    {"type": "depthgraph/depth_stabilizer@v1", "name": "stable", "depth": "$steps.depth.depth",
     "image": "$inputs.image", "time_constant": 0.5},
    {"type": "depthgraph/depth_colormap@v1", "name": "colour", "depth": "$steps.stable.depth",
     "range_mode": "smoothed", "image": "$inputs.image", "alpha": 1.0},
]


def stabilised_workflow():
    """intensity depth -> stabiliser -> smoothed colour map; outputs of every kind."""
    return workflow(STABILISED_STEPS, {"colour": "$steps.colour.image",
                                       "normalized": "$steps.stable.normalized_depth",
                                       "scale": "$steps.stable.scale", "reset": "$steps.stable.reset"})


# --- clips -------------------------------------------------------------------------------------


def pattern_frames(count: int, width: int = 64, height: int = 48, seed: int = 0) -> list[np.ndarray]:
    """``count`` BGR frames of a moving bar over a gradient (every frame different)."""
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1),
                     np.full_like(xs, 90 + 20 * seed)], axis=2).astype(np.uint8)
    frames = []
    for i in range(count):
        frame = base.copy()
        x = (i * 3) % max(width - 8, 1)
        frame[:, x:x + 8] = (255, 255, 255)
        frames.append(frame)
    return frames


def write_clip(path: Path, frames: Sequence[np.ndarray], fps: float = 25.0, codec: str = "ffv1",
               gray: bool = False) -> Path:
    """Write frames with PyAV (any size; ``ffv1`` is lossless, ``mjpeg`` for AVI)."""
    import av

    path = Path(path)
    height, width = frames[0].shape[:2]
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height = width, height
    stream.pix_fmt = "gray" if gray else ("yuvj444p" if codec == "mjpeg" else "bgr0")
    for frame in frames:
        if gray:
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="gray")
        else:
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
        for packet in stream.encode(video_frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def truncate_last_frame(path: Path) -> Path:
    """Cut an AVI 60 bytes into its last frame's chunk (the index at the end is lost as well)."""
    data = Path(path).read_bytes()
    index = data.rfind(b"idx1")
    last = data.rfind(b"00dc", 0, index)
    assert 0 < last < index, "not an AVI with an index"
    Path(path).write_bytes(data[: last + 60])
    return Path(path)


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame OpenCV decodes from ``path``, and the fps it reports."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"OpenCV cannot open {path}"
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames, fps


# --- flicker -----------------------------------------------------------------------------------


def inverse_depth_scene(height: int = 48, width: int = 64, variant: int = 0) -> np.ndarray:
    """A smooth static inverse-depth field in about [0.25, 1.0] (``variant`` gives another scene)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    if variant == 0:
        field = 0.25 + 0.6 * xs / width + 0.15 * np.sin(ys / 6.0)
    else:
        field = 1.0 - 0.7 * ys / height + 0.1 * np.cos(xs / 5.0)
    return np.clip(field, 0.05, 1.5)


def jittered_frames(scene: np.ndarray, count: int, seed: int = 0, noise: float = 0.001) -> list[np.ndarray]:
    """Frames whose grey level encodes ``scene`` (inverse depth) with a per-frame scale and shift
    (the ambiguity a relative-depth model shows from frame to frame) and small pixel noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        scale, shift = rng.uniform(0.75, 1.0), rng.uniform(0.0, 0.08)
        frames.append(encode_inverse_depth(scale * scene + shift + rng.normal(0.0, noise, scene.shape)))
    return frames


def frame_to_frame_change(maps: Sequence[np.ndarray]) -> float:
    """Mean absolute change between consecutive maps."""
    return float(np.mean([np.abs(b.astype(np.float64) - a).mean() for a, b in zip(maps, maps[1:])]))
