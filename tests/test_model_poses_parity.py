"""Known cameras (da3-poses spec) against the official outputs: every shared case at the README's bars.

Depth alone barely moves when the camera encoder is wrong, so every case also checks the pose
encoding, the camera tokens, the decoder's own cameras and the fitted scale.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pose_helpers import FIXTURES, GRID, alignment_only, case_id, case_images, cases, check_maps, manifest, posed_run, reference, rel_err

NETWORK_CASES = cases()
#: the base case runs the larger network: marked slow, as in the other parity tests
ALL = [pytest.param(c, id=case_id(c), marks=[pytest.mark.slow] if c["variant"] == "da3-base" else []) for c in NETWORK_CASES]


def _checks(case: dict) -> dict:
    return manifest()["checks"][case["case"]]


@pytest.mark.parametrize("case", ALL)
def test_conditioning_inputs(case):
    """Processed intrinsics, normalised poses, pose encoding (spec 3-5)."""
    ref = reference(case["file"])
    scene, _ = posed_run(case["file"])
    pc = scene.pose_conditioning
    k, k_ref = pc.processed_intrinsics, ref["proc_intrinsics"].astype(np.float64)
    nz = k_ref != 0
    assert np.all(k[~nz] == 0)
    assert rel_err(k[nz], k_ref[nz]).max() <= 1e-6
    assert np.abs(pc.normalised_extrinsics - ref["norm_extrinsics"]).max() <= 1e-5
    assert pc.median_distance == pytest.approx(case["median_distance"], rel=1e-6)
    assert np.abs(pc.encoding - ref["pose_encoding"]).max() <= 1e-5
    assert scene.reference_view == 0


@pytest.mark.parametrize("case", ALL)
def test_camera_tokens_decoder_and_fit(case):
    ref = reference(case["file"])
    scene, capture = posed_run(case["file"])
    assert np.abs(capture.values["cam_tokens"] - ref["cam_tokens"]).max() <= 1e-4
    assert np.abs(scene.predicted_extrinsics - ref["net_extrinsics"]).max() <= 1e-4
    k, k_ref = scene.predicted_intrinsics, ref["net_intrinsics"]
    nz = k_ref != 0
    assert rel_err(k[nz], k_ref[nz]).max() <= 1e-4
    a = scene.pose_alignment
    assert abs(a.scale / float(ref["align_scale"]) - 1) <= 1e-4
    assert np.abs(a.rotation - ref["align_rotation"]).max() <= 1e-4
    tol = 1e-4 * max(1.0, float(np.abs(ref["align_translation"]).max()))
    assert np.abs(a.translation - ref["align_translation"]).max() <= tol
    if case["ransac"]:
        ransac = manifest()["checks"][case["case"]]["ransac"]
        assert list(a.inliers) == ransac["final_inliers"]
        assert a.threshold == pytest.approx(ransac["threshold"], rel=1e-3)
    else:
        assert a.inliers is None


@pytest.mark.parametrize("case", ALL)
def test_api_true_outputs(case):
    """align_to_input_scale=True: depth / s, the caller's extrinsics exactly, processed intrinsics."""
    ref = reference(case["file"])
    scene, _ = posed_run(case["file"])
    out = scene.network_outputs()
    s = scene.pose_alignment.scale
    check_maps(out["depth"][:, ::GRID, ::GRID] * s, ref["depth"], "depth * scale")
    check_maps(out["confidence"][:, ::GRID, ::GRID], ref["conf"], "confidence")
    np.testing.assert_array_equal(out["extrinsics"], ref["input_extrinsics"][:, :3].astype(np.float32))
    nz = ref["proc_intrinsics"] != 0
    assert rel_err(out["intrinsics"][nz], ref["proc_intrinsics"][nz]).max() <= 1e-6
    assert scene.aligned_to_input


@pytest.mark.parametrize("case", ALL)
def test_caller_cameras_in_the_network_frame(case):
    """The extrinsics align_to_input_scale=False returns, from the fit of the True run."""
    ref = reference(case["file"])
    scene, _ = posed_run(case["file"])
    moved = scene.pose_alignment.cameras_to_network(ref["input_extrinsics"].astype(np.float32).astype(np.float64))
    expected = ref["api_false_extrinsics"][:, :3]
    assert np.abs(moved - expected).max() <= 1e-4 * max(1.0, float(np.abs(expected).max()))


SMALL_CASES = [c for c in NETWORK_CASES if c["process_res"] <= 336]  # a second pass only where it is cheap


@pytest.mark.parametrize("case", SMALL_CASES, ids=case_id)
def test_api_false_outputs(case):
    """align_to_input_scale=False through the API: raw depth, the caller's cameras in the network frame."""
    ref = reference(case["file"])
    scene, _ = posed_run(case["file"], False)
    out = scene.network_outputs()
    check_maps(out["depth"][:, ::GRID, ::GRID], ref["depth"], "depth")
    expected = ref["api_false_extrinsics"][:, :3]
    tol = 1e-4 * max(1.0, float(np.abs(expected).max()))
    assert np.abs(out["extrinsics"] - expected).max() <= tol
    assert out["extrinsics"].shape == (case["S"], 3, 4) and out["extrinsics"].dtype == np.float32
    assert not scene.aligned_to_input and scene.unit == "relative"


def test_case_a_intermediates():
    """Every camera-encoder stage, the decoder input and its raw 9 numbers (case a)."""
    (case,) = [c for c in NETWORK_CASES if c["case"] == "s3_arc_378x504"]
    ref = reference(case["file"])
    scene, capture = posed_run(case["file"])
    for stage in ["cam_enc_pose_branch", "cam_enc_token_norm"] + [f"cam_enc_trunk_{i}" for i in range(4)]:
        assert np.abs(capture.values[stage] - ref[stage]).max() <= 1e-4, stage
    feat = capture.values["cam_feat"]
    assert np.abs(feat - ref["cam_feat"]).max() <= 1e-4 * np.abs(ref["cam_feat"]).max()
    assert np.abs(capture.net_pose_enc() - ref["net_pose_enc"]).max() <= 1e-4


def test_case_a_network_input():
    from depthgraph.models.depth_anything_v3.scene import prepare_views
    from depthgraph.models.depth_anything_v3.preprocess import to_rgb_uint8

    (case,) = [c for c in NETWORK_CASES if c["case"] == "s3_arc_378x504"]
    ref = reference(case["file"])
    rgbs = [to_rgb_uint8(b) for b in case_images(case)]
    pixels, _ = prepare_views(rgbs, case["process_res"])
    assert np.abs(pixels[:, :, ::4, ::4] - ref["pixel_values_sub4"]).max() <= 1e-4


ALIGN_CASES = ["s3", "s4", "s5_noisy", "s10_ransac_clean", "s12_ransac_3_outliers", "s25_ransac_5_outliers",
               "s2", "s2_large_units", "s4_collinear_exact"]  # fmt: skip


@pytest.mark.parametrize("name", ALIGN_CASES)
def test_alignment_only(name):
    """The fit alone: official results for regular sets, OUR rule (spec 8.6) for degenerate ones."""
    from depthgraph.models.depth_anything_v3.pose_alignment import align_poses

    data = alignment_only()
    checks = manifest()["checks"]["alignment_only"][name]
    a = align_poses(data[f"{name}__given_extrinsics"], data[f"{name}__pred_extrinsics"])
    which = "ours_rule" if f"{name}__ours_rule_scale" in data else "official"
    assert a.degenerate == (which == "ours_rule") == bool(checks.get("ours_degenerate"))
    assert abs(a.scale / float(data[f"{name}__{which}_scale"]) - 1) <= 1e-4
    assert np.abs(a.rotation - data[f"{name}__{which}_rotation"]).max() <= 1e-4
    t_ref = data[f"{name}__{which}_translation"]
    assert np.abs(a.translation - t_ref).max() <= 1e-4 * max(1.0, float(np.abs(t_ref).max()))
    if checks.get("ransac"):
        assert list(a.inliers) == checks["ransac_final_inliers"]
    if which == "official":
        moved = a.cameras_to_network(data[f"{name}__given_extrinsics"].astype(np.float64))
        expected = data[f"{name}__official_aligned_extrinsics"][:, :3]
        assert np.abs(moved - expected).max() <= 1e-4 * max(1.0, float(np.abs(expected).max()))


def test_ransac_draws_match_the_official_samples():
    """numpy's default_rng(42) draws what the official code drew, for every S = 10..64."""
    from depthgraph.models.depth_anything_v3 import pose_alignment as pa

    table = json.loads((FIXTURES / "ransac_subsets_seed42.json").read_text())
    samples = table.get("samples", table)
    checked = 0
    for key, expected in samples.items():
        if not str(key).isdigit():
            continue
        s = int(key)
        rng = np.random.default_rng(pa.RANSAC_SEED)
        n = max(3, (s + 1) // 2)
        drawn = [rng.choice(s, n, replace=False).tolist() for _ in range(pa.RANSAC_ITERATIONS)]
        assert drawn == expected, s
        checked += 1
    assert checked >= 50
