"""Worst-case server memory per request under the default limits (issue 9).

Starts ``depthgraph serve`` (default settings, recipe DA3-small weights) on 127.0.0.1, warms it up
with a small image, then sends one image at the default per-request pixel limit (40 MP, a JPEG)
through ``examples/workflows/depth_colormap.json`` in each ``array_format`` and prints, for each,
the status, the response size and the server's peak RSS (VmRSS sampled every 10 ms while the
request runs) over its RSS before the request. Freed memory stays mapped for reuse (the malloc
tuning), so the first large request shows the full growth; later ones reuse it.

    .venv/bin/python benchmarks/bench_request_memory.py [--side 6320] [--cases base64,png16:depth]

A case ``batchN/FORMAT[:excluded]`` sends N images of side/sqrt(N) instead (the same pixels in
all, at the per-request limit, but N images through the network at once).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(key)


class _PeakSampler:
    """The largest VmRSS of ``pid`` seen while the block runs (sampled every 10 ms)."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid, self.peak, self._stop = pid, _status(pid, "VmRSS"), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _status(self.pid, "VmRSS"))

    def __enter__(self) -> "_PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _image(side: int) -> bytes:
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    picture = np.stack([x * 255 / side, y * 255 / side, (x + y) * 127 / side], axis=2)
    picture += np.random.default_rng(0).normal(0, 6, picture.shape).astype(np.float32)
    ok, data = cv2.imencode(".jpg", np.clip(picture, 0, 255).astype(np.uint8),
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=6320, help="square image side (6320^2 = 39.9 MP)")
    parser.add_argument("--cases", default="base64,list,png16:normalized_depth,base64:normalized_depth+depth",
                        help="array_format[:excluded+fields] items, comma-separated")
    args = parser.parse_args()

    from depthgraph.models.depth_anything_v3.recipe import weights_folder_name, write_recipe_checkpoint

    work = Path(tempfile.mkdtemp(prefix="depthgraph-memory-"))
    write_recipe_checkpoint("small", work / "weights" / weights_folder_name("small"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, DEPTHGRAPH_WEIGHTS_DIR=str(work / "weights"), DEPTHGRAPH_DEVICE="cpu")
    server = subprocess.Popen([sys.executable, "-m", "depthgraph.cli", "serve", "--port", str(port),
                               "--log-level", "warning"], env=env, cwd=work)
    base = f"http://127.0.0.1:{port}"
    spec = json.loads((REPO / "examples" / "workflows" / "depth_colormap.json").read_text())
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        small = base64.b64encode(_image(256)).decode()
        warm = httpx.post(f"{base}/workflows/run", timeout=600,
                          json={"specification": spec, "inputs": {"image": small}})
        assert warm.status_code == 200, warm.text[:300]
        data = _image(args.side)
        encoded = base64.b64encode(data).decode()
        print(f"image: {args.side}x{args.side} = {args.side ** 2 / 1e6:.1f} MP, JPEG {len(data) / 2**20:.2f} "
              f"MiB; CPU: {os.cpu_count()} cores")
        batches: dict[int, list[str]] = {}
        for case in args.cases.split(","):
            array_format, _, excluded = case.partition(":")
            image_value: object = encoded
            if array_format.startswith("batch"):
                count_text, _, array_format = array_format[5:].partition("/")
                count = int(count_text)
                if count not in batches:
                    part = base64.b64encode(_image(int(args.side / count ** 0.5))).decode()
                    batches[count] = [part] * count
                image_value = batches[count]
            time.sleep(1.0)
            rss = _status(server.pid, "VmRSS")
            started = time.perf_counter()
            with _PeakSampler(server.pid) as sampler:
                response = httpx.post(f"{base}/workflows/run", timeout=900, json={
                    "specification": spec, "inputs": {"image": image_value},
                    "array_format": array_format,
                    "excluded_fields": [f for f in excluded.split("+") if f]})
            seconds = time.perf_counter() - started
            peak = sampler.peak
            print(f"{case:36s} status {response.status_code} response "
                  f"{len(response.content) / 2**20:8.1f} MiB  RSS before {rss / 2**20:7.0f} MiB  "
                  f"peak +{(peak - rss) / 2**20:6.0f} MiB (peak {peak / 2**20:6.0f})  "
                  f"{seconds:5.1f} s  {response.json().get('error_type', '') if response.status_code != 200 else ''}")
            del response
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
