"""Pinhole camera geometry shared by the blocks: pixel + z-depth + intrinsics -> 3-D point.

One function, :func:`back_project`, so the point-cloud block and the detections-depth block
cannot disagree (OpenCV camera frame: x right, y down, z forward; ``depth`` is z, not the
distance along the ray):

    X = (u - cx) * Z / fx,    Y = (v - cy) * Z / fy,    Z = depth
"""

from __future__ import annotations

from typing import Any

import numpy as np


def back_project(u: Any, v: Any, depth: Any, intrinsics: Any) -> np.ndarray:
    """Points (N, 3) float64 for pixel columns ``u``, rows ``v`` and z-depths ``depth`` (each N).

    ``intrinsics`` is the 3x3 matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` (skew ignored).
    NaN depths give NaN points.
    """
    matrix = np.asarray(intrinsics, dtype=np.float64)
    fx, fy, cx, cy = matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]
    u = np.asarray(u, dtype=np.float64).reshape(-1)
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    z = np.asarray(depth, dtype=np.float64).reshape(-1)
    return np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=1)
