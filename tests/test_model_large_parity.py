"""The full-size DA3METRIC-LARGE / DA3MONO-LARGE network against the official fixtures, loaded
from a recipe checkpoint written under the official names (strict load through the weights
directory, as a download would be found).

ViT-L on a CPU costs tens of seconds per image, so this module runs the network ONCE, on the
fixtures' two-image batch (landscape 480x640 and wide 600x800, both 378x504): that one pass gives
raw depth and sky of two images, the per-image fill inside a batch, the probes at input size and
metres from the stated focal lengths. The portrait case (fx != fy) is covered on its raw arrays
in ``test_model_large.py``. Bars: ``fixtures/da3-metric/README.md``. The same checkpoint then
serves a real ``depthgraph serve`` process running the metric example workflow.
"""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest
import torch
from large_model_helpers import case, fixture_image, near_threshold, reference, rel_err

pytestmark = pytest.mark.slow

BATCH = ("landscape_480x640", "wide_600x800")


@pytest.fixture(scope="module")
def weights_root(tmp_path_factory):
    from depthgraph.models.depth_anything_v3.recipe import (
        checkpoint_config,
        weights_folder_name,
        write_recipe_checkpoint,
    )

    root = tmp_path_factory.mktemp("large-weights")
    path = write_recipe_checkpoint("metric-large", root / weights_folder_name("metric-large"))
    mono = root / weights_folder_name("mono-large")
    mono.mkdir()
    (mono / "model.safetensors").symlink_to(path)  # the recipe gives both presets the same tensors
    import json

    (mono / "config.json").write_text(json.dumps(checkpoint_config("mono-large")))
    yield root
    gc.collect()


@pytest.fixture(scope="module")
def metric_model(weights_root):
    from depthgraph.models.depth_anything_v3 import AutoModel

    old = os.environ.get("DEPTHGRAPH_WEIGHTS_DIR")
    os.environ["DEPTHGRAPH_WEIGHTS_DIR"] = str(weights_root)
    try:
        model = AutoModel.from_pretrained("depth-anything-v3/metric-large", device="cpu")
    finally:
        if old is None:
            del os.environ["DEPTHGRAPH_WEIGHTS_DIR"]
        else:
            os.environ["DEPTHGRAPH_WEIGHTS_DIR"] = old
    yield model
    del model
    gc.collect()


@pytest.fixture(scope="module")
def batch_run(metric_model):
    """One forward of the two-image batch from the images themselves, then our post-processing."""
    from depthgraph.models.depth_anything_v3.preprocess import preprocess, to_rgb_uint8

    images = [fixture_image(n) for n in BATCH]
    pixels = np.stack([preprocess(to_rgb_uint8(img)) for img in images])
    out = metric_model.forward_pixels(torch.from_numpy(pixels))
    preds = [
        metric_model._postprocess(out, j, img.shape[:2], reference(n)["K_input"].astype(np.float64), "given")
        for j, (n, img) in enumerate(zip(BATCH, images))
    ]
    return pixels, out, preds


def test_loaded_strictly_from_the_weights_directory(metric_model, weights_root):
    assert metric_model.weights_path == weights_root / "DA3METRIC-LARGE" / "model.safetensors"
    assert metric_model.metric and metric_model.model_id == "depth-anything-v3/metric-large"


@pytest.mark.parametrize("j", [0, 1], ids=BATCH)
def test_raw_depth_and_sky(batch_run, j):
    pixels, out, _ = batch_run
    ref = reference(BATCH[j])
    assert np.abs(pixels[j] - ref["pixel_values"]).max() <= 1e-4
    depth, sky = out.depth[j].numpy(), out.sky[j].numpy()
    err = rel_err(depth, ref["depth"])
    assert err.max() <= 5e-4 and np.median(err) <= 5e-5, (err.max(), np.median(err))
    assert np.abs(sky - ref["sky"]).max() <= 5e-4 * max(1.0, float(ref["sky"].max()))
    for threshold, official in ((0.3, ref["official_filled"]), (0.5, ref["api_sky_mask"])):
        flipped = (sky >= threshold) != official
        assert not (flipped & ~near_threshold(ref["sky"], threshold)).any()


@pytest.mark.parametrize("j", [0, 1], ids=BATCH)
def test_each_image_of_the_batch_gets_its_own_fill(batch_run, j):
    _, _, preds = batch_run
    batch = reference("batch2__landscape_480x640+wide_600x800")
    assert abs(preds[j].sky_fill / float(batch["exact_per_image_fill"][j]) - 1) <= 1e-3
    assert abs(preds[j].sky_fill / float(reference(BATCH[j])["fill_exact"]) - 1) <= 1e-3


@pytest.mark.parametrize("j", [0, 1], ids=BATCH)
def test_probes_in_metres_at_input_size(batch_run, j):
    _, _, preds = batch_run
    ref = reference(BATCH[j])
    pred = preds[j]
    assert pred.depth.shape == tuple(case(BATCH[j])["original_hw"]) and pred.unit == "m"
    ys, xs = ref["probe_yx"][:, 0], ref["probe_yx"][:, 1]
    assert rel_err(pred.depth[ys, xs], ref["probe_depth_m"]).max() <= 5e-4
    assert rel_err(pred.depth[ys, xs] / pred.metric_scale, ref["probe_depth"]).max() <= 5e-4
    assert np.abs(pred.sky_score[ys, xs] - ref["probe_sky"]).max() <= 5e-4 * max(1.0, float(ref["sky"].max()))
    assert pred.metric_scale == pytest.approx(float(ref["metric_scale"]), rel=1e-5)


def test_mono_large_loads_the_same_tree_and_stays_relative(metric_model, weights_root):
    """DA3MONO-LARGE: same module tree (the recipe gives it the same tensors), never metres."""
    from depthgraph.models.depth_anything_v3 import AutoModel

    mono = AutoModel.from_pretrained("da3mono-large", weights=weights_root / "DA3MONO-LARGE", device="cpu", process_res=56)
    try:
        assert not mono.metric and mono.weights_path.parent.name == "DA3MONO-LARGE"
        pixels = torch.from_numpy(reference("portrait_333x250")["pixel_values"][:, :56, :42].copy())[None]
        a, b = metric_model.forward_pixels(pixels), mono.forward_pixels(pixels)  # small input: cheap
        assert torch.equal(a.depth, b.depth) and torch.equal(a.sky, b.sky)
        (r,) = mono.predict(fixture_image("portrait_333x250"), fov=60.0)
        assert r.unit == "relative" and r.metric_scale is None and r.depth.shape == (333, 250)
    finally:
        del mono
        gc.collect()


def test_metric_example_through_a_real_server_process(weights_root):
    """``depthgraph serve`` as its own process, the full-size network from the weights folder:
    the face distances of ``face_distances_metric.json`` come back in metres."""
    import base64
    import json

    import cv2
    import httpx
    from cli_helpers import REPO_ROOT, serve_process

    example = json.loads((REPO_ROOT / "examples" / "workflows" / "face_distances_metric.json").read_text())
    photo = cv2.imread(str(REPO_ROOT / "examples" / "images" / "astronaut.jpg"))[::2, ::2]  # 256 px: cheaper
    ok, png = cv2.imencode(".png", np.ascontiguousarray(photo))
    env = dict(os.environ, DEPTHGRAPH_WEIGHTS_DIR=str(weights_root), DEPTHGRAPH_DEVICE="cpu",
               DEPTHGRAPH_SERVER_REQUEST_TIMEOUT_S="900")  # fmt: skip
    body = {"specification": example,
            "inputs": {"image": {"type": "base64", "value": base64.b64encode(png.tobytes()).decode()}, "fov": 55.0}}  # fmt: skip
    with serve_process(env=env) as (base, _):
        response = httpx.post(f"{base}/workflows/run", json=body, timeout=900)
    assert response.status_code == 200, response.text
    [out] = response.json()["outputs"]
    assert out["depth"]["unit"] == "m" and out["depth"]["metric"] is True
    assert all(d is None or d > 0 for d in out["depths"])
