"""Helpers for the Ray scale-out tests: one local Ray per test module, a killer block, images.

This module is also a depthgraph plugin (``DEPTHGRAPH_PLUGINS=ray_helpers``, ``tests/`` on the
path): it gives ``cli_helpers``' numpy-only blocks (``test_cli/fake_depth@v1`` writes every kind
of output: a depth map, an image, a point cloud, a number) and

- ``test_ray/die_once@v1``: passes its image through, except that the first time it sees an image
  named ``*_kill*`` while ``marker`` does not exist, it creates ``marker`` and kills the Ray actor
  it runs in through Ray's API (``ray.kill`` of its own handle, restart allowed), mid-batch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field

from cli_helpers import TESTS_DIR, FakeDepthBlock, SleepBlock, gradient_image, write_image
from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.kinds import IMAGE_KIND
from depthgraph.engine.values import WorkflowImageData
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector

#: Ray's shared-memory object store for the tests (the machine is shared): small.
OBJECT_STORE_BYTES = 256 * 1024 * 1024


class DieOnceManifest(BlockManifest):
    type: Literal["test_ray/die_once@v1"]
    image: Selector(kind=[IMAGE_KIND])  # type: ignore[valid-type]
    marker: str = Field(default="")

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="image", kind=[IMAGE_KIND])]


class DieOnceBlock(WorkflowBlock):
    manifest_class = DieOnceManifest

    def run(self, image: WorkflowImageData, marker: str) -> dict[str, Any]:
        if marker and "_kill" in (image.file_name or "") and not os.path.exists(marker):
            import ray

            Path(marker).write_text(str(os.getpid()))
            ray.kill(ray.get_runtime_context().current_actor, no_restart=False)
            time.sleep(60)  # the kill lands while the batch is in flight
        return {"image": image}


def load_blocks() -> list[type[WorkflowBlock]]:
    """The plugin hook."""
    return [FakeDepthBlock, SleepBlock, DieOnceBlock]


def die_once_workflow(marker: Path) -> dict[str, Any]:
    """image -> die_once (kills its actor once) -> fake_depth; the fake-depth outputs."""
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {"type": "test_ray/die_once@v1", "name": "gate", "image": "$inputs.image",
             "marker": str(marker)},
            {"type": "test_cli/fake_depth@v1", "name": "fake", "image": "$steps.gate.image"},
        ],
        "outputs": [
            {"type": "JsonField", "name": "depth", "selector": "$steps.fake.depth"},
            {"type": "JsonField", "name": "mean", "selector": "$steps.fake.mean"},
        ],
    }


def write_images(folder: Path, count: int, prefix: str = "img") -> list[Path]:
    """``count`` small PNGs of varied sizes (deterministic)."""
    paths = []
    for i in range(count):
        width, height = 16 + (i % 5) * 4, 12 + (i % 3) * 4
        paths.append(write_image(folder / f"{prefix}{i:03d}.png", gradient_image(width, height, seed=i)))
    return paths


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative POSIX path -> bytes), hidden and ``_`` files left out."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)}


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for a test module (2 CPUs, loopback, small object store), shut down after.

    The driver and Ray's workers load this module as a plugin (``DEPTHGRAPH_PLUGINS``).
    """
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'depthgraph[ray]')")
    pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'ray[data]')")
    from depthgraph.engine.registry import reset_registry

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPTHGRAPH_PLUGINS", "ray_helpers")
        patch.setenv("DEPTHGRAPH_DEVICE", "cpu")
        path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
        patch.setenv("PYTHONPATH", path)
        reset_registry()
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 object_store_memory=OBJECT_STORE_BYTES, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path, "DEPTHGRAPH_PLUGINS": "ray_helpers",
                                           "HF_HUB_OFFLINE": "1"}})  # no hub download, ever
        try:
            yield ray
        finally:
            ray.shutdown()
            reset_registry()
