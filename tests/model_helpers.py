"""Shared helpers for the DA3 model tests: fixture paths, recipe checkpoints, cached models."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "da3"

_TMP_ROOT = Path(tempfile.mkdtemp(prefix="depthgraph-model-tests-"))
atexit.register(shutil.rmtree, _TMP_ROOT, True)


def manifest() -> dict:
    """The parity fixtures' manifest (images and cases)."""
    return json.loads((FIXTURES / "manifest.json").read_text())


def cases(variant: str | None = None) -> list[dict]:
    """Manifest cases, optionally only those of ``"da3-small"`` / ``"da3-base"``."""
    return [c for c in manifest()["cases"] if variant is None or c["variant"] == variant]


def fixture_image(name: str) -> np.ndarray:
    """A fixture input image as OpenCV reads it (BGR uint8)."""
    image = cv2.imread(str(FIXTURES / f"{name}.png"))
    assert image is not None, name
    return image


def reference(case: dict) -> dict[str, np.ndarray]:
    """The official outputs of one case."""
    with np.load(FIXTURES / case["file"]) as data:
        return {k: data[k] for k in data.files}


@lru_cache(maxsize=None)
def recipe_weights_root(variant: str) -> Path:
    """A ``DEPTHGRAPH_WEIGHTS_DIR``-style root holding ``DA3-<VARIANT>/model.safetensors`` with the
    recipe weights under the official names (written once per test session)."""
    from depthgraph.models.depth_anything_v3.recipe import weights_folder_name, write_recipe_checkpoint

    root = _TMP_ROOT / f"weights-{variant}"
    write_recipe_checkpoint(variant, root / weights_folder_name(variant))
    return root


@lru_cache(maxsize=None)
def pretrained(variant: str):
    """``AutoModel.from_pretrained`` on recipe weights found through ``DEPTHGRAPH_WEIGHTS_DIR``."""
    import os

    from depthgraph.models.depth_anything_v3 import AutoModel

    root = recipe_weights_root(variant)
    old = os.environ.get("DEPTHGRAPH_WEIGHTS_DIR")
    os.environ["DEPTHGRAPH_WEIGHTS_DIR"] = str(root)
    try:
        return AutoModel.from_pretrained(f"depth-anything-v3/{variant}", device="cpu")
    finally:
        if old is None:
            del os.environ["DEPTHGRAPH_WEIGHTS_DIR"]
        else:
            os.environ["DEPTHGRAPH_WEIGHTS_DIR"] = old


@lru_cache(maxsize=None)
def tiny_model(process_res: int = 112):
    """A tiny-config network with deterministic weights (fast tests of shapes and batching)."""
    from depthgraph.models.depth_anything_v3 import DA3Config
    from depthgraph.models.depth_anything_v3.model import DepthAnything3

    return DepthAnything3.from_config(DA3Config.tiny(), device="cpu", process_res=process_res)


def rel_err(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Element-wise relative difference."""
    return np.abs(actual.astype(np.float64) - expected) / np.abs(expected.astype(np.float64))


def random_bgr(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth-ish random BGR uint8 image."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
