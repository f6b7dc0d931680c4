"""DA3METRIC-LARGE / DA3MONO-LARGE without the full-size network: the sky rule, the metric
conversion and the resize to input size against the official fixtures (their raw arrays stand in
for the network), the predict API on a tiny network of the same structure, ids and strict loading.

The full-size network itself is checked in ``test_model_large_parity.py`` (slow).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from large_model_helpers import case, fixture_image, near_threshold, reference, rel_err, tiny_large

from depthgraph.models.depth_anything_v3.large_config import LargeConfig
from depthgraph.models.depth_anything_v3.large_network import DA3LargeNetwork, LargeOutput
from depthgraph.models.depth_anything_v3.metric_units import (
    intrinsics_from_fov,
    metric_scale,
    per_image_intrinsics,
    to_network_pixels,
)
from depthgraph.models.depth_anything_v3.model import parse_model_id
from depthgraph.models.depth_anything_v3.preprocess import preprocess, to_rgb_uint8
from depthgraph.models.depth_anything_v3.recipe import canonical_variant, official_keys, weights_folder_name
from depthgraph.models.depth_anything_v3.sky_fill import fill_sky, sky_fill_value
from depthgraph.models.depth_anything_v3.weights import HUB_REPOS, WeightsError, load_into

IMAGES = ["landscape_480x640", "portrait_333x250", "wide_600x800"]


# --- the sky rule (spec 6.2) on the official raw outputs ----------------------------------------


@pytest.mark.parametrize("name", IMAGES)
def test_sky_fill_matches_exact_fill(name):
    ref = reference(name)
    filled, fill = fill_sky(ref["depth"], ref["sky"])
    assert abs(fill - float(ref["fill_exact"])) / float(ref["fill_exact"]) <= 1e-3
    # the official random fill is only within its sampling spread
    assert abs(fill / float(ref["official_fill_seed0"]) - 1) <= 0.025
    sky = ref["sky"] >= 0.3
    assert np.array_equal(sky, ref["official_filled"])
    assert np.all(filled[sky] == np.float32(fill))
    assert np.array_equal(filled[~sky], ref["depth"][~sky])


def test_batch_fill_is_per_image_not_pooled():
    batch = reference("batch2__landscape_480x640+wide_600x800")
    fills = [sky_fill_value(reference(n)["depth"], reference(n)["sky"]) for n in ("landscape_480x640", "wide_600x800")]
    np.testing.assert_allclose(fills, batch["exact_per_image_fill"], rtol=1e-3)
    pooled = float(batch["exact_pooled_fill"])
    assert all(abs(f / pooled - 1) > 0.1 for f in fills)  # the pooled value would be far off


def test_sky_fill_counts_and_thresholds():
    depth = np.arange(100, dtype=np.float32).reshape(10, 10) + 1
    sky = np.zeros((10, 10), np.float32)
    sky[0, :10] = 0.3  # exactly 10 sky pixels: the rule needs MORE than 10
    assert sky_fill_value(depth, sky) is None
    filled, fill = fill_sky(depth, sky)
    assert fill is None and np.array_equal(filled, depth)
    sky[1, 0] = 0.7  # 11 sky pixels (0.3 counts as sky for the fill)
    values = np.sort(depth[sky < 0.3].astype(np.float64))
    expected = np.quantile(values, 0.99)  # numpy's default is the same linear rule
    assert sky_fill_value(depth, sky) == pytest.approx(expected, rel=1e-12)
    sky[1, 1] = 0.2999  # not sky
    filled, fill = fill_sky(depth, sky)
    assert filled[1, 1] == depth[1, 1] and filled[0, 3] == np.float32(fill)


# --- intrinsics and metres (spec 7) ----------------------------------------------------------


@pytest.mark.parametrize("name", IMAGES)
def test_network_intrinsics_and_metric_scale(name):
    c = case(name)
    ref = reference(name)
    k_net = to_network_pixels(ref["K_input"], tuple(c["original_hw"]), tuple(c["processed_hw"]))
    assert rel_err(k_net[ref["K_net"] != 0], ref["K_net"][ref["K_net"] != 0]).max() <= 1e-5
    assert abs(metric_scale(k_net) / float(ref["metric_scale"]) - 1) <= 1e-5


@pytest.mark.parametrize("name", IMAGES)
@pytest.mark.parametrize("metric", [True, False], ids=["metric", "mono"])
def test_probes_at_input_size(name, metric):
    """Post-processing (fill, resize, metres) of the official raw outputs, against the probes."""
    c = case(name)
    ref = reference(name)
    model = tiny_large(metric)
    out = LargeOutput(torch.from_numpy(ref["depth"])[None], torch.from_numpy(ref["sky"])[None])
    pred = model._postprocess(out, 0, tuple(c["original_hw"]), ref["K_input"].astype(np.float64), "given")
    ys, xs = ref["probe_yx"][:, 0], ref["probe_yx"][:, 1]
    assert pred.depth.shape == tuple(c["original_hw"]) and pred.depth.dtype == np.float32
    expected = ref["probe_depth_m"] if metric else ref["probe_depth"]
    assert rel_err(pred.depth[ys, xs], expected).max() <= 5e-4
    sky_bar = 5e-4 * max(1.0, float(ref["sky"].max()))
    assert np.abs(pred.sky_score[ys, xs] - ref["probe_sky"]).max() <= sky_bar
    assert np.array_equal(pred.sky, pred.sky_score >= 0.5)
    assert pred.unit == ("m" if metric else "relative")
    if metric:
        assert pred.metric_scale == pytest.approx(float(ref["metric_scale"]), rel=1e-5)
    else:
        assert pred.metric_scale is None  # never metres for DA3MONO-LARGE
    assert pred.sky_fill == pytest.approx(float(ref["fill_exact"]), rel=1e-3)


def test_fov_gives_centred_square_pixel_intrinsics():
    k = intrinsics_from_fov(90.0, (480, 640))
    np.testing.assert_allclose(k, [[320, 0, 320], [0, 320, 240], [0, 0, 1]], atol=1e-9)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.eye(2), "3x3"),
        ([[0, 0, 1], [0, 5, 1], [0, 0, 1]], "positive"),
        (np.full((3, 3), np.nan), "NaN"),
        (np.stack([np.eye(3)] * 3), "3 matrices given for 2 image"),
    ],
)
def test_bad_intrinsics_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        per_image_intrinsics(value, 2)


# --- predict on a tiny network of the same structure ----------------------------------------


def _image(h=90, w=120, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_predict_metric_with_given_intrinsics():
    model = tiny_large(True)
    k = np.array([[100.0, 0, 60], [0, 110.0, 45], [0, 0, 1]])
    (pred,) = model.predict(_image(), intrinsics=k)
    assert pred.unit == "m" and pred.intrinsics_source == "given"
    np.testing.assert_allclose(pred.intrinsics, k, rtol=1e-6)
    h, w = pred.processed_size
    assert pred.metric_scale == pytest.approx((100 * w / 120 + 110 * h / 90) / 2 / 300, rel=1e-6)
    assert pred.depth.shape == pred.sky.shape == (90, 120) and pred.sky.dtype == bool
    assert pred.confidence is None and pred.extrinsics is None
    # the same focal length as a field of view gives the same metres
    fov = float(np.degrees(2 * np.arctan(60 / 100.0)))
    (by_fov,) = model.predict(_image(), intrinsics=[[100.0, 0, 60], [0, 100.0, 45], [0, 0, 1]])
    (pred_fov,) = model.predict(_image(), fov=fov)
    assert pred_fov.intrinsics_source == "fov"
    np.testing.assert_allclose(pred_fov.depth, by_fov.depth, rtol=1e-5)


def test_predict_metric_without_focal_names_both_options():
    model = tiny_large(True)
    with pytest.raises(ValueError) as err:
        model.predict(_image())
    assert "intrinsics=" in str(err.value) and "fov=" in str(err.value)


def test_predict_metric_estimates_focal_with_small_model():
    model = tiny_large(True, with_focal=True)
    (pred,) = model.predict(_image())
    assert pred.unit == "m" and pred.intrinsics_source == "estimated by DA3-SMALL"
    (small,) = model._focal_model.predict(_image())
    np.testing.assert_allclose(pred.intrinsics, small.intrinsics, rtol=1e-6)
    depth_map = pred.to_depth_map()
    assert depth_map.unit == "m" and "DA3-SMALL" in depth_map.source


def test_predict_mono_is_relative_even_with_intrinsics():
    model = tiny_large(False)
    (plain,) = model.predict(_image())
    (given,) = model.predict(_image(), intrinsics=np.diag([100.0, 100.0, 1.0]))
    assert plain.unit == given.unit == "relative"
    assert plain.metric_scale is None and plain.intrinsics is None
    np.testing.assert_array_equal(plain.depth, given.depth)
    assert not plain.to_depth_map().is_metric


def test_batch_equals_single_images_and_keeps_order():
    model = tiny_large(True)
    images = [_image(seed=0), _image(70, 140, seed=1), _image(seed=2)]
    fovs = [50.0, 60.0, 70.0]
    batch = model.predict(images, fov=fovs, batch_size=2)
    for img, f, got in zip(images, fovs, batch):
        (single,) = model.predict(img, fov=f)
        np.testing.assert_allclose(got.depth, single.depth, rtol=1e-5)
        assert got.sky_fill == pytest.approx(single.sky_fill, rel=1e-5)  # batched: float-order noise only
        assert got.metric_scale == single.metric_scale


def test_intrinsics_and_fov_together_are_refused():
    with pytest.raises(ValueError, match="not both"):
        tiny_large(True).predict(_image(), intrinsics=np.diag([100.0, 100.0, 1.0]), fov=60)


# --- ids, weights names, strict load ------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "variant"),
    [("depth-anything-v3/metric-large", "metric-large"), ("da3mono-large", "mono-large"), ("metric-large", "metric-large")],
)
def test_model_ids(model_id, variant):
    assert parse_model_id(model_id) == variant
    assert canonical_variant(HUB_REPOS[variant]) == variant


def test_weights_names():
    assert weights_folder_name("metric-large") == "DA3METRIC-LARGE"
    assert HUB_REPOS["mono-large"] == "depth-anything/DA3MONO-LARGE"
    assert len(official_keys("metric-large")) == 406
    assert official_keys("metric-large") == official_keys("mono-large")


def test_module_tree_is_the_official_one():
    with torch.device("meta"):
        network = DA3LargeNetwork(LargeConfig.metric_large())
    ours = {"model." + k: tuple(v.shape) for k, v in network.state_dict().items()}
    assert ours == dict(official_keys("metric-large"))
    assert sum(int(np.prod(s)) for s in ours.values()) == 334_171_394


def test_strict_load_refuses_extra_and_missing_tensors():
    network = tiny_large(True).network
    state = {"model." + k: v.clone() for k, v in network.state_dict().items()}
    extra = dict(state)
    extra["model.cam_enc.fc.weight"] = torch.zeros(2)  # tolerated for small/base, not here
    with pytest.raises(WeightsError, match="unexpected tensor 'model.cam_enc.fc.weight'"):
        load_into(network, extra, "x.safetensors", allow_unused=False)
    missing = dict(state)
    del missing["model.head.scratch.sky_output_conv2.2.bias"]
    with pytest.raises(WeightsError, match="missing tensor 'model.head.scratch.sky_output_conv2.2.bias'"):
        load_into(network, missing, "x.safetensors", allow_unused=False)


def test_preprocessing_matches_official_pixels():
    ref = reference("portrait_333x250")
    ours = preprocess(to_rgb_uint8(fixture_image("portrait_333x250")))
    assert ours.shape == ref["pixel_values"].shape
    assert np.abs(ours - ref["pixel_values"]).max() <= 1e-4


def test_near_threshold_helper():
    assert near_threshold(np.array([0.2995, 0.31]), 0.3).tolist() == [True, False]


def test_weights_directory_knows_the_large_checkpoints(tmp_path):
    from safetensors.numpy import save_file

    from depthgraph.weights_store import check_checkpoint, list_weights

    listed = {s.variant: s for s in list_weights(tmp_path)}
    assert listed["metric-large"].path == tmp_path / "DA3METRIC-LARGE" / "model.safetensors"
    assert not listed["mono-large"].present and listed["mono-large"].tensors_expected == 406
    wrong = tmp_path / "small.safetensors"
    save_file({"model.backbone.pretrained.cls_token": np.zeros((1, 1, 384), np.float32)}, str(wrong))
    _, expected, problem = check_checkpoint(wrong, "metric-large")
    assert expected == 406 and "DA3METRIC-LARGE tensors missing" in problem


def test_missing_large_weights_say_where_to_put_them(tmp_path, monkeypatch):
    from depthgraph.models.depth_anything_v3 import AutoModel
    from depthgraph.models.depth_anything_v3.weights import WeightsNotFoundError

    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as err:
        AutoModel.from_pretrained("depth-anything-v3/metric-large", device="cpu")
    message = str(err.value)
    assert str(tmp_path / "DA3METRIC-LARGE" / "model.safetensors") in message
    assert "depth-anything/DA3METRIC-LARGE" in message and "--model metric-large" in message


def test_config_naming_the_other_preset_is_refused_before_reading(tmp_path):
    import json

    from depthgraph.models.depth_anything_v3 import AutoModel
    from depthgraph.models.depth_anything_v3.recipe import checkpoint_config

    folder = tmp_path / "DA3METRIC-LARGE"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"not read")  # the config check comes first
    (folder / "config.json").write_text(json.dumps(checkpoint_config("mono-large")))
    with pytest.raises(WeightsError, match="'da3mono-large', but 'da3metric-large' was asked for"):
        AutoModel.from_pretrained("depth-anything-v3/metric-large", weights=folder, device="cpu")


def test_large_models_refuse_scenes():
    with pytest.raises(ValueError, match="single images only"):
        tiny_large(False).predict_scene([_image(), _image(seed=1)])
