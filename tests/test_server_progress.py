"""Step progress of a run as Server-Sent Events, from a real ``depthgraph serve`` process.

The run itself answers as before (with or without the run-id header); the event stream of that
run id carries each step starting and finishing, then ``end``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid

import httpx

from cli_helpers import plugin_env, serve_process, sleep_workflow

TWO_NAPS = {
    "version": "1.0",
    "inputs": [{"type": "WorkflowParameter", "name": "seconds", "default_value": 0.0}],
    "steps": [{"type": "test_cli/sleep@v1", "name": "first", "seconds": "$inputs.seconds"},
              {"type": "test_cli/sleep@v1", "name": "second", "seconds": "$inputs.seconds"}],
    "outputs": [{"type": "JsonField", "name": "done", "selector": "$steps.second.done"}],
}


def read_events(url: str, into: list[tuple[str, dict]], headers: dict | None = None) -> None:
    with httpx.stream("GET", url, timeout=60, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                into.append((event or "", json.loads(line[6:])))
                if event == "end":
                    return


def test_a_run_streams_its_steps_and_answers_as_before():
    with serve_process(env=plugin_env()) as (base, _):
        run_id = uuid.uuid4().hex
        events: list[tuple[str, dict]] = []
        reader = threading.Thread(target=read_events, args=(f"{base}/workflows/runs/{run_id}/events", events))
        reader.start()
        body = {"specification": TWO_NAPS, "inputs": {"seconds": 0.3}}
        with_id = httpx.post(f"{base}/workflows/run", json=body, timeout=60,
                             headers={"X-Depthgraph-Run-Id": run_id})
        reader.join(30)
        assert not reader.is_alive()
        plain = httpx.post(f"{base}/workflows/run", json=body, timeout=60)
        assert with_id.status_code == plain.status_code == 200
        assert with_id.json() == plain.json() == {"outputs": [{"done": True}]}
        steps = [(e["phase"], e["step"], e["index"], e["total"]) for kind, e in events if kind == "step"]
        assert steps == [("started", "first", 0, 2), ("finished", "first", 0, 2),
                         ("started", "second", 1, 2), ("finished", "second", 1, 2)]
        assert all(e["seconds"] >= 0.25 for k, e in events if k == "step" and e["phase"] == "finished")
        assert events[-1] == ("end", {"status": "ok"})

        # a failing request ends its stream with "error"; a bad run id is a 400 naming it
        run_id = uuid.uuid4().hex
        events = []
        reader = threading.Thread(target=read_events, args=(f"{base}/workflows/runs/{run_id}/events", events))
        reader.start()
        bad = httpx.post(f"{base}/workflows/run", timeout=60, headers={"X-Depthgraph-Run-Id": run_id},
                         json={"specification": sleep_workflow(), "inputs": {"nope": 1}})
        reader.join(30)
        assert bad.status_code == 400
        assert events[-1] == ("end", {"status": "error"})
        refused = httpx.get(f"{base}/workflows/runs/x/events", timeout=10)
        assert refused.status_code == 400 and "run id" in refused.json()["message"]
        refused = httpx.post(f"{base}/workflows/run", json=body, timeout=10, headers={"X-Depthgraph-Run-Id": "../x"})
        assert refused.status_code == 400 and refused.json()["error_type"] == "InvalidRunId"


def test_the_event_stream_needs_the_key_when_the_server_has_one():
    with serve_process(env=plugin_env(DEPTHGRAPH_API_KEY="k3y-k3y")) as (base, _):
        url = f"{base}/workflows/runs/{uuid.uuid4().hex}/events"
        assert httpx.get(url, timeout=10).status_code == 401


def test_a_stream_for_a_run_that_never_comes_ends_as_unknown():
    from depthgraph.server.progress import RunProgress

    async def collect() -> list[bytes]:
        return [chunk async for chunk in RunProgress(wait_s=0.2).stream("never-arrives")]

    chunks = asyncio.run(collect())
    assert chunks[-1] == b'event: end\ndata: {"status": "unknown"}\n\n'


def test_a_long_run_keeps_its_events_and_a_finished_one_expires():
    from depthgraph.engine.progress import StepEvent
    from depthgraph.server.progress import RunProgress

    progress = RunProgress(keep_s=0.0)
    with progress.track("long-run-1") as report:
        report(StepEvent("started", "s", "t", 0, 1))
        progress._runs["long-run-1"].created -= 3600  # an hour in: still running, still kept
        progress._get("other-run-1", create=True)
        assert progress._get("long-run-1", create=False) is not None
    progress._get("other-run-2", create=True)  # over (and kept for 0 s): dropped
    assert progress._get("long-run-1", create=False) is None
