"""Keep freed tensor memory in the process on glibc, so the next forward pass reuses it.

A forward pass allocates and frees tens of tensors of several MiB each. By default glibc hands
blocks above its (adaptive) mmap threshold back to the kernel on ``free`` and trims the heap top,
so the next pass gets fresh pages and pays a page fault for every 4 KiB of them: measured here,
6,000 to 18,000 faults and 10 to 60 ms of kernel time per DA3-small pass at 504 px, on a
2-core CPU. Raising the mmap and trim thresholds keeps that memory mapped: 0 faults per pass, for
about 50 MiB more resident memory in steady state.

This is what a preloaded jemalloc or tcmalloc would do; it needs no environment set up before
Python starts. It changes a process-wide setting, once, when a model is loaded for the CPU.

Threads other than the main one allocate from their own glibc arenas, whose heaps are at most
64 MiB and are unmapped when empty, so the thresholds alone do not help a model run in a worker
thread. ``depthgraph serve``, which runs inference in a thread pool, also asks for a single arena
(``single_arena=True``) before it starts any thread; a library call never does that, since it
would make every thread of the host program share one malloc lock.

Opt out with ``DEPTHGRAPH_MALLOC_TUNING=0``; it is also skipped where the user already set
glibc's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` variables, and on anything
but Linux with glibc.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
import threading

log = logging.getLogger(__name__)

#: ``mallopt`` parameter numbers from glibc's ``<malloc.h>``
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

#: blocks below this come from the heap (above it, glibc maps them on their own as before)
MMAP_THRESHOLD_BYTES = 512 << 20
#: free memory at the heap top beyond this is returned to the kernel
TRIM_THRESHOLD_BYTES = 1 << 30

ENV_SWITCH = "DEPTHGRAPH_MALLOC_TUNING"

_lock = threading.Lock()
_state: bool | None = None  # None: not tried yet; True: applied; False: skipped or failed
_single_arena = False


def _skip_reason() -> str | None:
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in {"0", "false", "no", "off"}:
        return f"{ENV_SWITCH} is off"
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return "not Linux with glibc"
    for var in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        if var in os.environ:
            return f"{var} is set by the user"
    return None


def _mallopt(*settings: tuple[int, int]) -> bool:
    """``mallopt(param, value)`` for each pair; True when glibc accepted them all."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return all([bool(libc.mallopt(param, value)) for param, value in settings])
    except (OSError, AttributeError) as exc:  # pragma: no cover - exotic libc builds
        log.debug("mallopt unavailable: %s", exc)
        return False


def retain_freed_memory(single_arena: bool = False) -> bool:
    """Apply the thresholds once per process; return whether they are in force.

    ``single_arena``: also make every thread allocate from the main arena (call it before the
    process starts its worker threads).
    """
    global _state, _single_arena
    with _lock:
        reason = _skip_reason()
        if single_arena and not _single_arena and reason is None:
            _single_arena = _mallopt((M_ARENA_MAX, 1))
        if _state is not None:
            return _state
        if reason is not None:
            log.debug("malloc tuning skipped: %s", reason)
            _state = False
            return False
        _state = _mallopt((M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
        log.debug("malloc tuning %s", "applied" if _state else "refused by mallopt")
        return _state


def status() -> dict[str, bool | None]:
    """What is in force: ``retain_freed_memory`` (None until a CPU model was loaded) and
    ``single_arena``."""
    with _lock:
        return {"retain_freed_memory": _state, "single_arena": _single_arena}
