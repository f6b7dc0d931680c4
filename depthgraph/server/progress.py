"""Step progress of a run, streamed to the caller as Server-Sent Events.

A client that wants progress picks a run id (8-64 letters, digits, ``-`` or ``_``; a random UUID
does), opens ``GET /workflows/runs/{run_id}/events`` and posts the usual ``POST /workflows/run``
with the header ``X-Depthgraph-Run-Id: <run id>``. The run answers exactly as without the header
(Roboflow clients never send it); the stream carries:

- ``event: step`` with ``{"phase": "started"|"finished", "step", "block_type", "index", "total",
  "seconds"}`` (:class:`depthgraph.engine.progress.StepEvent`) as each step starts and finishes;
- ``event: end`` with ``{"status": "ok"|"error"|"unknown"}`` when the request is over (``unknown``:
  no run with that id arrived within :data:`WAIT_FOR_RUN_S`), then the stream closes.

Events are kept per run while it runs and then until its stream has been read to the end or for
:data:`KEEP_S` seconds, so a stream opened just after the run started still gets every event. At most
:data:`MAX_RUNS` runs are tracked at once (the oldest is dropped first). The stream needs the API
key when the server has one, like the run itself.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import AsyncIterator, Iterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from depthgraph.engine.progress import StepCallback, StepEvent
from depthgraph.server.auth import require_key
from depthgraph.server.errors import ServerError

RUN_ID_HEADER = "x-depthgraph-run-id"
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_RUNS = 256
KEEP_S = 120.0
WAIT_FOR_RUN_S = 15.0
POLL_S = 0.05


class _Run:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.status: str | None = None  # set when the request is over
        self.created = time.monotonic()
        self.ended: float | None = None

    def expired(self, now: float, keep_s: float) -> bool:
        """Over for ``keep_s`` seconds (a run still going is kept, up to a day)."""
        return (self.ended is not None and now - self.ended > keep_s) or now - self.created > 86400


class RunProgress:
    """The runs being tracked: events appended by worker threads, read by the event streams."""

    def __init__(self, max_runs: int = MAX_RUNS, keep_s: float = KEEP_S,
                 wait_s: float = WAIT_FOR_RUN_S) -> None:
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._lock = threading.Lock()
        self.max_runs = max_runs
        self.keep_s = keep_s
        self.wait_s = wait_s

    def _get(self, run_id: str, create: bool) -> _Run | None:
        with self._lock:
            now = time.monotonic()
            for key in [k for k, r in self._runs.items() if r.expired(now, self.keep_s)]:
                del self._runs[key]
            run = self._runs.get(run_id)
            if run is None and create:
                run = self._runs[run_id] = _Run()
                while len(self._runs) > self.max_runs:
                    self._runs.popitem(last=False)
            return run

    @contextmanager
    def track(self, run_id: str) -> Iterator[StepCallback]:
        """A step callback recording events for ``run_id``; the run ends when the block exits."""
        run = self._get(run_id, create=True)
        assert run is not None

        def report(event: StepEvent) -> None:
            with self._lock:
                run.events.append(json.dumps(event.to_dict()))

        try:
            yield report
        except BaseException:
            run.status = "error"
            raise
        else:
            run.status = "ok"
        finally:
            run.ended = time.monotonic()

    async def stream(self, run_id: str) -> AsyncIterator[bytes]:
        """The SSE stream of ``run_id``: step events as they come, then ``end``."""
        yield b": progress of run " + run_id.encode() + b"\n\n"
        waited = 0.0
        sent = 0
        while True:
            run = self._get(run_id, create=False)
            if run is None:
                if waited >= self.wait_s:
                    yield b'event: end\ndata: {"status": "unknown"}\n\n'
                    return
                await asyncio.sleep(POLL_S)
                waited += POLL_S
                continue
            with self._lock:
                fresh = run.events[sent:]
                status = run.status
            for data in fresh:
                yield f"event: step\ndata: {data}\n\n".encode()
            sent += len(fresh)
            if status is not None and sent == len(run.events):
                yield f'event: end\ndata: {{"status": "{status}"}}\n\n'.encode()
                with self._lock:
                    self._runs.pop(run_id, None)
                return
            await asyncio.sleep(POLL_S)


def _progress(request: Request) -> RunProgress:
    state = request.app.state
    if getattr(state, "run_progress", None) is None:
        state.run_progress = RunProgress()
    return state.run_progress


def _checked(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise ServerError(400, "run id: 8 to 64 letters, digits, '-' or '_' (a UUID will do)",
                          "InvalidRunId", "run id")
    return run_id


def step_reporter(request: Request) -> Iterator[StepCallback | None]:
    """FastAPI dependency of ``POST /workflows/run``: the ``on_step`` callback for the run id in
    the ``X-Depthgraph-Run-Id`` header, or None without the header."""
    run_id = request.headers.get(RUN_ID_HEADER)
    if run_id is None:
        yield None
        return
    with _progress(request).track(_checked(run_id)) as report:
        yield report


router = APIRouter()


@router.get("/workflows/runs/{run_id}/events", dependencies=[Depends(require_key)])
async def run_events(run_id: str, request: Request) -> StreamingResponse:
    """Server-Sent Events: each step of run ``run_id`` starting and finishing, then ``end``."""
    stream = _progress(request).stream(_checked(run_id))
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


__all__ = ["RUN_ID_HEADER", "RunProgress", "router", "step_reporter"]
