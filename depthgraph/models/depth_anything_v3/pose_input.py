"""The caller's cameras on their way into DA3 (da3-poses spec sections 2-5). numpy only.

Conventions (spec section 2): extrinsics are WORLD-TO-CAMERA ``[R t]`` with OpenCV camera axes
(x right, y down, z forward); intrinsics are pinhole matrices in pixels of the image as passed.

- :func:`check_cameras` validates both arrays (shapes, finiteness, rotations, last rows) and
  returns float64 copies, naming the view at fault;
- :func:`processed_intrinsics` follows the images through resize, rounding and the common crop;
- :func:`normalise_poses` re-expresses the poses relative to view 0 and rescales them by the
  lower median camera distance (clamped to >= 0.1);
- :func:`pose_encoding` gives the 9 numbers per view the camera encoder reads.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

#: Largest accepted ``max |R^T R - I|`` and the clamp of the normalisation median (spec 2, 4).
ORTHONORMAL_TOL = 1e-3
MIN_MEDIAN_DISTANCE = 0.1


class CameraInputError(ValueError):
    """The caller's extrinsics or intrinsics are unusable (says which view and why)."""


def _as_float_array(value: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CameraInputError(f"{what}: expected an array of numbers ({exc})") from None
    return arr


def check_extrinsics(extrinsics: Any, num_views: int | None = None) -> np.ndarray:
    """``(S, 4, 4)`` or ``(S, 3, 4)`` world-to-camera matrices -> validated ``(S, 4, 4)`` float64."""
    e = _as_float_array(extrinsics, "extrinsics")
    if e.ndim != 3 or e.shape[1:] not in ((4, 4), (3, 4)):
        raise CameraInputError(f"extrinsics: expected shape (S, 4, 4) or (S, 3, 4), got {e.shape}")
    if num_views is not None and e.shape[0] != num_views:
        raise CameraInputError(f"extrinsics: {e.shape[0]} matrices for {num_views} images (one per view needed)")
    out = np.zeros((e.shape[0], 4, 4), dtype=np.float64)
    out[:, :3] = e[:, :3]
    out[:, 3] = (0.0, 0.0, 0.0, 1.0)
    for s in range(e.shape[0]):
        if not np.isfinite(e[s]).all():
            raise CameraInputError(f"extrinsics of view {s}: contains NaN or infinite values")
        if e.shape[1] == 4 and not np.array_equal(e[s, 3], out[s, 3]):
            raise CameraInputError(f"extrinsics of view {s}: last row must be (0, 0, 0, 1), got {e[s, 3].tolist()}")
        r = e[s, :3, :3]
        err = float(np.abs(r.T @ r - np.eye(3)).max())
        if err > ORTHONORMAL_TOL:
            raise CameraInputError(
                f"extrinsics of view {s}: the 3x3 block is not a rotation (max |R^T R - I| = {err:.3g} "
                f"> {ORTHONORMAL_TOL:g}); pass world-to-camera [R t] with orthonormal R"
            )
        if np.linalg.det(r) < 0:
            raise CameraInputError(
                f"extrinsics of view {s}: the rotation has determinant < 0 (a reflection; flipped camera axes?)"
            )
    return out


def check_intrinsics(intrinsics: Any, num_views: int | None = None) -> np.ndarray:
    """``(S, 3, 3)`` pinhole matrices in input pixels -> validated float64 copy."""
    k = _as_float_array(intrinsics, "intrinsics")
    if k.ndim == 2 and k.shape == (3, 3) and num_views is not None:
        k = np.broadcast_to(k, (num_views, 3, 3))
    if k.ndim != 3 or k.shape[1:] != (3, 3):
        raise CameraInputError(f"intrinsics: expected shape (S, 3, 3), got {k.shape}")
    if num_views is not None and k.shape[0] != num_views:
        raise CameraInputError(f"intrinsics: {k.shape[0]} matrices for {num_views} images (one per view needed)")
    for s in range(k.shape[0]):
        if not np.isfinite(k[s]).all():
            raise CameraInputError(f"intrinsics of view {s}: contains NaN or infinite values")
        if not (k[s, 0, 0] > 0 and k[s, 1, 1] > 0):
            raise CameraInputError(f"intrinsics of view {s}: focal lengths must be > 0, got fx={k[s, 0, 0]}, fy={k[s, 1, 1]}")
        if k[s, 1, 0] != 0 or not np.array_equal(k[s, 2], (0.0, 0.0, 1.0)):
            raise CameraInputError(f"intrinsics of view {s}: expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {k[s].tolist()}")
    return np.array(k, dtype=np.float64)


def check_cameras(extrinsics: Any, intrinsics: Any, num_views: int) -> tuple[np.ndarray, np.ndarray]:
    """Both or neither (spec section 2): validated ``(S, 4, 4)`` extrinsics, ``(S, 3, 3)`` intrinsics."""
    if extrinsics is None and intrinsics is None:
        raise CameraInputError("no cameras given")
    if extrinsics is None:
        raise CameraInputError(
            "intrinsics were given without extrinsics: pose-conditioned inference needs both "
            "(world-to-camera extrinsics (S, 4, 4) and intrinsics (S, 3, 3))"
        )
    if intrinsics is None:
        raise CameraInputError(
            "extrinsics were given without intrinsics: pose-conditioned inference needs both "
            "(the camera encoder reads each view's focal lengths)"
        )
    if num_views < 2:
        raise CameraInputError(
            f"pose-conditioned inference needs at least two views with distinct camera centres, got {num_views}"
        )
    e = check_extrinsics(extrinsics, num_views)
    k = check_intrinsics(intrinsics, num_views)
    g = camera_centres(e.astype(np.float32).astype(np.float64))
    var = float(((g - g.mean(axis=0)) ** 2).sum(axis=1).mean())
    if var <= 1e-12 * max(1.0, float(np.abs(g).max())) ** 2:
        raise CameraInputError(
            "pose-conditioned inference needs at least two views with distinct camera centres; "
            f"all {num_views} cameras sit at one place ({g[0].round(6).tolist()}): a pure rotation "
            "has no baseline to measure the scale from"
        )
    return e, k


def processed_intrinsics(
    intrinsics: np.ndarray,
    input_hw: Sequence[tuple[int, int]],
    resized_hw: Sequence[tuple[int, int]],
    crop_offset: Sequence[tuple[int, int]],
) -> np.ndarray:
    """Intrinsics in pixels of the network input (spec section 3): row 0 scaled by ``w2 / w0``,
    row 1 by ``h2 / h0`` (in the two official steps), then ``cx, cy`` shifted by the crop."""
    out = np.array(intrinsics, dtype=np.float64)
    for s in range(out.shape[0]):
        (h0, w0), (h2, w2), (top, left) = input_hw[s], resized_hw[s], crop_offset[s]
        out[s, 0] *= w2 / w0
        out[s, 1] *= h2 / h0
        out[s, 0, 2] -= left
        out[s, 1, 2] -= top
    return out


def rigid_inverse(e: np.ndarray) -> np.ndarray:
    """Inverse of (..., 4, 4) rigid transforms ``[R t] -> [R^T, -R^T t]``."""
    out = np.zeros_like(e)
    rt = np.swapaxes(e[..., :3, :3], -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -(rt @ e[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def camera_centres(extrinsics: np.ndarray) -> np.ndarray:
    """World-to-camera (S, 3|4, 4) -> camera centres ``-R^T t`` (S, 3)."""
    r = extrinsics[:, :3, :3]
    t = extrinsics[:, :3, 3]
    return -np.einsum("sji,sj->si", r, t)


def normalise_poses(extrinsics: np.ndarray) -> tuple[np.ndarray, float]:
    """Spec section 4: ``N_s = E_s inv(E_0)``, translations divided by ``m`` = max(lower median
    of the camera distances, 0.1). Returns ``(N (S, 4, 4), m)``."""
    n = extrinsics @ rigid_inverse(extrinsics[0])
    d = np.linalg.norm(camera_centres(n), axis=1)
    m = float(np.sort(d)[(len(d) - 1) // 2])
    m = max(m, MIN_MEDIAN_DISTANCE)
    n[:, :3, 3] /= m
    return n, m


def matrix_to_quaternion(r: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) -> unit quaternion (x, y, z, w), Hamilton, sign chosen so that w >= 0.

    Of the four standard formulas, the one built on the largest of ``1 + trace``,
    ``1 + R00 - R11 - R22``, ``1 - R00 + R11 - R22``, ``1 - R00 - R11 + R22`` (spec section 5).
    """
    m00, m11, m22 = r[0, 0], r[1, 1], r[2, 2]
    cands = (1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22)
    k = int(np.argmax(cands))
    f = 2.0 * math.sqrt(max(cands[k], 0.0))
    if k == 0:
        q = (r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1], cands[0])
    elif k == 1:
        q = (cands[1], r[0, 1] + r[1, 0], r[0, 2] + r[2, 0], r[2, 1] - r[1, 2])
    elif k == 2:
        q = (r[0, 1] + r[1, 0], cands[2], r[1, 2] + r[2, 1], r[0, 2] - r[2, 0])
    else:
        q = (r[0, 2] + r[2, 0], r[1, 2] + r[2, 1], cands[3], r[1, 0] - r[0, 1])
    quat = np.array(q, dtype=np.float64) / f
    quat /= np.linalg.norm(quat)
    if quat[3] < 0:
        quat = -quat
    return quat


def pose_encoding(normalised: np.ndarray, proc_intrinsics: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Spec section 5: per view ``[c_x, c_y, c_z, q_x, q_y, q_z, q_w, fov_h, fov_w]`` (S, 9).

    ``c`` and ``q`` describe the CAMERA-TO-WORLD transform ``inv(N_s)``; the fields of view are
    in radians for the network input size ``hw = (H, W)``, height first.
    """
    h, w = hw
    c2w = rigid_inverse(normalised)
    out = np.zeros((normalised.shape[0], 9), dtype=np.float64)
    for s in range(normalised.shape[0]):
        out[s, :3] = c2w[s, :3, 3]
        out[s, 3:7] = matrix_to_quaternion(c2w[s, :3, :3])
        out[s, 7] = 2.0 * math.atan((h / 2.0) / proc_intrinsics[s, 1, 1])
        out[s, 8] = 2.0 * math.atan((w / 2.0) / proc_intrinsics[s, 0, 0])
    return out
