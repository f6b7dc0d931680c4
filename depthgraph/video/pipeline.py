"""A compiled workflow over a video: a reader thread, batched inference, a writer thread.

::

    source ──reader thread──► bounded queue ──► batches of frames ──► workflow.run_inputs
                                                                         │
                       sinks, on_frame ◄──writer thread◄── bounded queue ◄┘

- :class:`VideoStream` (:func:`stream`): iterate ``(frame, result)`` pairs; decoding runs
  ahead in the reader thread while the workflow runs in the caller's thread.
- :func:`run_video` (``run_video(workflow, source)``): the stream plus a writer thread that writes MP4 /
  JSON Lines / PLY files and calls ``on_frame``, so decoding, inference and encoding overlap.

Both queues are bounded, so memory stays flat however long the video. For a *live* source
(camera, stream) a full input queue drops its oldest frame instead of waiting, so the workflow
always works on recent frames; :attr:`VideoStats.frames_dropped` counts them. Files never drop.

Every frame's image carries a :class:`~depthgraph.engine.values.VideoMetadata` with a video
identifier unique to this run; when the run ends (the source ends, :meth:`VideoStream.stop`, an
error, or the caller stops iterating) :func:`~depthgraph.engine.state.end_video` drops the state
blocks kept for it.
"""

from __future__ import annotations

import contextlib

import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from depthgraph.engine.state import end_video
from depthgraph.engine.values import VideoMetadata, WorkflowImageData
from depthgraph.engine.workflow import Workflow
from depthgraph.video.sinks import VideoOutputWriter
from depthgraph.video.sources import SourceInfo, VideoSource, VideoSourceError, open_source

_END = object()
_POLL = 0.05


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


@dataclass(frozen=True)
class VideoFrame:
    """One frame as the workflow saw it: the image (with its video metadata) and where it sits."""

    image: WorkflowImageData
    metadata: VideoMetadata

    @property
    def frame_number(self) -> int:
        return self.metadata.frame_number

    @property
    def timestamp(self) -> float:
        return self.metadata.frame_timestamp

    @property
    def numpy_image(self) -> np.ndarray:
        return self.image.numpy_image


@dataclass
class VideoStats:
    """Counts of a run so far (updated while it runs)."""

    frames_read: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    missing_frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def fps(self) -> float:
        return self.frames_processed / self.seconds if self.seconds > 0 else 0.0


@dataclass
class VideoRunSummary:
    """What :func:`run_video` did."""

    source: SourceInfo
    video_id: str
    stats: VideoStats
    output_dir: Path | None = None
    files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        s, info = self.stats, self.source
        return {"source": info.name, "source_kind": info.kind, "video_id": self.video_id,
                "width": info.width, "height": info.height, "source_fps": info.fps,
                "output_fps": info.output_fps, "frames_read": s.frames_read,
                "frames_processed": s.frames_processed, "frames_dropped": s.frames_dropped,
                "missing_frames": s.missing_frames, "seconds": round(s.seconds, 3),
                "frames_per_second": round(s.fps, 3), "interrupted": s.interrupted}


def _image_input(workflow: Workflow, image_input: str | None) -> str:
    names = list(workflow.image_input_names)
    if image_input is not None:
        if image_input not in names:
            raise VideoSourceError(f"image_input '{image_input}': the workflow's image inputs are "
                                   f"{', '.join(names) or 'none'}")
        return image_input
    if len(names) != 1:
        raise VideoSourceError(
            "a video feeds one image input; the workflow has "
            + (", ".join(f"'{n}'" for n in names) if names else "none")
            + ("; choose one with image_input=" if names else "")
        )
    return names[0]


class VideoStream:
    """Iterate ``(VideoFrame, result)`` over a source; see the module docstring.

    Args:
        workflow: a :class:`~depthgraph.engine.workflow.Workflow` with one image input.
        source: a file path, a camera index, an ``rtsp://`` / ``http(s)://`` URL, or frames.
        params: the workflow's other inputs (the same for every frame).
        batch_size: frames per workflow run (the model sees them as one batch).
        max_fps: keep at most this many frames per second of video.
        frames: ``"START:END"`` or ``(start, end)``: source frame numbers (END exclusive).
        fps: frame rate of an in-memory list of frames (default 30).
        image_input: which image input gets the frames (needed when there are several).
        queue_size: frames buffered between the reader and the workflow (default 2 batches).
        drop_frames: drop frames when the workflow falls behind (default: for live sources).
        stop_event: a ``threading.Event``; setting it ends the run after the current batch.

    Raises (when created): :class:`VideoSourceError` for a source that cannot be opened.
    """

    def __init__(self, workflow: Workflow, source: Any, *, params: dict[str, Any] | None = None,
                 batch_size: int = 1, max_fps: float | None = None,
                 frames: str | tuple[int, int | None] | None = None, fps: float | None = None,
                 image_input: str | None = None, queue_size: int | None = None,
                 drop_frames: bool | None = None, stop_event: threading.Event | None = None) -> None:
        if batch_size < 1:
            raise VideoSourceError(f"batch_size must be at least 1, got {batch_size}")
        self.workflow = workflow
        self.image_input = _image_input(workflow, image_input)
        self.params = dict(params or {})
        self.batch_size = int(batch_size)
        self.source: VideoSource = open_source(source, frames=frames, max_fps=max_fps, fps=fps)
        self.info = self.source.info
        self.drop_frames = self.info.is_live if drop_frames is None else bool(drop_frames)
        self.video_id = f"{uuid.uuid4().hex[:12]}"
        self.stats = VideoStats()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(2, queue_size or 2 * self.batch_size))
        self._stop = stop_event or threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._t0 = 0.0

    # --- control ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """End after the batch in progress (thread-safe; from a signal handler too)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        """Stop reading, release the source and drop the video's block state (idempotent)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._stop.set()
        while True:  # unblock the reader
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.source.close()
        self.stats.missing_frames = self.source.missing_frames
        if self._started:
            self.stats.seconds = time.perf_counter() - self._t0
        end_video(self.video_id)

    # --- reading -------------------------------------------------------------------------------

    def _put(self, item: Any) -> bool:
        """Queue ``item``; False once the stream is closed."""
        while not self._closed.is_set():
            if self.drop_frames and item is not _END and not isinstance(item, _Failure):
                try:
                    self._queue.put_nowait(item)
                    return True
                except queue.Full:
                    try:
                        self._queue.get_nowait()
                        self.stats.frames_dropped += 1
                    except queue.Empty:
                        pass
                    continue
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for item in self.source.frames():
                if self._stop.is_set():
                    break
                self.stats.frames_read += 1
                if not self._put(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(_Failure(exc))
            return
        self._put(_END)

    def _get(self) -> Any:
        while True:
            try:
                return self._queue.get(timeout=_POLL)
            except queue.Empty:
                if self._thread is not None and not self._thread.is_alive() and self._queue.empty():
                    return _END

    def _next_batch(self) -> tuple[list[tuple[int, float, np.ndarray]], bool]:
        batch: list[tuple[int, float, np.ndarray]] = []
        ended = False
        while len(batch) < self.batch_size:
            if batch and self.drop_frames:
                try:
                    item = self._queue.get_nowait()  # live: take what is there, do not wait
                except queue.Empty:
                    break
            else:
                item = self._get()
            if item is _END:
                ended = True
                break
            if isinstance(item, _Failure):
                exc = item.exc
                if isinstance(exc, VideoSourceError):
                    raise exc
                raise VideoSourceError(f"reading '{self.info.name}' failed after frame "
                                       f"{self.stats.frames_read}: {type(exc).__name__}: {exc}") from exc
            batch.append(item)
        return batch, ended

    # --- running -------------------------------------------------------------------------------

    def _frames(self, batch: list[tuple[int, float, np.ndarray]]) -> list[VideoFrame]:
        live = self.info.is_live
        out = []
        for number, timestamp, bgr in batch:
            metadata = VideoMetadata(self.video_id, int(number), float(timestamp),
                                     float(self.info.fps), not live)
            image = WorkflowImageData(numpy_image=bgr, parent_id=f"{self.video_id}-{number}",
                                      file_name=self.info.name if self.info.kind == "file" else None,
                                      video_metadata=metadata)
            out.append(VideoFrame(image, metadata))
        return out

    def __iter__(self) -> Iterator[tuple[VideoFrame, dict[str, Any]]]:
        if self._started:
            raise RuntimeError("a VideoStream runs once; call depthgraph.video.stream(workflow, ...) again")
        self._started = True
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._read, name="depthgraph-video-reader", daemon=True)
        self._thread.start()
        try:
            ended = False
            while not ended and not self._stop.is_set():
                batch, ended = self._next_batch()
                if not batch:
                    break
                frames = self._frames(batch)
                inputs = dict(self.params)
                inputs[self.image_input] = [f.image for f in frames]
                results = self.workflow.run_inputs(inputs)
                for frame, result in zip(frames, results):
                    self.stats.frames_processed += 1
                    yield frame, result
                self.stats.seconds = time.perf_counter() - self._t0
            self.stats.interrupted = self._stop.is_set() and not ended
            if self.stats.frames_processed == 0 and not self.stats.interrupted:
                raise VideoSourceError(f"'{self.info.name}': no frame could be read"
                                       + (" in the range asked for" if self.source.start or self.source.end else ""))
        finally:
            self.close()


def preview_available() -> tuple[bool, str]:
    """(True, "") when OpenCV can open a window here; else (False, why)."""
    import os
    import sys

    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no display (DISPLAY is not set)"
    try:
        cv2.namedWindow("depthgraph", cv2.WINDOW_NORMAL)
    except cv2.error:
        return False, "this OpenCV build has no GUI (opencv-python-headless); install opencv-python for --preview"
    return True, ""


def _first_image(result: dict[str, Any]) -> np.ndarray | None:
    for value in result.values():
        if isinstance(value, WorkflowImageData):
            return value.numpy_image
    return None


def run_video(workflow: Workflow, source: Any, *, on_frame: Callable[[VideoFrame, dict[str, Any]], Any] | None = None,
              output_dir: str | Path | None = None, ply_every: int = 0, codec: str = "auto",
              preview: bool = False,
              on_progress: Callable[[VideoStats, SourceInfo], Any] | None = None,
              confined: bool = False, **stream_options: Any) -> VideoRunSummary:
    """Run ``workflow`` over every frame of ``source``; see :class:`VideoStream` for the options.

    Args:
        on_frame: called as ``on_frame(frame, result)`` for every frame, in order, on the writer
            thread (so a slow callback overlaps with inference; an exception in it stops the run
            and is raised here).
        output_dir: write ``<image output>.mp4``, ``results.jsonl`` (one line per frame),
            point clouds as PLY (``ply_every``) and ``video.json`` there.
        ply_every: write point-cloud outputs as PLY every this many frames (0: never).
        codec: ``auto`` (H.264 through PyAV when installed, else mp4v), ``h264`` or ``mp4v``.
        preview: show the first image output in a window (only where a display exists).
        on_progress: called as ``on_progress(stats, source_info)`` after each batch (main thread).
        confined: file-writing blocks may write only under ``output_dir`` (what ``depthgraph
            run --video`` asks for; see ``depthgraph.output_root.writing_under``).

    Files are always closed properly: when the run is stopped (``stop_event``), fails or is
    interrupted, what was processed is in a playable MP4 and a valid JSON Lines file.
    """
    stream = VideoStream(workflow, source, **stream_options)
    writer = None
    if output_dir is not None:
        try:
            writer = VideoOutputWriter(output_dir, fps=stream.info.output_fps or stream.info.fps,
                                       ply_every=ply_every, codec=codec)
        except BaseException:
            stream.close()  # release a camera or stream opened above
            raise
    show = False
    if preview:
        show, why = preview_available()
        if not show:
            import warnings

            warnings.warn(f"preview disabled: {why}", stacklevel=2)
    outbox: queue.Queue[Any] = queue.Queue(maxsize=2 * stream.batch_size + 2)
    failure: list[BaseException] = []

    def write_loop() -> None:
        while True:
            item = outbox.get()
            if item is _END:
                return
            if failure:
                continue  # keep draining so the producer never blocks
            frame, result = item
            try:
                if writer is not None:
                    writer.write(frame.metadata, result)
                if on_frame is not None:
                    on_frame(frame, result)
                if show:
                    picture = _first_image(result)
                    if picture is not None:
                        import cv2

                        cv2.imshow("depthgraph", picture)
                        cv2.waitKey(1)
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                failure.append(exc)
                stream.stop()

    thread = threading.Thread(target=write_loop, name="depthgraph-video-writer", daemon=True)
    thread.start()
    summary = VideoRunSummary(stream.info, stream.video_id, stream.stats,
                              Path(output_dir) if output_dir is not None else None)
    error: list[BaseException] = []
    confinement = contextlib.ExitStack()
    try:
        if confined and output_dir is not None:
            from depthgraph.output_root import writing_under

            confinement.enter_context(writing_under(output_dir))
        done = 0
        for frame, result in stream:
            outbox.put((frame, result))
            done += 1
            if on_progress is not None and (done % stream.batch_size == 0):
                on_progress(stream.stats, stream.info)
    except KeyboardInterrupt:
        stream.stats.interrupted = True
        raise
    except BaseException as exc:
        error.append(exc)
        raise
    finally:
        stream.close()
        outbox.put(_END)
        thread.join()
        confinement.close()
        if show:
            import cv2

            cv2.destroyAllWindows()
        if writer is not None:
            body = summary.to_dict()
            failed = (error or failure or [None])[0]
            if failed is None and stream.stats.frames_processed == 0:
                failed = VideoSourceError(f"no frame could be read from '{stream.info.name}'")
            # a reader of video.json can tell a finished run from a failed or interrupted one
            body["complete"] = failed is None and not stream.stats.interrupted
            if failed is not None:
                body["error"] = " ".join(str(failed).split())[:500] or type(failed).__name__
            summary.files = writer.close(body)
    if failure:
        raise failure[0]
    if on_progress is not None:
        on_progress(stream.stats, stream.info)
    return summary


def stream(workflow: Workflow, source: Any, **options: Any) -> VideoStream:
    """``for frame, result in stream(workflow, source): ...``; see :class:`VideoStream`."""
    return VideoStream(workflow, source, **options)


__all__ = ["VideoFrame", "VideoRunSummary", "VideoStats", "VideoStream", "preview_available", "run_video", "stream"]
