"""Known cameras: input conventions, checks and the degenerate-set rule (no full-size network)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthgraph.models.depth_anything_v3.pose_alignment import align_poses
from depthgraph.models.depth_anything_v3.pose_input import (
    CameraInputError,
    check_cameras,
    matrix_to_quaternion,
    normalise_poses,
    pose_encoding,
    processed_intrinsics,
    rigid_inverse,
)


def rot(axis, degrees):
    axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    a = math.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * k @ k


def w2c(r_c2w, centre):
    e = np.eye(4)
    e[:3, :3] = r_c2w.T
    e[:3, 3] = -r_c2w.T @ np.asarray(centre, np.float64)
    return e


def arc(n=3):
    return np.stack([w2c(rot((0, 1, 0.2), 10 * i), (0.5 * i, 0.1 * i * i, 0.05 * i)) for i in range(n)])


K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])


def _scaled_rotation(e, view, factor):
    e = e.copy()
    e[view, :3, :3] *= factor
    return e


def test_both_or_neither():
    e = arc()
    with pytest.raises(CameraInputError, match="intrinsics were given without extrinsics"):
        check_cameras(None, np.stack([K] * 3), 3)
    with pytest.raises(CameraInputError, match="extrinsics were given without intrinsics"):
        check_cameras(e, None, 3)


def test_three_by_four_equals_four_by_four():
    e = arc()
    a, _ = check_cameras(e, np.stack([K] * 3), 3)
    b, _ = check_cameras(e[:, :3], np.stack([K] * 3), 3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e, k: (e[:2], k), "2 matrices for 3 images"),
        (lambda e, k: (e, k[:2]), "2 matrices for 3 images"),
        (lambda e, k: (np.where(np.arange(48).reshape(3, 4, 4) == 19, np.nan, e), k), "view 1: contains NaN"),
        (lambda e, k: (_scaled_rotation(e, 2, 1.2), k), "view 2: the 3x3 block is not a rotation"),
        (lambda e, k: (e @ np.diag([1, 1, -1.0, 1]), k), "view 0: the rotation has determinant < 0"),
        (lambda e, k: (np.concatenate([e[:, :3], np.tile([[[0, 0, 1.0, 1]]], (3, 1, 1))], 1), k), "last row must be"),
        (lambda e, k: (e, k * np.where(np.arange(3) == 1, -1, 1)[:, None, None]), "view 1: focal lengths"),
        (lambda e, k: (e[:, :2], k), "expected shape"),
    ],
)
def test_bad_inputs_name_the_view(change, message):
    e, k = change(arc(), np.stack([K] * 3))
    with pytest.raises(CameraInputError, match=message):
        check_cameras(e, k, 3)


def test_one_view_and_coincident_cameras_are_refused():
    with pytest.raises(CameraInputError, match="at least two views"):
        check_cameras(arc(1), K[None], 1)
    e = np.stack([w2c(rot((0, 1, 0), a), (1.0, 2.0, 3.0)) for a in (0, 20, 40)])  # a panorama
    with pytest.raises(CameraInputError, match="distinct camera centres"):
        check_cameras(e, np.stack([K] * 3), 3)


def test_intrinsics_follow_resize_and_crop():
    """Spec 3 example: 640x480 -> 504x378; a crop shifts the principal point only."""
    k = np.array([[[540.0, 0, 321.7], [0, 540, 238.9], [0, 0, 1]]] * 2)
    out = processed_intrinsics(k, [(480, 640)] * 2, [(378, 504), (252, 336)], [(0, 0), (14, 0)])
    np.testing.assert_allclose(out[0], [[425.25, 0, 253.33875], [0, 425.25, 188.13375], [0, 0, 1]], rtol=1e-12)
    assert out[1, 1, 2] == pytest.approx(238.9 * 252 / 480 - 14)
    assert out[1, 0, 0] == pytest.approx(540 * 336 / 640)


def test_normalisation_uses_the_lower_median_and_the_clamp():
    e = arc(4)
    n, m = normalise_poses(e)
    d = np.linalg.norm(rigid_inverse(e @ rigid_inverse(e[0]))[:, :3, 3], axis=1)
    assert m == pytest.approx(np.sort(d)[1])  # S = 4: the smallest non-zero distance
    np.testing.assert_allclose(n[0], np.eye(4), atol=1e-12)
    _, m2 = normalise_poses(arc(2))
    assert m2 == 0.1  # S = 2: the lower median of (0, d1) is 0, clamped
    scaled = e.copy()
    scaled[:, :3, 3] *= 7.5
    np.testing.assert_allclose(normalise_poses(scaled)[0], n, atol=1e-12)  # the unit drops out


def test_quaternion_is_xyzw_with_nonnegative_w_and_the_fov_order():
    q = matrix_to_quaternion(rot((0, 0, 1), 90))
    np.testing.assert_allclose(q, [0, 0, math.sqrt(0.5), math.sqrt(0.5)], atol=1e-12)
    q = matrix_to_quaternion(rot((1, 0, 0), 180))  # w = 0: the x candidate, made positive
    np.testing.assert_allclose(q, [1, 0, 0, 0], atol=1e-12)
    q = matrix_to_quaternion(rot((0.3, -0.5, 0.8), 250))  # w < 0 before the sign rule
    assert q[3] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
    n, _ = normalise_poses(arc())
    k = np.array([[[480.375, 0, 250], [0, 474.8625, 190], [0, 0, 1]]] * 3)
    enc = pose_encoding(n, k, (378, 504))
    assert math.degrees(enc[0, 7]) == pytest.approx(43.41, abs=0.01)  # fov_h first
    assert math.degrees(enc[0, 8]) == pytest.approx(55.36, abs=0.01)
    np.testing.assert_allclose(enc[0, :7], [0, 0, 0, 0, 0, 0, 1], atol=1e-12)
    # camera-to-world: the centre of view 1 in view 0's frame
    c1 = rigid_inverse(n[1])[:3, 3]
    np.testing.assert_allclose(enc[1, :3], c1, atol=1e-12)


def _similar(given, s, r, t):
    """Predicted cameras = the given ones under p = s R g + t (world-to-camera, (S, 3, 4))."""
    c2w = rigid_inverse(given)
    moved = np.zeros_like(c2w)
    moved[:, :3, :3] = r @ c2w[:, :3, :3]
    moved[:, :3, 3] = s * c2w[:, :3, 3] @ r.T + t
    moved[:, 3, 3] = 1
    return rigid_inverse(moved)[:, :3]


@pytest.mark.parametrize("n", [2, 4, 12])
def test_collinear_and_two_views_recover_the_rotation(n):
    """Our rule (spec 8.6): not an arbitrary rotation about the line, the one the orientations say."""
    given = np.stack([w2c(rot((0, 1, 0), 5 * i), (0.4 * i, 0.0, 0.0)) for i in range(n)])
    r = rot((0.2, 1, -0.3), 37)
    pred = _similar(given, 0.31, r, np.array([0.5, -1, 2]))
    a = align_poses(given, pred)
    assert a.degenerate
    assert a.scale == pytest.approx(0.31, rel=1e-5)
    np.testing.assert_allclose(a.rotation, r, atol=1e-5)
    np.testing.assert_allclose(a.translation, [0.5, -1, 2], atol=1e-5)


@pytest.mark.parametrize("n", [3, 9, 10, 16])
def test_consistent_sets_give_the_true_similarity(n):
    rng = np.random.default_rng(n)
    given = np.stack([w2c(rot(rng.normal(size=3), 20 * rng.random()), rng.normal(size=3) * 3) for _ in range(n)])
    r = rot((1, 2, 3), 70)
    a = align_poses(given, _similar(given, 2.5, r, np.array([1.0, 2, 3])))
    assert not a.degenerate and a.scale == pytest.approx(2.5, rel=1e-5)
    np.testing.assert_allclose(a.rotation, r, atol=1e-5)
    assert (a.inliers is not None) == (n >= 10)


def test_the_fit_refuses_coincident_centres_either_side():
    from depthgraph.models.depth_anything_v3.pose_alignment import PoseAlignmentError

    given = arc(3)
    same = np.stack([w2c(rot((0, 1, 0), a), (1.0, 2.0, 3.0)) for a in (0, 20, 40)])
    with pytest.raises(PoseAlignmentError, match="given centres coincide"):
        align_poses(same, given[:, :3])
    with pytest.raises(PoseAlignmentError, match="network predicted one camera centre"):
        align_poses(given, same[:, :3])
    with pytest.raises(PoseAlignmentError, match="at least two views"):
        align_poses(given[:1], given[:1, :3])
