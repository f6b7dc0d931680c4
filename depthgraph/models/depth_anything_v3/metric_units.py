"""Turning DA3METRIC-LARGE's canonical depth into metres (spec ``da3-metric.md`` section 7).

``metres = canonical x f / 300`` with ``f = (fx + fy) / 2`` in pixels of the NETWORK input. Callers
give intrinsics for the ORIGINAL image; :func:`to_network_pixels` rescales them per axis. numpy only.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

#: the focal length (network pixels) at which canonical depth equals metres
CANONICAL_FOCAL = 300.0


def to_network_pixels(k0: np.ndarray, input_hw: tuple[int, int], network_hw: tuple[int, int]) -> np.ndarray:
    """Intrinsics for the original (H0, W0) image -> intrinsics for the network input (h, w):
    ``fx, cx`` times ``w / W0``, ``fy, cy`` times ``h / H0`` (two factors: each side was rounded)."""
    k = np.array(k0, dtype=np.float64).copy()
    k[0, :] *= network_hw[1] / input_hw[1]
    k[1, :] *= network_hw[0] / input_hw[0]
    k[2] = (0.0, 0.0, 1.0)
    return k


def metric_scale(k_net: np.ndarray) -> float:
    """Metres per canonical unit for intrinsics in network pixels: ``((fx + fy) / 2) / 300``."""
    return float((k_net[0, 0] + k_net[1, 1]) / 2.0 / CANONICAL_FOCAL)


def intrinsics_from_fov(fov_degrees: float, input_hw: tuple[int, int]) -> np.ndarray:
    """Pinhole intrinsics (original pixels) from a HORIZONTAL field of view in degrees, square
    pixels and the principal point at the image centre."""
    h0, w0 = input_hw
    fx = (w0 / 2.0) / math.tan(math.radians(fov_degrees) / 2.0)
    return np.array([[fx, 0.0, w0 / 2.0], [0.0, fx, h0 / 2.0], [0.0, 0.0, 1.0]], dtype=np.float64)


def fov_degrees(k: np.ndarray, input_hw: tuple[int, int]) -> tuple[float, float]:
    """(horizontal, vertical) field of view in degrees of intrinsics ``k`` for an (H0, W0) image."""
    h0, w0 = input_hw
    return (
        math.degrees(2 * math.atan(w0 / (2 * float(k[0, 0])))),
        math.degrees(2 * math.atan(h0 / (2 * float(k[1, 1])))),
    )


def check_intrinsics(k: Any, where: str) -> np.ndarray:
    """One 3x3 pinhole matrix with positive finite focal lengths, as float64; errors name ``where``."""
    try:
        arr = np.asarray(k, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: intrinsics must be a 3x3 matrix of numbers, got {type(k).__name__}") from None
    if arr.shape != (3, 3):
        raise ValueError(f"{where}: intrinsics must be a 3x3 matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: intrinsics contain NaN or infinite values")
    if arr[0, 0] <= 0 or arr[1, 1] <= 0:
        raise ValueError(f"{where}: focal lengths fx={arr[0, 0]:g}, fy={arr[1, 1]:g} must be positive")
    return arr


def per_image_intrinsics(intrinsics: Any, count: int) -> list[np.ndarray | None]:
    """``None``, one 3x3 for every image, or one per image (a list of 3x3 or an (N, 3, 3) array)
    -> a list of ``count`` matrices (or Nones)."""
    if intrinsics is None:
        return [None] * count
    try:
        arr = np.asarray(intrinsics, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("intrinsics: expected a 3x3 matrix or one 3x3 matrix per image") from None
    if arr.ndim == 2:
        return [check_intrinsics(arr, "intrinsics")] * count
    if arr.ndim != 3:
        raise ValueError(f"intrinsics: expected a 3x3 matrix or one per image, got shape {arr.shape}")
    if len(arr) != count:
        raise ValueError(f"intrinsics: {len(arr)} matrices given for {count} image(s); give one, or one per image")
    return [check_intrinsics(k, f"intrinsics of image {i}") for i, k in enumerate(arr)]


def per_image_fov(fov: float | Sequence[float] | None, count: int) -> list[float | None]:
    """``None``, one horizontal field of view (degrees) for all, or one per image, each in (0, 180)."""
    if fov is None:
        return [None] * count
    values = [fov] * count if np.isscalar(fov) else list(fov)  # type: ignore[arg-type]
    if len(values) != count:
        raise ValueError(f"fov: {len(values)} values given for {count} image(s); give one, or one per image")
    out = []
    for i, v in enumerate(values):
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"fov of image {i}: expected degrees as a number, got {v!r}") from None
        if not (0.0 < f < 180.0) or not math.isfinite(f):
            raise ValueError(f"fov of image {i}: {f:g} degrees is outside (0, 180)")
        out.append(f)
    return out
