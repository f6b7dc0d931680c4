"""Per-video state for blocks that remember earlier frames (trackers, stabilisers, smoothers).

A block that needs memory across the frames of a video owns one :class:`VideoStateStore` and asks
it for the state of the video a frame belongs to::

    class MyBlock(WorkflowBlock):
        def __init__(self, manifest=None):
            super().__init__(manifest)
            self.states = VideoStateStore(idle_seconds=60.0)

        def run(self, image, **_):
            state = self.states.get(image.video_metadata, factory=MyState)
            if state is None:          # a still image: no video, no memory
                ...

Rules the store keeps:

- **Keyed by video.** The key is ``VideoMetadata.video_identifier``; each video run gets its own
  identifier, so two videos running through one compiled workflow at once never share state.
- **Created on the first frame** by calling ``factory()`` (under the store's lock, once per video).
- **Dropped when the video ends**: the video pipeline calls :func:`end_video` when a source is
  exhausted, stopped or fails, which drops that video's state from every live store; and
  **after ``idle_seconds`` without frames** (checked whenever the store is used), so a caller that
  never signals the end does not leak memory.
- **Thread-safe**: ``get``/``drop`` take a lock. The state object itself is used by one video's
  frames, which a pipeline runs in order; a block that shares a state object across threads in
  another way must lock it itself.

The engine knows no block by name: it only ever calls :func:`end_video`.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

T = TypeVar("T")

#: Default idle time (seconds) after which a video's state is dropped.
DEFAULT_IDLE_SECONDS = 300.0

_STORES: "weakref.WeakSet[VideoStateStore]" = weakref.WeakSet()
_STORES_LOCK = threading.Lock()


@dataclass
class _Entry:
    state: Any
    last_used: float


def _video_key(video: Any) -> str | None:
    """A video identifier from a VideoMetadata, an image carrying one, or a plain string."""
    if video is None:
        return None
    if isinstance(video, str):
        return video
    metadata = getattr(video, "video_metadata", None)
    if metadata is not None:
        video = metadata
    key = getattr(video, "video_identifier", None)
    return str(key) if key is not None else None


class VideoStateStore:
    """Video identifier -> one state object, created on first use and dropped at the end.

    Args:
        idle_seconds: drop a video's state when no frame of it has asked for it for this long.
        clock: a monotonic clock (seconds); tests pass their own.
    """

    def __init__(self, idle_seconds: float = DEFAULT_IDLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if idle_seconds <= 0:
            raise ValueError(f"idle_seconds must be positive, got {idle_seconds}")
        self.idle_seconds = float(idle_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        with _STORES_LOCK:
            _STORES.add(self)

    def get(self, video: Any, factory: Callable[[], T]) -> T | None:
        """The state of ``video`` (a VideoMetadata, an image with one, or an identifier).

        Creates it with ``factory()`` on the video's first frame. Returns None when ``video``
        carries no video identifier (a still image): the caller then runs without memory.
        """
        key = _video_key(video)
        if key is None:
            return None
        now = self._clock()
        with self._lock:
            self._expire(now)
            entry = self._entries.get(key)
            if entry is None:
                entry = _Entry(factory(), now)
                self._entries[key] = entry
            entry.last_used = now
            return entry.state

    def drop(self, video: Any) -> bool:
        """Forget the state of ``video``; True when there was one."""
        key = _video_key(video)
        with self._lock:
            return self._entries.pop(key, None) is not None if key is not None else False

    def videos(self) -> list[str]:
        """Identifiers of the videos holding state now (idle ones expired first)."""
        with self._lock:
            self._expire(self._clock())
            return list(self._entries)

    def __len__(self) -> int:
        return len(self.videos())

    def _expire(self, now: float) -> None:
        stale = [k for k, e in self._entries.items() if now - e.last_used > self.idle_seconds]
        for key in stale:
            del self._entries[key]


def end_video(video: Any) -> int:
    """Drop ``video``'s state from every live store; returns how many stores held some.

    Called by the video pipeline when a source ends (normally, stopped or failed).
    """
    with _STORES_LOCK:
        stores = list(_STORES)
    return sum(1 for store in stores if store.drop(video))


__all__ = ["DEFAULT_IDLE_SECONDS", "VideoStateStore", "end_video"]
