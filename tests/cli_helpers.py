"""Shared helpers for the CLI and server tests: tiny numpy-only test blocks and images.

This module is also a depthgraph plugin (``DEPTHGRAPH_PLUGINS=cli_helpers`` with ``tests/`` on
``PYTHONPATH``): ``load_blocks()`` gives the blocks below.

- ``test_cli/fake_depth@v1``: an image -> a depth map (grey level), a derived image, a small
  coloured point cloud, the image mean; raises for images of width ``fail_width``.
- ``test_cli/sleep@v1``: sleeps ``seconds`` then gives ``done`` (for time limits and liveness).
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal, Union

import numpy as np
from pydantic import Field

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.kinds import (
    BOOLEAN_KIND,
    DEPTH_MAP_KIND,
    FLOAT_KIND,
    IMAGE_KIND,
    INTEGER_KIND,
    POINT_CLOUD_KIND,
)
from depthgraph.engine.values import DepthMap, PointCloud, WorkflowImageData
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent


class FakeDepthManifest(BlockManifest):
    type: Literal["test_cli/fake_depth@v1"]
    image: Selector(kind=[IMAGE_KIND])  # type: ignore[valid-type]
    fail_width: Union[Selector(kind=[INTEGER_KIND]), int] = Field(default=-1)  # type: ignore[valid-type]

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="depth", kind=[DEPTH_MAP_KIND]),
            OutputDefinition(name="inverted", kind=[IMAGE_KIND]),
            OutputDefinition(name="cloud", kind=[POINT_CLOUD_KIND]),
            OutputDefinition(name="mean", kind=[FLOAT_KIND]),
        ]


class FakeDepthBlock(WorkflowBlock):
    """depth = 1 + grey/255 (larger = brighter), per element."""

    manifest_class = FakeDepthManifest

    def run(self, image: WorkflowImageData, fail_width: int) -> dict[str, Any]:
        if image.width == fail_width:
            raise ValueError(f"refusing images {fail_width} pixels wide")
        grey = image.numpy_image.mean(axis=2).astype(np.float32)
        depth = 1.0 + grey / 255.0
        points = np.array([[0, 0, 1], [1, 0, 2], [0, 1, 3]], dtype=np.float32)
        colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
        return {
            "depth": DepthMap(values=depth, parent_id=image.parent_id),
            "inverted": image.derive(255 - image.numpy_image, "inverted"),
            "cloud": PointCloud(points=points, colors=colors, parent_id=image.parent_id),
            "mean": float(grey.mean()),
        }


class SleepManifest(BlockManifest):
    type: Literal["test_cli/sleep@v1"]
    seconds: Union[Selector(kind=[FLOAT_KIND]), float] = 0.0  # type: ignore[valid-type]

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="done", kind=[BOOLEAN_KIND])]


class SleepBlock(WorkflowBlock):
    manifest_class = SleepManifest

    def run(self, seconds: float) -> dict[str, Any]:
        time.sleep(float(seconds))
        return {"done": True}


def load_blocks() -> list[type[WorkflowBlock]]:
    """The plugin hook."""
    return [FakeDepthBlock, SleepBlock]


def test_registry() -> Any:
    """A registry with the built-in blocks and the blocks above."""
    from depthgraph.engine.registry import load_registry

    return load_registry(entry_points=False, env=False, blocks=load_blocks())


test_registry.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


# --- workflows ---------------------------------------------------------------------------------


def fake_depth_workflow(with_param: bool = True) -> dict[str, Any]:
    """image -> fake_depth; outputs depth, inverted, cloud, mean (and the fail_width param)."""
    inputs: list[dict[str, Any]] = [{"type": "WorkflowImage", "name": "image"}]
    step: dict[str, Any] = {"type": "test_cli/fake_depth@v1", "name": "fake", "image": "$inputs.image"}
    if with_param:
        inputs.append({"type": "WorkflowParameter", "name": "fail_width", "default_value": -1})
        step["fail_width"] = "$inputs.fail_width"
    return {
        "version": "1.0",
        "inputs": inputs,
        "steps": [step],
        "outputs": [
            {"type": "JsonField", "name": "depth", "selector": "$steps.fake.depth"},
            {"type": "JsonField", "name": "inverted", "selector": "$steps.fake.inverted"},
            {"type": "JsonField", "name": "cloud", "selector": "$steps.fake.cloud"},
            {"type": "JsonField", "name": "mean", "selector": "$steps.fake.mean"},
        ],
    }


def sleep_workflow() -> dict[str, Any]:
    """A parameter ``seconds`` -> sleep -> ``done``."""
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowParameter", "name": "seconds", "default_value": 0.0}],
        "steps": [{"type": "test_cli/sleep@v1", "name": "nap", "seconds": "$inputs.seconds"}],
        "outputs": [{"type": "JsonField", "name": "done", "selector": "$steps.nap.done"}],
    }


# --- images --------------------------------------------------------------------------------------


def gradient_image(width: int = 32, height: int = 24, seed: int = 0) -> np.ndarray:
    """A deterministic BGR uint8 test picture."""
    rng = np.random.RandomState(seed)
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    image = (0.5 * x + 0.5 * y + rng.uniform(0, 10, (height, width, 3))).clip(0, 255)
    return image.astype(np.uint8)


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    import cv2

    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def b64(image: np.ndarray, ext: str = ".png") -> str:
    return base64.b64encode(encode(image, ext)).decode("ascii")


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(image, path.suffix or ".png"))
    return path


# --- processes -----------------------------------------------------------------------------------


def plugin_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that loads this module as a plugin."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), env.get("PYTHONPATH", "")) if p)
    env["DEPTHGRAPH_PLUGINS"] = "cli_helpers"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_server(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; fail early if the process died."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}: {out}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def depthgraph_command() -> list[str]:
    """The CLI as a subprocess command (the installed console script's module)."""
    return [sys.executable, "-m", "depthgraph.cli"]


@contextmanager
def serve_process(args: list[str] | None = None, env: dict[str, str] | None = None,
                  cwd: Path | str = REPO_ROOT) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real ``depthgraph serve`` on a free 127.0.0.1 port: yields (base URL, process).

    Its output goes to a temporary file (a pipe nobody reads could fill and stall the server)
    and is shown if it dies before answering. It is stopped with SIGINT, then killed if need be.
    """
    import signal

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [*depthgraph_command(), "serve", "--port", str(port), "--log-level", "warning",
             *(args or [])],
            env=env if env is not None else dict(os.environ), stdout=log,
            stderr=subprocess.STDOUT, text=True, cwd=cwd)
        try:
            try:
                wait_for_server(f"{base}/healthz", process)
            except (RuntimeError, TimeoutError) as exc:
                log.seek(0)
                raise RuntimeError(f"{exc}; server output:\n{log.read()}") from None
            yield base, process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
