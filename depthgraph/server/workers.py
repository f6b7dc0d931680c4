"""Inference slots: a thread pool whose busy count stays true after a request times out.

A request that passes its time limit gets a 504 at once, but Python cannot stop a thread, so its
work is stopped at the next step boundary instead (the executor's deadline is the request's
deadline, counted from when the request arrived, time spent queued included). Until that work
really ends it keeps its slot: ``in_flight`` counts it, new requests beyond ``workers +
max_queued`` are refused with 503, and ``/info`` shows how many timed-out runs are still
finishing (``abandoned``). A request still waiting in the queue when its time runs out is
dropped without running.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable


class SlotsFull(Exception):
    """Every worker is busy and the queue is full."""


class RequestExpired(Exception):
    """The request's time ran out before its work started (it waited in the queue)."""


class InferenceSlots:
    """``workers`` threads and at most ``max_queued`` waiting requests, counted honestly."""

    def __init__(self, workers: int, max_queued: int) -> None:
        self.workers = max(1, int(workers))
        self.capacity = self.workers + max(0, int(max_queued))
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="depthgraph-infer")
        self._lock = threading.Lock()
        self.in_flight = 0  # submitted and not yet finished (queued, running, or abandoned)
        self.running = 0
        self.abandoned = 0  # timed out for the client, still running until the next step boundary
        self.completed = 0
        self.timed_out = 0
        self.ran = 0  # jobs whose work actually started (a queued job may expire unrun)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"workers": self.workers, "capacity": self.capacity, "in_flight": self.in_flight,
                    "running": self.running, "queued": max(0, self.in_flight - self.running),
                    "abandoned": self.abandoned, "completed": self.completed,
                    "timed_out": self.timed_out, "ran": self.ran}

    def _submit(self, fn: Callable[[float], Any], deadline: float) -> tuple[Future, dict[str, bool]]:
        state = {"started": False, "abandoned": False}

        def job() -> Any:
            with self._lock:
                state["started"] = True
                self.running += 1
            try:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RequestExpired()
                with self._lock:
                    self.ran += 1
                return fn(left)
            finally:
                with self._lock:
                    self.running -= 1

        with self._lock:
            if self.in_flight >= self.capacity:
                raise SlotsFull()
            self.in_flight += 1
        try:
            future = self.pool.submit(job)
        except BaseException:
            with self._lock:
                self.in_flight -= 1
            raise

        def release(_: Future) -> None:
            with self._lock:
                self.in_flight -= 1
                self.completed += 1
                if state["abandoned"]:
                    self.abandoned -= 1

        future.add_done_callback(release)
        return future, state

    async def run(self, fn: Callable[[float], Any], timeout_s: float) -> Any:
        """Run ``fn(seconds_left)`` in a worker; :class:`asyncio.TimeoutError` after ``timeout_s``.

        ``fn`` must stop by itself once its seconds are spent (the executor checks its deadline
        between steps); the slot stays taken until it does.
        """
        deadline = time.monotonic() + timeout_s
        future, state = self._submit(fn, deadline)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout_s)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            cancelled = future.cancel()  # still queued: it never runs, and frees its slot now
            with self._lock:
                self.timed_out += 1
                if not cancelled and not future.done():
                    state["abandoned"] = True
                    self.abandoned += 1
            raise

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
