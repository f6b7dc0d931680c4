"""Video sources: files, cameras (a device index), RTSP/HTTP streams, or frames already in memory.

:func:`open_source` checks the source and reads what it can say about itself (a
:class:`SourceInfo`); :meth:`VideoSource.frames` then yields ``(frame_number, timestamp, bgr)``.

- Files are read with supervision's frame generator (OpenCV underneath), with ``stride`` for
  ``max_fps`` and ``start``/``end`` for a frame range. A file that ends early (a truncated last
  frame) gives the frames that could be decoded.
- Cameras and streams are read with ``cv2.VideoCapture``; timestamps are wall-clock seconds since
  the first frame; ``max_fps`` skips frames that come sooner than ``1 / max_fps`` after the last
  one kept. They are *live*: the pipeline drops frames rather than fall behind.
- An iterable of numpy arrays (BGR, or gray HxW) is a source too, with a given ``fps``.

Network sources are opened only when the user names a URL: nothing else reaches the network.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from depthgraph.engine.errors import WorkflowError

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


class VideoSourceError(WorkflowError):
    """A video source that cannot be opened or read (names the source)."""


@dataclass(frozen=True)
class SourceInfo:
    """What is known about a source before reading it.

    ``fps`` is the source's rate (0.0 when unknown); ``output_fps`` the rate of the frames kept
    (after ``max_fps``); ``total_frames`` counts the frames that will be yielded when known
    (None for live sources and when the container does not say).
    """

    name: str
    kind: str  # "file", "camera", "stream" or "frames"
    width: int
    height: int
    fps: float
    output_fps: float
    total_frames: int | None
    stride: int = 1

    @property
    def is_live(self) -> bool:
        return self.kind in ("camera", "stream")


def parse_frame_range(text: str | None) -> tuple[int, int | None]:
    """``"START:END"`` (either may be empty; END exclusive) -> (start, end)."""
    if text is None or text.strip() in ("", ":"):
        return 0, None
    start_text, sep, end_text = text.partition(":")
    try:
        start = int(start_text) if start_text.strip() else 0
        end = int(end_text) if sep and end_text.strip() else None
    except ValueError:
        raise VideoSourceError(f"--frames {text!r}: expected START:END with whole numbers, e.g. 0:300") from None
    if start < 0 or (end is not None and end <= start):
        raise VideoSourceError(f"--frames {text!r}: expected 0 <= START < END")
    return start, end


def _as_camera_index(source: Any) -> int | None:
    if isinstance(source, bool):
        return None
    if isinstance(source, int):
        return source
    if isinstance(source, str) and source.strip().isdigit():
        return int(source.strip())
    return None


def describe_source(source: Any) -> str:
    """A short human name for a source (URLs lose their user:password part)."""
    index = _as_camera_index(source)
    if index is not None:
        return f"camera {index}"
    if isinstance(source, (str, Path)):
        text = str(source)
        if text.lower().startswith(STREAM_SCHEMES) and "@" in text.split("/")[2]:
            scheme, _, rest = text.partition("://")
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return text
    return f"{type(source).__name__} of frames"


class VideoSource:
    """An opened source; iterate :meth:`frames` once. Build it with :func:`open_source`."""

    def __init__(self, source: Any, info: SourceInfo, start: int, end: int | None,
                 max_fps: float | None, capture: Any = None, frames: Iterable[Any] | None = None) -> None:
        self.source = source
        self.info = info
        self.start = start
        self.end = end
        self.max_fps = max_fps
        self._capture = capture
        self._frames = frames
        #: frames the decoder could not give although the container announced them
        self.missing_frames = 0

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """Yield ``(frame_number, timestamp_seconds, bgr_uint8)`` in order."""
        if self.info.kind == "file":
            yield from self._file_frames()
        elif self.info.kind == "frames":
            yield from self._memory_frames()
        else:
            yield from self._live_frames()

    def close(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    # --- kinds ---------------------------------------------------------------------------------

    def _file_frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        import supervision as sv

        info = self.info
        stride = info.stride
        end = self.end
        generator = sv.get_video_frames_generator(str(self.source), stride=stride, start=self.start, end=end)
        count = 0
        for index, frame in enumerate(generator):
            number = self.start + index * stride
            _check_frame_size(frame.shape[1], frame.shape[0], info.name, number)
            yield number, number / info.fps if info.fps > 0 else 0.0, _to_bgr(frame)
            count += 1
        if info.total_frames is not None and count < info.total_frames:
            self.missing_frames = info.total_frames - count

    def _memory_frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        fps = self.info.fps or 30.0
        stride = self.info.stride
        for number, frame in enumerate(self._frames or ()):
            if number < self.start or (number - self.start) % stride:
                continue
            if self.end is not None and number >= self.end:
                break
            array = np.asarray(frame)
            if array.ndim >= 2:
                _check_frame_size(array.shape[1], array.shape[0], self.info.name, number)
            yield number, number / fps, _to_bgr(array)

    def _live_frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        capture = self._capture
        min_gap = 1.0 / self.max_fps if self.max_fps else 0.0
        t0: float | None = None
        last_kept = -math.inf
        number = -1
        failures = 0
        while capture is not None:
            ok, frame = capture.read()
            if not ok or frame is None:
                failures += 1
                if failures >= 50 or self.info.kind == "camera" and failures >= 5:
                    return  # the stream ended or the camera went away
                time.sleep(0.02)
                continue
            failures = 0
            number += 1
            now = time.monotonic()
            if t0 is None:
                t0 = now
            if number < self.start:
                continue
            if self.end is not None and number >= self.end:
                return
            if now - last_kept < min_gap:
                continue
            last_kept = now
            _check_frame_size(frame.shape[1], frame.shape[0], self.info.name, number)
            yield number, now - t0, _to_bgr(frame)
            capture = self._capture  # None once closed


def _check_frame_size(width: int, height: int, name: str, frame: int | None = None) -> None:
    """The image pixel limit, for a video: from the size the stream declares, before decoding,
    and again for each frame (a stream may change size)."""
    from depthgraph.image_decoding import ImageTooLargeError, check_size

    where = f"video '{name}'" if frame is None else f"video '{name}' frame {frame}"
    try:
        check_size(int(width), int(height), where)
    except ImageTooLargeError as error:
        raise VideoSourceError(str(error)) from None


def _to_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        raise VideoSourceError(f"video frames must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return np.repeat(frame, 3, axis=2)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return np.ascontiguousarray(frame[:, :, :3])
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise VideoSourceError(f"video frames must be HxW or HxWx3, got shape {frame.shape}")


def _stride(fps: float, max_fps: float | None) -> int:
    if not max_fps or fps <= 0 or fps <= max_fps:
        return 1
    return int(math.ceil(fps / max_fps - 1e-9))


def _count(start: int, end: int | None, total: int | None, stride: int) -> int | None:
    if total is None:
        return None if end is None else len(range(start, end, stride))
    stop = total if end is None else min(end, total)
    return len(range(start, stop, stride))


def open_source(source: Any, frames: tuple[int, int | None] | str | None = None,
                max_fps: float | None = None, fps: float | None = None) -> VideoSource:
    """Open a file path, a camera index (``0`` or ``"0"``), a stream URL or an iterable of frames.

    Args:
        frames: ``(start, end)`` or ``"START:END"``: source frame numbers to read (end exclusive).
        max_fps: keep at most this many frames per second (files: every n-th frame).
        fps: the rate of an in-memory iterable of frames (default 30).

    Raises:
        VideoSourceError: a missing file, a file OpenCV cannot open, an unreachable camera or
            stream, a bad range.
    """
    start, end = parse_frame_range(frames) if not isinstance(frames, tuple) else frames
    if max_fps is not None and max_fps <= 0:
        raise VideoSourceError(f"max_fps must be positive, got {max_fps}")
    name = describe_source(source)
    index = _as_camera_index(source)
    if index is not None or (isinstance(source, str) and source.lower().startswith(STREAM_SCHEMES)):
        return _open_live(source if index is None else index, name, start, end, max_fps)
    if isinstance(source, (str, Path)):
        return _open_file(Path(source), name, start, end, max_fps)
    if isinstance(source, np.ndarray) and source.ndim != 4:
        raise VideoSourceError(
            f"an array of shape {source.shape} is not a video; pass a list of frames or an (N, H, W, 3) array"
        )
    if isinstance(source, Iterable):
        return _open_frames(source, name, start, end, max_fps, fps)
    raise VideoSourceError(
        f"cannot read video from a {type(source).__name__}; give a file path, a camera index, "
        "an rtsp:// or http(s):// URL, or a list of frames"
    )


def _refuse_still_image(path: Path, name: str) -> None:
    """A photo (OpenCV would read it as a one-frame video) is refused at once; GIFs may move."""
    from depthgraph.image_decoding import image_size_from_header

    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    if not head.startswith(b"GIF8") and image_size_from_header(head) is not None:
        raise VideoSourceError(f"'{name}' is a still image, not a video; for images use "
                               f"'depthgraph predict {name}' or 'depthgraph run WORKFLOW -i {name}'")


def _open_file(path: Path, name: str, start: int, end: int | None, max_fps: float | None) -> VideoSource:
    import cv2

    if not path.exists():
        raise VideoSourceError(f"video file '{name}' does not exist")
    if not path.is_file():
        raise VideoSourceError(f"'{name}' is not a file")
    if path.stat().st_size == 0:
        raise VideoSourceError(f"video file '{name}' is empty (0 bytes)")
    _refuse_still_image(path, name)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoSourceError(f"cannot open '{name}' as a video (OpenCV's decoders do not read it)")
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        reported = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        capture.release()
    _check_frame_size(width, height, name)
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 0.0
    total = reported if reported > 0 else None
    if total is not None and start >= total:
        raise VideoSourceError(f"'{name}' has {total} frame(s); --frames starts at {start}")
    if total is not None and end is not None and end > total:
        end = total
    stride = _stride(fps, max_fps)
    out_fps = fps / stride if fps > 0 else 0.0
    info = SourceInfo(name, "file", width, height, fps, out_fps, _count(start, end, total, stride), stride)
    return VideoSource(path, info, start, end, max_fps)


def _open_live(source: int | str, name: str, start: int, end: int | None, max_fps: float | None) -> VideoSource:
    import cv2

    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        capture.release()
        what = "camera" if isinstance(source, int) else "stream"
        raise VideoSourceError(f"cannot open {what} '{name}' (not connected, not reachable or not a video)")
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    try:
        _check_frame_size(width, height, name)
    except VideoSourceError:
        capture.release()
        raise
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 0.0
    out_fps = min(fps, max_fps) if fps and max_fps else (fps or (max_fps or 0.0))
    kind = "camera" if isinstance(source, int) else "stream"
    total = None if end is None else end - start
    info = SourceInfo(name, kind, width, height, fps, out_fps, total)
    return VideoSource(source, info, start, end, max_fps, capture=capture)


def _open_frames(frames: Iterable[Any], name: str, start: int, end: int | None,
                 max_fps: float | None, fps: float | None) -> VideoSource:
    rate = float(fps) if fps else 30.0
    if rate <= 0:
        raise VideoSourceError(f"fps must be positive, got {fps}")
    total = len(frames) if hasattr(frames, "__len__") else None  # type: ignore[arg-type]
    first = None
    if total is not None and total > 0:
        first = np.asarray(frames[0]) if hasattr(frames, "__getitem__") else None  # type: ignore[index]
    height, width = (int(first.shape[0]), int(first.shape[1])) if first is not None else (0, 0)
    stride = _stride(rate, max_fps)
    info = SourceInfo(name, "frames", width, height, rate, rate / stride,
                      _count(start, end, total, stride), stride)
    return VideoSource(frames, info, start, end, max_fps, frames=frames)


__all__ = ["SourceInfo", "VideoSource", "VideoSourceError", "open_source", "parse_frame_range", "describe_source"]
