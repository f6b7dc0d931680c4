"""``model.predict_scene``: S = 1 equals monocular, permutation, the crop mapping, reference options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from model_helpers import cases as mono_cases
from model_helpers import fixture_image, pretrained, random_bgr, reference, tiny_model
from scene_helpers import check_maps, fixture_bgr

from depthgraph.models.depth_anything_v3 import ScenePrediction
from depthgraph.models.depth_anything_v3.model import DepthAnything3


def test_one_view_through_predict_scene_equals_monocular():
    case = [c for c in mono_cases("da3-small") if c["image"] == "landscape_480x640"][0]
    model = pretrained("small")
    image = fixture_image(case["image"])
    scene = model.predict_scene([image])
    (mono,) = model.predict([image])
    assert isinstance(scene, ScenePrediction) and len(scene.views) == 1
    assert scene.reference_view == 0 and scene.processed_size == mono.processed_size
    view = scene.views[0]
    for name in ("depth", "confidence", "intrinsics", "extrinsics"):
        np.testing.assert_array_equal(getattr(view, name), getattr(mono, name))
    assert view.fov == mono.fov
    raw = scene.network_outputs()
    ref = reference(case)
    check_maps(raw["depth"][0], ref["depth"], "depth")
    check_maps(raw["confidence"][0], ref["conf"], "confidence")
    assert np.abs(raw["extrinsics"][0] - ref["extrinsics"]).max() <= 1e-4


def _at_resolution(model: DepthAnything3, process_res: int) -> DepthAnything3:
    """The same loaded network with another processing resolution (cheaper runs)."""
    return DepthAnything3(model.network, model_id=model.model_id, device=torch.device("cpu"),
                          autocast_dtype=None, process_res=process_res)  # fmt: skip


def test_permuting_three_views_permutes_every_output():
    model = _at_resolution(pretrained("small"), 252)
    images = [fixture_bgr(f"synth_v{k}_480x640.png") for k in (0, 2, 1)]
    base = model.predict_scene(images)
    assert base.reference_view != 0  # chosen from the images, so the test is not trivial
    raw = base.network_outputs()
    for perm in ((1, 2, 0), (2, 0, 1)):
        moved = model.predict_scene([images[p] for p in perm])
        assert perm[moved.reference_view] == base.reference_view
        out = moved.network_outputs()
        for name in ("depth", "confidence"):
            err = np.abs(out[name] - raw[name][list(perm)]) / raw[name][list(perm)]
            assert err.max() <= 1e-4, (perm, name, err.max())
        np.testing.assert_allclose(out["intrinsics"], raw["intrinsics"][list(perm)], rtol=1e-5)
        assert np.abs(out["extrinsics"] - raw["extrinsics"][list(perm)]).max() <= 1e-5
    # with a positional strategy the first view is the reference wherever the images go
    first = model.predict_scene(images, reference="first")
    assert first.reference_view == 0
    assert np.abs(first.network_outputs()["extrinsics"] - raw["extrinsics"]).max() > 1e-3


def test_mixed_sizes_map_back_through_the_crop_window():
    model = tiny_model(112)
    landscape, portrait = random_bgr(96, 128, seed=1), random_bgr(128, 96, seed=2)
    scene = model.predict_scene([landscape, portrait])
    assert scene.processed_size == (84, 84)
    raw = scene.network_outputs()
    assert raw["depth"].shape == raw["confidence"].shape == (2, 84, 84)
    assert [g.crop_offset for g in scene.geometry] == [(0, 14), (14, 0)]
    view = scene.views[1]
    assert view.depth.shape == view.confidence.shape == (128, 96)
    # input row y's centre lands in the crop window [14, 98) of the 112-row resize iff 16 <= y < 112
    nan_rows = np.isnan(view.depth).all(axis=1)
    assert nan_rows[:16].all() and nan_rows[112:].all() and not nan_rows[16:112].any()
    assert np.array_equal(np.isnan(view.depth), np.isnan(view.confidence))
    # independent check: paste the network map into the resized frame (edges repeated), resize
    canvas = np.pad(raw["depth"][1], ((14, 14), (0, 0)), mode="edge")
    expected = F.interpolate(torch.from_numpy(canvas)[None, None], size=(128, 96), mode="bilinear",
                             align_corners=False)[0, 0].numpy()  # fmt: skip
    np.testing.assert_allclose(view.depth[16:112], expected[16:112], rtol=1e-5)
    k_net, k = raw["intrinsics"][1], view.intrinsics
    assert k[0, 2] == pytest.approx(k_net[0, 2] * 96 / 84) and k[1, 2] == pytest.approx((k_net[1, 2] + 14) * 128 / 112)
    assert k[0, 0] == pytest.approx(k_net[0, 0] * 96 / 84) and k[1, 1] == pytest.approx(k_net[1, 1] * 128 / 112)
    np.testing.assert_array_equal(view.extrinsics, raw["extrinsics"][1])
    assert np.isnan(scene.views[0].depth[:, :10]).all() and not np.isnan(scene.views[0].depth[:, 20:-20]).any()


def test_reference_options():
    model = tiny_model(112)
    images = [random_bgr(64, 64, seed=s) for s in range(3)]
    assert model.predict_scene(images[:2], reference="saddle_sim_range").reference_view == 0  # S < 3
    assert model.predict_scene(images, reference="first").reference_view == 0
    assert model.predict_scene(images, reference="middle").reference_view == 1
    chosen = model.predict_scene(images[:2], reference=1)
    assert chosen.reference_view == 1
    default = model.predict_scene(images[:2])
    assert np.abs(chosen.network_outputs()["extrinsics"] - default.network_outputs()["extrinsics"]).max() > 0
    with pytest.raises(ValueError, match="unknown reference strategy"):
        model.predict_scene(images, reference="best")
    with pytest.raises(ValueError, match="out of range"):
        model.predict_scene(images, reference=3)
    with pytest.raises(ValueError, match="at least one image"):
        model.predict_scene([])
    with pytest.raises(ValueError, match="image 1"):
        model.predict_scene([images[0], "no/such/file.png"])


def test_scene_outputs_are_consistent_with_its_views():
    model = tiny_model(112)
    images = [random_bgr(70, 140, seed=s) for s in range(3)]
    scene = model.predict_scene(images)
    raw = scene.network_outputs()
    assert set(raw) == {"depth", "confidence", "intrinsics", "extrinsics"}
    assert raw["intrinsics"].shape == (3, 3, 3) and raw["extrinsics"].shape == (3, 3, 4)
    for s, view in enumerate(scene.views):
        assert view.depth.shape == (70, 140) and not np.isnan(view.depth).any()
        np.testing.assert_array_equal(view.extrinsics, raw["extrinsics"][s])
    raw["depth"][:] = 0  # a copy: the prediction is unchanged
    assert (scene.network_outputs()["depth"] > 0).all()
    cloud = scene.point_cloud()
    assert len(cloud) == cloud.mask.sum() > 0 and cloud.colors.shape == (len(cloud), 3)
    everything = scene.point_cloud(conf_threshold=0.0)
    assert len(everything) == 3 * 56 * 112
    assert np.isfinite(everything.points).all()
