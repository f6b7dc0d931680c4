"""HTTP overhead of the server: a real uvicorn on 127.0.0.1, a block that does nothing.

Run: ``python benchmarks/bench_server.py`` (``--requests N``, ``--clients C``).

Timed: ``/healthz`` round trips, and ``POST /workflows/run`` with one 640x480 JPEG through a
pass-through block (base64 decode, header check, image decode, compiled-workflow cache lookup,
engine run, JPEG encode of the output, JSON) sequentially and from C client threads at once.
The model is not involved: see ``benchmarks/bench_engine.py`` and the model benchmarks for that.
"""

from __future__ import annotations

import argparse
import base64
import platform
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import cv2
import httpx
import numpy as np
import uvicorn

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.kinds import IMAGE_KIND
from depthgraph.engine.registry import load_registry
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector
from depthgraph.server import ServerSettings, create_app


class EchoManifest(BlockManifest):
    type: Literal["bench/echo@v1"]
    image: Selector([IMAGE_KIND])  # type: ignore[valid-type]

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="image", kind=[IMAGE_KIND])]


class EchoBlock(WorkflowBlock):
    manifest_class = EchoManifest

    def run(self, image: Any) -> dict[str, Any]:
        return {"image": image}


SPEC = {
    "version": "1.0",
    "inputs": [{"type": "WorkflowImage", "name": "image"}],
    "steps": [{"type": "bench/echo@v1", "name": "echo", "image": "$inputs.image"}],
    "outputs": [{"type": "JsonField", "name": "image", "selector": "$steps.echo.image"}],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _report(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(f"{name:<42} median {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms   (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    registry = load_registry(entry_points=False, env=False, blocks=[EchoBlock])
    settings = ServerSettings(port=_free_port(), inference_workers=2)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, registry=registry),
                                           host="127.0.0.1", port=settings.port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{settings.port}"
    while not server.started:
        time.sleep(0.05)

    rng = np.random.RandomState(0)
    image = cv2.GaussianBlur(rng.randint(0, 255, (480, 640, 3), dtype=np.uint8), (9, 9), 3)
    payload = base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes()).decode()
    body = {"specification": SPEC, "inputs": {"image": {"type": "base64", "value": payload}}}
    print(f"python {platform.python_version()}, {platform.machine()}, "
          f"request body {len(payload) / 1024:.0f} KiB (640x480 JPEG)")

    with httpx.Client(timeout=60) as client:
        assert client.post(f"{base}/workflows/run", json=body).status_code == 200  # warm-up
        health = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            client.get(f"{base}/healthz")
            health.append(time.perf_counter() - t0)
        _report("GET /healthz", health)
        runs = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            assert client.post(f"{base}/workflows/run", json=body).status_code == 200
            runs.append(time.perf_counter() - t0)
        _report("POST /workflows/run, sequential", runs)

    local = threading.local()  # one client per thread: creating one (SSL context) costs ~30 ms

    def one(_: int) -> float:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=60)
        t0 = time.perf_counter()
        assert local.client.post(f"{base}/workflows/run", json=body).status_code == 200
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        concurrent = list(pool.map(one, range(args.requests)))
    wall = time.perf_counter() - t0
    _report(f"POST /workflows/run, {args.clients} clients", concurrent)
    print(f"{'throughput with ' + str(args.clients) + ' clients':<42} "
          f"{args.requests / wall:7.1f} requests/s")
    server.should_exit = True
    thread.join(timeout=10)


if __name__ == "__main__":
    main()
