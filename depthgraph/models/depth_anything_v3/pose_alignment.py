"""The similarity fit between the caller's cameras and DA3's own (da3-poses spec section 8). numpy only.

:func:`align_poses` fits ``p ≈ s R g + t`` from the caller's camera centres ``g`` onto the
network's predicted centres ``p`` (the net effect of the official call, whose argument names
say the opposite: upstream issues #95, #138). ``s`` converts caller units into network units, so
``network depth / s`` is depth in the caller's unit.

- S >= 10: the official RANSAC variant (seed 42, 10 samples, threshold from a pre-fit);
- degenerate sets (S = 2, collinear centres, a rank failure): OUR rule of spec 8.6 — the scale
  from the leading singular value, the rotation from the cameras' orientations — instead of an
  arbitrary rotation chosen by rounding noise;
- all caller centres at one place (or S = 1): :class:`PoseAlignmentError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pose_input import CameraInputError, camera_centres, rigid_inverse

RANSAC_MIN_VIEWS = 10
RANSAC_SEED = 42
RANSAC_ITERATIONS = 10
#: the official rank test: fewer than two singular values above this (absolute) fails
RANK_EPS = 2.220446049250313e-16
#: OUR degenerate test: ``d2 <= COLLINEAR_RATIO * d1``
COLLINEAR_RATIO = 1e-6


class PoseAlignmentError(CameraInputError):
    """The caller's cameras cannot be aligned (all centres at one place, or one view)."""


class _RankError(ValueError):
    pass


@dataclass(frozen=True)
class PoseAlignment:
    """``p ≈ scale * rotation @ g + translation``: caller frame/unit -> the network's frame/unit.

    ``inliers``: the views the final fit used on the RANSAC path (S >= 10), else None.
    ``degenerate``: True when OUR rule for S = 2 / collinear centres gave the fit (spec 8.6).
    """

    scale: float
    rotation: np.ndarray  # (3, 3) float64
    translation: np.ndarray  # (3,) float64
    inliers: tuple[int, ...] | None = None
    degenerate: bool = False
    threshold: float | None = None  # the RANSAC inlier distance (network units), else None

    def to_network(self, points: np.ndarray) -> np.ndarray:
        """Caller-frame points (N, 3) -> the network's frame."""
        return self.scale * np.asarray(points, np.float64) @ self.rotation.T + self.translation

    def cameras_to_network(self, extrinsics: np.ndarray) -> np.ndarray:
        """The caller's world-to-camera (S, 4, 4) moved into the network frame (spec 8.5, False):
        camera-to-world ``[R R_g | s R g + t]``, inverted back; (S, 3, 4) float64."""
        c2w = rigid_inverse(extrinsics)
        moved = np.zeros_like(c2w)
        moved[:, :3, :3] = self.rotation @ c2w[:, :3, :3]
        moved[:, :3, 3] = self.to_network(c2w[:, :3, 3])
        moved[:, 3, 3] = 1.0
        return rigid_inverse(moved)[:, :3]

    def to_dict(self) -> dict:
        return {
            "scale": self.scale,
            "rotation": self.rotation.tolist(),
            "translation": self.translation.tolist(),
            "inliers": list(self.inliers) if self.inliers is not None else None,
            "degenerate": self.degenerate,
            "ransac_threshold": self.threshold,
        }


def umeyama(g: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Similarity ``p ≈ s R g + t`` (spec 8.2) -> (R, t, s, singular values). Raises ``_RankError``
    when fewer than two singular values exceed :data:`RANK_EPS` (the official rank test)."""
    g = np.asarray(g, np.float64)
    p = np.asarray(p, np.float64)
    g_bar, p_bar = g.mean(axis=0), p.mean(axis=0)
    gc, pc = g - g_bar, p - p_bar
    var = float((gc**2).sum(axis=1).mean())
    cov = pc.T @ gc / len(g)
    u, d, vt = np.linalg.svd(cov)
    if int((d > RANK_EPS).sum()) < 2:
        raise _RankError("degenerate covariance rank")
    f = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        f[2, 2] = -1.0
    r = u @ f @ vt
    s = float((d * np.diag(f)).sum() / var)
    t = p_bar - s * r @ g_bar
    return r, t, s, d


def _degenerate_fit(g: np.ndarray, p: np.ndarray, rg: np.ndarray, rp: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """OUR rule for S = 2 and collinear centres (spec 8.6)."""
    g_bar, p_bar = g.mean(axis=0), p.mean(axis=0)
    gc, pc = g - g_bar, p - p_bar
    var = float((gc**2).sum(axis=1).mean())
    d = np.linalg.svd(pc.T @ gc / len(g), compute_uv=False)
    s = float(d[0] / var)
    m = np.einsum("sij,skj->ik", rp, rg)  # sum_s Rp_s Rg_s^T
    u, _, vt = np.linalg.svd(m)
    fix = np.diag([1.0, 1.0, np.linalg.det(u @ vt)])
    r = u @ fix @ vt
    return r, p_bar - s * r @ g_bar, s


def _unfittable(g: np.ndarray, p: np.ndarray) -> str | None:
    """Why no similarity can be fitted (spec 8.6), or None."""
    if len(g) < 2:
        return f"pose-conditioned inference needs at least two views with distinct camera centres, got {len(g)}"
    gc = g - g.mean(axis=0)
    var = float((gc**2).sum(axis=1).mean())
    if var <= 1e-12 * max(1.0, float(np.abs(g).max())) ** 2:
        return "pose-conditioned inference needs at least two views with distinct camera centres; the given centres coincide"
    pc = p - p.mean(axis=0)
    var_p = float((pc**2).sum(axis=1).mean())
    d1 = np.linalg.svd(pc.T @ gc / len(g), compute_uv=False)[0]
    if d1 == 0.0 or var_p <= 1e-12 * max(1.0, float(np.abs(p).max())) ** 2:
        return "the network predicted one camera centre for every view, so no scale can be fitted to the given cameras"
    return None


def _is_degenerate(g: np.ndarray, p: np.ndarray) -> bool:
    if len(g) == 2:
        return True
    d = np.linalg.svd((p - p.mean(axis=0)).T @ (g - g.mean(axis=0)) / len(g), compute_uv=False)
    return int((d > RANK_EPS).sum()) < 2 or d[1] <= COLLINEAR_RATIO * d[0]


def _ransac(g: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, tuple[int, ...], float]:
    """The official RANSAC variant (spec 8.4)."""
    n_views = len(g)
    n = max(3, (n_views + 1) // 2)
    r0, t0, s0, _ = umeyama(g, p)
    mapped = s0 * g @ r0.T + t0
    nearest = np.linalg.norm(mapped[:, None, :] - p[None, :, :], axis=2).min(axis=1)
    thr = float(np.median(nearest))
    rng = np.random.default_rng(RANSAC_SEED)
    best = None  # (count, mean error, model, inliers)
    for _ in range(RANSAC_ITERATIONS):
        sample = rng.choice(n_views, n, replace=False)
        try:
            r, t, s, _ = umeyama(g[sample], p[sample])
        except _RankError:
            continue
        err = np.linalg.norm(s * g @ r.T + t - p, axis=1)
        inl = err <= thr
        count = int(inl.sum())
        mean = float(err[inl].mean()) if count else float("inf")
        if best is None or count > best[0] or (count == best[0] and mean < best[1]):
            best = (count, mean, (r, t, s), np.nonzero(inl)[0])
    if best is None:
        return r0, t0, s0, tuple(range(n_views)), thr
    inliers = best[3]
    if len(inliers) >= 3:
        r, t, s, _ = umeyama(g[inliers], p[inliers])
        return r, t, s, tuple(int(i) for i in inliers), thr
    r, t, s = best[2]
    return r, t, s, tuple(int(i) for i in inliers), thr


def align_poses(given: np.ndarray, predicted: np.ndarray) -> PoseAlignment:
    """Fit the caller's world-to-camera ``given`` (S, 3|4, 4) onto the network's ``predicted``
    (S, 3, 4): official Umeyama (S < 10) or RANSAC (S >= 10), OUR rule for degenerate sets.

    The caller's matrices go through float32 first, as the official API passes them.
    """
    given = np.asarray(given, np.float32).astype(np.float64)
    predicted = np.asarray(predicted, np.float32).astype(np.float64)
    g = camera_centres(given)
    p = camera_centres(predicted)
    why = _unfittable(g, p)
    if why is not None:
        raise PoseAlignmentError(why)
    if _is_degenerate(g, p):
        rg = np.swapaxes(given[:, :3, :3], 1, 2)
        rp = np.swapaxes(predicted[:, :3, :3], 1, 2)
        r, t, s = _degenerate_fit(g, p, rg, rp)
        return PoseAlignment(s, r, t, None, True)
    if len(g) >= RANSAC_MIN_VIEWS:
        r, t, s, inliers, thr = _ransac(g, p)
        return PoseAlignment(s, r, t, inliers, threshold=thr)
    r, t, s, _ = umeyama(g, p)
    return PoseAlignment(s, r, t)
