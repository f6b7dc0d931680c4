"""The server as a real uvicorn process on 127.0.0.1: concurrent requests, then stopped."""

from __future__ import annotations

import platform
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from depthgraph.engine.serialization import array_from_json

from cli_helpers import b64, fake_depth_workflow, gradient_image, plugin_env, serve_process


def test_uvicorn_process_answers_concurrent_requests(tmp_path):
    server = serve_process(["--workers", "2"],
                           env=plugin_env(DEPTHGRAPH_API_KEY="k3y",
                                          DEPTHGRAPH_WEIGHTS_DIR=str(tmp_path)))
    with server as (base, process):
        images = [gradient_image(32, 16, seed=i) for i in range(12)]

        def post(image):
            body = {"specification": fake_depth_workflow(), "api_key": "k3y",
                    "inputs": {"image": {"type": "base64", "value": b64(image)}}}
            return httpx.post(f"{base}/workflows/run", json=body, timeout=60)

        with ThreadPoolExecutor(max_workers=6) as pool:
            responses = list(pool.map(post, images))
        assert [r.status_code for r in responses] == [200] * len(images)
        for image, response in zip(images, responses):
            (out,) = response.json()["outputs"]
            np.testing.assert_allclose(array_from_json(out["depth"]), 1 + image.mean(axis=2) / 255,
                                       atol=1e-5)
        refused = httpx.post(f"{base}/workflows/run", json={"specification": {}, "inputs": {}})
        assert refused.status_code == 401
        info = httpx.get(f"{base}/info", headers={"Authorization": "Bearer k3y"}).json()
        assert info["cached_workflows"] == 1
        if sys.platform == "linux" and platform.libc_ver()[0] == "glibc":
            # `depthgraph serve` asks for one malloc arena before its inference threads start
            assert info["malloc_tuning"]["single_arena"] is True
    assert process.returncode is not None
