"""Video sinks: MP4 files for image outputs, JSON Lines for the rest, PLY every N frames.

- :class:`Mp4Writer`: H.264 (``libx264``, ``yuv420p``) through PyAV when it is installed (the
  ``video`` extra), which plays everywhere including browsers; else MPEG-4 part 2 (``mp4v``)
  through supervision's ``VideoSink`` (OpenCV's pip wheel has no H.264 encoder; ``mp4v`` plays in
  OpenCV, VLC and ffmpeg but not in browsers). Both need an even width and height: H.264 pads an
  odd size by one pixel (the edge repeated), mp4v crops it by one pixel (OpenCV's writer would
  anyway), and :attr:`Mp4Writer.even_size_fix` says which. Frames whose size differs from the
  first frame's are resized to it.
- :class:`JsonlWriter`: one JSON object per line, flushed line by line, so a stopped run leaves a
  valid file.
- :class:`VideoOutputWriter`: routes one workflow result per frame to the above, by value.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from depthgraph.engine.encoders import (
    INLINE_ARRAY_VALUES,
    array_summary,
    depth_header,
    json_safe,
    point_cloud_header,
)
from depthgraph.engine.errors import WorkflowError
from depthgraph.engine.values import DepthMap, PointCloud, VideoMetadata, WorkflowImageData
from depthgraph.output_root import check_target, write_file
from depthgraph.output_writer import safe_name
from depthgraph.ply import write_ply

RESULTS_JSONL = "results.jsonl"
SUMMARY_JSON = "video.json"
DEFAULT_FPS = 30.0


class VideoSinkError(WorkflowError):
    """An output file that cannot be written (names the file)."""


def h264_available() -> bool:
    """True when PyAV (with its bundled libx264) can be imported."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


class Mp4Writer:
    """Writes BGR frames to an MP4 file, opened on the first frame.

    Args:
        path: the file to write.
        fps: frames per second of the output (0 or less: 30).
        codec: ``"auto"`` (H.264 with PyAV, else mp4v), ``"h264"`` or ``"mp4v"``.
    """

    def __init__(self, path: str | Path, fps: float, codec: str = "auto") -> None:
        if codec not in ("auto", "h264", "mp4v"):
            raise VideoSinkError(f"codec: expected auto, h264 or mp4v, got {codec!r}")
        if codec == "h264" and not h264_available():
            raise VideoSinkError("codec h264 needs PyAV: pip install 'depthgraph[video]'")
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self.codec = "h264" if codec == "auto" and h264_available() else ("mp4v" if codec == "auto" else codec)
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (width, height) of the frames given
        self.even_size_fix: str | None = None  # "padded" or "cropped" when the size was odd
        self._container: Any = None
        self._stream: Any = None
        self._sink: Any = None

    def write(self, image: np.ndarray) -> None:
        frame = np.asarray(image)
        if frame.ndim == 2:
            frame = np.repeat(frame[:, :, None], 3, axis=2)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise VideoSinkError(f"{self.path.name}: expected BGR uint8 frames, got {frame.dtype} {frame.shape}")
        if self.size is None:
            self._open(frame.shape[1], frame.shape[0])
        width, height = self.size  # type: ignore[misc]
        if (frame.shape[1], frame.shape[0]) != (width, height):
            import cv2

            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        if self.codec == "h264":
            self._write_av(frame)
        else:
            self._sink.write_frame(np.ascontiguousarray(frame[: height - height % 2, : width - width % 2]))
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (safe to call twice)."""
        if self._container is not None:
            container, self._container = self._container, None
            try:
                for packet in self._stream.encode():
                    container.mux(packet)
            finally:
                container.close()
        if self._sink is not None:
            sink, self._sink = self._sink, None
            sink.__exit__(None, None, None)

    # --- backends --------------------------------------------------------------------------------

    def _open(self, width: int, height: int) -> None:
        self.size = (width, height)
        if width % 2 or height % 2:
            self.even_size_fix = "padded" if self.codec == "h264" else "cropped"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        check_target(self.path)  # a plain file inside the output root, not a link
        try:
            if self.codec == "h264":
                import av

                container = av.open(str(self.path), "w")
                stream = container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
                stream.width, stream.height = width + width % 2, height + height % 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"preset": "veryfast", "crf": "20"}
                self._container, self._stream = container, stream
            else:
                import supervision as sv

                info = sv.VideoInfo(width=width - width % 2, height=height - height % 2, fps=self.fps)
                sink = sv.VideoSink(str(self.path), video_info=info, codec="mp4v")
                sink.__enter__()  # raises RuntimeError when OpenCV cannot open the writer
                self._sink = sink
        except (OSError, ValueError, RuntimeError) as exc:
            raise VideoSinkError(f"cannot write {self.path}: {exc}") from exc

    def _write_av(self, frame: np.ndarray) -> None:
        import av

        if self.even_size_fix:
            import cv2

            frame = cv2.copyMakeBorder(frame, 0, frame.shape[0] % 2, 0, frame.shape[1] % 2, cv2.BORDER_REPLICATE)
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)


class JsonlWriter:
    """One JSON object per line; each line is flushed as it is written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lines = 0
        self._handle: Any = None

    def write(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            check_target(self.path)  # a plain file inside the output root, not a link
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
            self._handle = os.fdopen(os.open(self.path, flags, 0o644), "w", encoding="utf-8")
        text = json.dumps(json_safe(record), allow_nan=False, default=str, separators=(",", ":"))
        self._handle.write(text + "\n")
        self._handle.flush()
        self.lines += 1

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()


class VideoOutputWriter:
    """Writes each frame's workflow result under ``output_dir``.

    - ``image`` values -> ``<output>.mp4`` (one MP4 per image output, the source's fps)
    - point clouds -> ``<output>/frame_<number>.ply`` every ``ply_every`` frames (0: never)
    - everything -> one line per frame in ``results.jsonl``: frame number, timestamp and the
      outputs (images as a reference into their MP4, arrays larger than 64 values summarised,
      depth maps summarised with their unit); encodings from :mod:`depthgraph.engine.encoders`
    - :meth:`close` finishes every file and writes ``video.json`` (files, frame counts, codec)
    """

    def __init__(self, output_dir: str | Path, fps: float, ply_every: int = 0, codec: str = "auto") -> None:
        if codec not in ("auto", "h264", "mp4v"):
            raise VideoSinkError(f"codec: expected auto, h264 or mp4v, got {codec!r}")
        if codec == "h264" and not h264_available():
            raise VideoSinkError("codec h264 needs PyAV: pip install 'depthgraph[video]'")
        self.output_dir = Path(output_dir)
        self.fps = fps
        self.ply_every = int(ply_every)
        self.codec = codec
        self.videos: dict[str, Mp4Writer] = {}
        self.plys: list[Path] = []
        self.jsonl = JsonlWriter(self.output_dir / RESULTS_JSONL)
        self.frames = 0
        self._closed = False
        self.output_dir.mkdir(parents=True, exist_ok=True)

    def write(self, metadata: VideoMetadata, result: dict[str, Any]) -> None:
        index = self.frames
        outputs = {name: self._value(safe_name(name), value, metadata, index) for name, value in result.items()}
        self.jsonl.write({"frame_number": metadata.frame_number,
                          "timestamp": round(metadata.frame_timestamp, 6), "outputs": outputs})
        self.frames += 1

    def _value(self, stem: str, value: Any, metadata: VideoMetadata, index: int) -> Any:
        if isinstance(value, WorkflowImageData):
            writer = self.videos.get(stem)
            if writer is None:
                writer = self.videos[stem] = Mp4Writer(self.output_dir / f"{stem}.mp4", self.fps, self.codec)
            writer.write(value.numpy_image)
            return {"type": "video_frame", "file": writer.path.name, "frame_index": writer.frames_written - 1}
        if isinstance(value, PointCloud):
            entry: dict[str, Any] = point_cloud_header(value)
            if self.ply_every > 0 and index % self.ply_every == 0:
                folder = self.output_dir / stem
                folder.mkdir(exist_ok=True)
                path = folder / f"frame_{metadata.frame_number:06d}.ply"
                write_ply(path, value)
                self.plys.append(path)
                entry["file"] = f"{stem}/{path.name}"
            return entry
        if isinstance(value, VideoMetadata):
            return value.to_dict()
        if isinstance(value, DepthMap):
            return {**array_summary(value.values), **depth_header(value)}
        if isinstance(value, np.ndarray) and value.size > INLINE_ARRAY_VALUES:
            return array_summary(value)
        if isinstance(value, dict):
            return {str(k): self._value(f"{stem}_{safe_name(str(k))}", v, metadata, index) for k, v in value.items()}
        if isinstance(value, (list, tuple)) and any(isinstance(v, (WorkflowImageData, PointCloud, DepthMap, dict))
                                                    for v in value):
            return [self._value(f"{stem}_{i}", v, metadata, index) for i, v in enumerate(value)]
        from depthgraph.engine.serialization import serialize_value

        return serialize_value(value)

    def close(self, summary: dict[str, Any] | None = None) -> list[Path]:
        """Finish every file; returns the files written (``video.json`` last)."""
        if self._closed:
            return self.files
        self._closed = True
        errors = []
        for writer in self.videos.values():
            try:
                writer.close()
            except Exception as exc:  # noqa: BLE001 - close the others, then report
                errors.append(f"{writer.path}: {exc}")
        self.jsonl.close()
        body = dict(summary or {})
        body["frames_written"] = self.frames
        body["videos"] = {w.path.name: {"frames": w.frames_written, "codec": w.codec,
                                        "width": w.size[0] if w.size else None,
                                        "height": w.size[1] if w.size else None,
                                        "even_size_fix": w.even_size_fix}
                          for w in self.videos.values()}
        body["results"] = RESULTS_JSONL if self.jsonl.lines else None
        body["point_clouds"] = [str(p.relative_to(self.output_dir)) for p in self.plys]
        write_file(self.output_dir / SUMMARY_JSON,
                   (json.dumps(json_safe(body), indent=2, default=str) + "\n").encode("utf-8"))
        if errors:
            raise VideoSinkError("; ".join(errors))
        return self.files

    @property
    def files(self) -> list[Path]:
        files = [w.path for w in self.videos.values()]
        if self.jsonl.lines:
            files.append(self.jsonl.path)
        return [*files, *self.plys, self.output_dir / SUMMARY_JSON]


__all__ = ["JsonlWriter", "Mp4Writer", "VideoOutputWriter", "VideoSinkError", "h264_available"]
