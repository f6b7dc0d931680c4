"""Shared helpers for the multi-view (scene) tests: fixture cases, official pixels, cached runs.

The fixtures in ``fixtures/da3-multiview`` are reduced copies of the official outputs (see its
README): depth and confidence on every second row and column, the official network input as
PNG-encoded RGB, everything else as the official files hold it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "da3-multiview"
GRID = 2  # the fixtures keep depth and conf at [::GRID, ::GRID]


def manifest() -> dict:
    return json.loads((FIXTURES / "manifest.json").read_text())


def cases() -> list[dict]:
    return manifest()["cases"]


def case_named(name: str) -> dict:
    (case,) = [c for c in cases() if c["case"] == name]
    return case


def case_id(case: dict) -> str:
    return f"{case['variant']}-{case['case']}"


@lru_cache(maxsize=None)
def reference(file: str) -> dict[str, np.ndarray]:
    """The stored official arrays of one case (by file name)."""
    with np.load(FIXTURES / file) as data:
        return {k: data[k] for k in data.files}


def fixture_bgr(name: str) -> np.ndarray:
    image = cv2.imread(str(FIXTURES / name), cv2.IMREAD_COLOR)
    assert image is not None, name
    return image


def official_rgb(case: dict) -> np.ndarray:
    """(S, h, w, 3) uint8: the RGB images the official network input was normalised from."""
    if case["variant"] == "da3-base":  # same images as views 0 and 2 of the small S = 3 case
        return official_rgb(case_named("s3_synth_378x504"))[[0, 2]]
    ref = reference(case["file"])
    views = [cv2.imdecode(ref[f"rgb_png_{v}"], cv2.IMREAD_COLOR)[:, :, ::-1] for v in range(case["S"])]
    return np.stack(views)


def official_pixels(case: dict) -> np.ndarray:
    """(S, 3, h, w) float32: the official network input (bit for bit)."""
    from depthgraph.models.depth_anything_v3.preprocess import normalize

    return np.stack([normalize(rgb) for rgb in official_rgb(case)])


@lru_cache(maxsize=None)
def network_run(file: str):
    """Our network on one case's official input (cached: several tests check one run)."""
    import torch
    from model_helpers import pretrained

    case = [c for c in cases() if c["file"] == file][0]
    model = pretrained(case["variant"].split("-")[1])
    return model.forward_pixels(torch.from_numpy(official_pixels(case))[None])


def rel_err(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.abs(actual.astype(np.float64) - expected) / np.abs(expected.astype(np.float64))


def check_maps(actual: np.ndarray, expected: np.ndarray, what: str) -> tuple[float, float]:
    """README bars for depth/conf: max relative <= 5e-4, median relative <= 5e-5."""
    err = rel_err(actual, expected)
    assert err.max() <= 5e-4, f"{what}: max relative difference {err.max():.3g}"
    assert np.median(err) <= 5e-5, f"{what}: median relative difference {np.median(err):.3g}"
    return float(err.max()), float(np.median(err))


def check_cameras(intrinsics: np.ndarray, extrinsics: np.ndarray, ref: dict) -> None:
    """README bars: intrinsics relative <= 1e-4 per entry, extrinsics absolute <= 1e-4."""
    k = ref["intrinsics"]
    nz = k != 0
    assert np.all(intrinsics[~nz] == 0)
    assert rel_err(intrinsics[nz], k[nz]).max() <= 1e-4
    assert np.abs(extrinsics - ref["extrinsics"]).max() <= 1e-4
