"""Helpers for the DA3METRIC-LARGE / DA3MONO-LARGE tests: fixtures of ``fixtures/da3-metric``
and tiny networks of the same structure."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "da3-metric"


def manifest() -> dict:
    return json.loads((FIXTURES / "manifest.json").read_text())


def case(image: str) -> dict:
    """The manifest case of ``image`` (e.g. ``"landscape_480x640"``)."""
    for c in manifest()["cases"]:
        if c["image"] == f"{image}.png":
            return c
    raise KeyError(image)


def reference(name: str) -> dict[str, np.ndarray]:
    """Arrays of ``<name>.npz``."""
    with np.load(FIXTURES / f"{name}.npz") as data:
        return {k: data[k] for k in data.files}


def fixture_image(name: str) -> np.ndarray:
    image = cv2.imread(str(FIXTURES / f"{name}.png"))
    assert image is not None, name
    return image


@lru_cache(maxsize=None)
def tiny_large(metric: bool = True, process_res: int = 112, with_focal: bool = False):
    """A tiny network of the LARGE structure with recipe weights; ``with_focal`` gives it a tiny
    small-structure model as its focal-length estimator."""
    from depthgraph.models.depth_anything_v3 import DA3Config
    from depthgraph.models.depth_anything_v3.large_config import LargeConfig
    from depthgraph.models.depth_anything_v3.large_model import DepthAnything3Large
    from depthgraph.models.depth_anything_v3.model import DepthAnything3

    focal = DepthAnything3.from_config(DA3Config.tiny(), device="cpu", process_res=process_res) if with_focal else None
    return DepthAnything3Large.from_config(
        LargeConfig.tiny(metric), device="cpu", process_res=process_res, focal_model=focal
    )


def rel_err(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(actual, dtype=np.float64) - expected) / np.abs(np.asarray(expected, dtype=np.float64))


def near_threshold(sky: np.ndarray, threshold: float, margin: float = 1e-3) -> np.ndarray:
    """Pixels whose reference sky score is within ``margin`` of ``threshold`` (may flip)."""
    return np.abs(sky - threshold) <= margin
