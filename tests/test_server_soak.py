"""Soak test (issue 9): a real ``depthgraph serve`` on 127.0.0.1, several clients, mixed good and
bad requests, bounded in time and count.

Checks: every request is answered (no connection error, no client timeout), good requests give
200, client mistakes give their 4xx and never a 5xx, ``/healthz`` answers throughout, and the
server's RSS after the run is within 5 % of its RSS after the warm-up. Prints the figures
(requests, answers by status, RSS, latency percentiles).

``DEPTHGRAPH_SOAK_SECONDS`` (default 40) sets the measured phase; the warm-up is a third of it;
``DEPTHGRAPH_SOAK_CLIENTS`` (default 4) the number of clients (the issue 19 figures use 16 for 120 s).
Bad requests include strangers (a wrong header key, a 1 MB body of tiny objects with a wrong key
in it), a body of too many objects and a format-bomb property.
The workflows use the numpy-only test blocks of ``cli_helpers`` and built-in blocks (colour map,
point cloud), so the figures are about the server, not the DA3 model.
"""

from __future__ import annotations

import base64
import os
import random
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from cli_helpers import b64, fake_depth_workflow, gradient_image, plugin_env, serve_process
from hardening_helpers import echo_workflow, png_header_only

SECONDS = float(os.environ.get("DEPTHGRAPH_SOAK_SECONDS", "40"))
CLIENTS = int(os.environ.get("DEPTHGRAPH_SOAK_CLIENTS", "4"))
KEY = "soak-key"

pytestmark = pytest.mark.slow


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _chain() -> dict[str, Any]:
    spec = fake_depth_workflow(with_param=False)
    spec["steps"] = spec["steps"] + [
        {"type": "depthgraph/depth_colormap@v1", "name": "cm", "depth": "$steps.fake.depth",
         "image": "$inputs.image", "alpha": 0.5},
        {"type": "depthgraph/point_cloud_projection@v1", "name": "pc", "depth": "$steps.fake.depth",
         "image": "$inputs.image", "stride": 2}]
    spec["outputs"] = [{"type": "JsonField", "name": "colour", "selector": "$steps.cm.image"},
                       {"type": "JsonField", "name": "cloud", "selector": "$steps.pc.point_cloud"},
                       {"type": "JsonField", "name": "depth", "selector": "$steps.fake.depth"}]
    return spec


def _requests() -> list[tuple[str, int, dict[str, Any]]]:
    """(label, expected status, JSON body) for POST /workflows/run."""
    images = [b64(gradient_image(160 + 8 * i, 120, seed=i)) for i in range(4)]
    deep: Any = 0
    for _ in range(200):
        deep = [deep]
    bomb = base64.b64encode(png_header_only(30000, 30000)).decode()
    good = [
        ("fake", 200, {"specification": fake_depth_workflow(), "inputs": {"image": images[0]}}),
        ("fake-list", 200, {"specification": fake_depth_workflow(), "array_format": "list",
                            "inputs": {"image": {"type": "base64", "value": images[1]}}}),
        ("chain", 200, {"specification": _chain(), "include_points": True,
                        "inputs": {"image": images[2]}}),
        ("batch", 200, {"specification": _chain(), "array_format": "png16",
                        "inputs": {"image": images[:3]}}),
    ]
    bad = [
        ("bad-base64", 400, {"specification": fake_depth_workflow(),
                             "inputs": {"image": {"type": "base64", "value": "@@@"}}}),
        ("deep", 400, {"specification": echo_workflow(), "inputs": {"value": deep}}),
        ("bomb", 413, {"specification": fake_depth_workflow(), "inputs": {"image": bomb}}),
        ("unknown-block", 400, {"specification": {"version": "1.0", "inputs": [], "outputs": [],
                                                  "steps": [{"type": "x/y@v1", "name": "s"}]}}),
        ("bad-param", 400, {"specification": {
            "version": "1.0", "inputs": [{"type": "WorkflowParameter", "name": "d"}],
            "steps": [{"type": "depthgraph/depth_colormap@v1", "name": "cm", "depth": "$inputs.d"}],
            "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.cm.image"}]},
            "inputs": {"d": [1, [2, 3]]}}),
        ("sink", 403, {"specification": {
            "version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": [{"type": "test_cli/fake_depth@v1", "name": "f", "image": "$inputs.image"},
                      {"type": "depthgraph/point_cloud_export@v1", "name": "e",
                       "point_cloud": "$steps.f.cloud", "output_directory": "/etc"}],
            "outputs": [{"type": "JsonField", "name": "p", "selector": "$steps.e.file_path"}]},
            "inputs": {"image": images[0]}}),
        ("too-many", 413, {"specification": fake_depth_workflow(),
                           "inputs": {"image": [images[0]] * 17}}),
        ("wrong-key", 401, {"specification": fake_depth_workflow(), "api_key": 12345,
                            "inputs": {"image": images[0]}}),
        ("wrong-key-stranger", 401, {"api_key": "wrong", "x": [{}] * 300_000}),
        ("wrong-header-key", 401, {"specification": fake_depth_workflow(),
                                   "inputs": {"image": images[0]}}),
        ("too-many-elements", 413, {"specification": echo_workflow(),
                                    "inputs": {"value": [[]] * 250_000}}),
        ("format-bomb", 400, {"specification": {
            "version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": [{"type": "depthgraph/label_visualization@v1", "name": "l",
                       "image": "$inputs.image", "predictions": "$inputs.image",
                       "data_format": "{:>1500000000}"}],
            "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.l.image"}]},
            "inputs": {"image": images[0]}}),
    ]
    return good + bad


def test_soak_mixed_clients_memory_stays_flat(tmp_path):
    import json

    base = ""  # set once the server answers
    catalogue = [(label, expected, json.dumps(body).encode()) for label, expected, body in _requests()]
    answers: Counter = Counter()
    wrong: list[str] = []
    lost: list[str] = []
    latencies: list[float] = []
    health: list[tuple[int, float]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(seed: int, until: float) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=60) as http:
            while time.monotonic() < until:
                label, expected, body = rng.choice(catalogue)
                headers = ({} if label.startswith("wrong-key") else
                           {"X-API-Key": "wrong"} if label == "wrong-header-key" else
                           {"X-API-Key": KEY})
                headers["Content-Type"] = "application/json"
                started = time.perf_counter()
                try:
                    response = http.post("/workflows/run", content=body, headers=headers)
                except httpx.HTTPError as exc:
                    with lock:
                        lost.append(f"{label}: {type(exc).__name__}: {exc}")
                    continue
                with lock:
                    latencies.append(time.perf_counter() - started)
                    answers[response.status_code] += 1
                    if response.status_code != expected:
                        wrong.append(f"{label}: {response.status_code} {response.text[:200]}")

    def poll_health() -> None:
        with httpx.Client(base_url=base, timeout=10) as http:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    status = http.get("/healthz").status_code
                except httpx.HTTPError:
                    status = 0
                health.append((status, time.perf_counter() - started))
                stop.wait(0.2)

    def phase(seconds: float, seed: int) -> int:
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=client, args=(seed + i, until)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 120)
        assert not any(t.is_alive() for t in threads), "a client hung"
        return sum(answers.values())

    server = serve_process(["--workers", "1"], cwd=tmp_path,
                           env=plugin_env(DEPTHGRAPH_API_KEY=KEY,
                                          DEPTHGRAPH_WEIGHTS_DIR=str(tmp_path / "w")))
    with server as (base, process):
        try:
            poller = threading.Thread(target=poll_health)
            poller.start()
            rss_start = _rss_bytes(process.pid)
            warm_count = phase(max(10.0, SECONDS / 3), seed=0)
            time.sleep(1.0)
            rss_warm = _rss_bytes(process.pid)
            answers.clear()
            latencies.clear()
            wrong.clear()
            count = phase(SECONDS, seed=100)
            time.sleep(1.0)
            rss_after = _rss_bytes(process.pid)
            stop.set()
            poller.join(timeout=20)
            info = httpx.get(f"{base}/info", headers={"X-API-Key": KEY}).json()
        finally:
            stop.set()

    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] if ordered else float("nan")
    p95 = ordered[int(len(ordered) * 0.95)] if ordered else float("nan")
    health_ok = sum(1 for s, _ in health if s == 200)
    health_max = max((d for _, d in health), default=float("nan"))
    print(f"\nsoak: {CLIENTS} clients, warm-up {warm_count} requests, measured {count} requests "
          f"in {SECONDS:g} s; answers by status {dict(sorted(answers.items()))}; "
          f"lost {len(lost)}; wrong {len(wrong)}")
    print(f"soak: RSS start {rss_start / 2**20:.1f} MiB, after warm-up {rss_warm / 2**20:.1f} MiB, "
          f"after {rss_after / 2**20:.1f} MiB ({100 * (rss_after - rss_warm) / rss_warm:+.2f} %)")
    print(f"soak: latency p50 {1000 * p50:.0f} ms, p95 {1000 * p95:.0f} ms; /healthz {health_ok} of "
          f"{len(health)} ok, slowest {1000 * health_max:.0f} ms; workers {info['workers']}")
    assert not lost, lost[:5]
    assert not wrong, wrong[:5]
    assert count > 0 and all(status < 500 for status in answers)
    assert health and health_ok == len(health)
    assert info["workers"]["in_flight"] == 0
    assert abs(rss_after - rss_warm) <= 0.05 * rss_warm, (rss_warm, rss_after)
    assert not list(tmp_path.glob("depthgraph_outputs/**/*.ply"))  # sinks stayed refused
