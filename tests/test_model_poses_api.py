"""``predict_scene`` with known cameras: frames, units, the fused cloud, checkpoints without an encoder.

Uses the tiny network (recipe formula) at a low resolution; the full-size parity lives in
``test_model_poses_parity.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import random_bgr, tiny_model
from test_model_poses_inputs import K, arc, rigid_inverse

from depthgraph.models.depth_anything_v3.pose_input import CameraInputError


def _views(n=3):
    return [random_bgr(60 + 4 * i, 80, seed=i) for i in range(n)]


def _cams(n=3, unit=1.0):
    e = arc(n)
    e[:, :3, 3] *= unit
    return e, np.stack([K * np.array([[80 / 640], [60 / 480], [1]])] * n)


def test_aligned_outputs_are_in_the_callers_frame_and_unit():
    model = tiny_model()
    e, k = _cams()
    scene = model.predict_scene(_views(), e, k, units="m")
    out = scene.network_outputs()
    np.testing.assert_array_equal(out["extrinsics"], e[:, :3].astype(np.float32))
    assert scene.unit == "m" and scene.aligned_to_input and scene.reference_view == 0
    raw = model.predict_scene(_views(), e, k, align_to_input_scale=False)
    assert raw.unit == "relative" and not raw.aligned_to_input
    a = scene.pose_alignment
    np.testing.assert_allclose(out["depth"] * a.scale, raw.network_outputs()["depth"], rtol=1e-6)
    # the fused cloud in the caller's frame is the network-frame cloud mapped back by the fit
    mine, theirs = scene.point_cloud(), raw.point_cloud()
    assert len(mine) == len(theirs) > 0
    back = (theirs.points.astype(np.float64) - a.translation) @ a.rotation / a.scale
    np.testing.assert_allclose(mine.points, back, atol=1e-3 * np.abs(back).max())
    # per-view records carry the caller's cameras and intrinsics in input pixels
    v = scene.views[1]
    np.testing.assert_array_equal(v.extrinsics, e[1, :3].astype(np.float32))
    np.testing.assert_allclose(v.intrinsics[:2, :2], k[1, :2, :2], rtol=1e-5)


def test_depth_follows_the_callers_unit():
    model = tiny_model()
    e, k = _cams()
    one = model.predict_scene(_views(), e, k)
    mm = model.predict_scene(_views(), *_cams(unit=1000.0), units="mm")
    ratio = mm.network_outputs()["depth"] / one.network_outputs()["depth"]
    np.testing.assert_allclose(ratio, 1000.0, rtol=1e-4)
    assert mm.unit == "mm" and one.unit == "relative"


def test_two_views_use_our_rule_and_three_by_four_is_accepted():
    model = tiny_model()
    e, k = _cams(2)
    a = model.predict_scene(_views(2), e, k)
    b = model.predict_scene(_views(2), e[:, :3], k)
    assert a.pose_alignment.degenerate
    np.testing.assert_array_equal(a.network_outputs()["depth"], b.network_outputs()["depth"])
    r = a.pose_alignment.rotation
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-9)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"intrinsics": "k"}, "intrinsics were given without extrinsics"),
        ({"extrinsics": "e"}, "extrinsics were given without intrinsics"),
        ({"extrinsics": "e", "intrinsics": "k", "units": "furlong"}, "units: expected one of"),
        ({"extrinsics": "e", "intrinsics": "k", "units": "m", "align_to_input_scale": False}, "units only apply"),
        ({"units": "m"}, "pass extrinsics and intrinsics too"),
    ],
)
def test_clear_errors(kwargs, message):
    e, k = _cams()
    kwargs = {n: {"e": e, "k": k}.get(v, v) if isinstance(v, str) and n != "units" else v for n, v in kwargs.items()}
    with pytest.raises(ValueError, match=message):
        tiny_model().predict_scene(_views(), **kwargs)


def test_one_view_with_cameras_is_refused():
    e, k = _cams(2)
    with pytest.raises(CameraInputError, match="at least two views"):
        tiny_model().predict_scene(_views(1), e[:1], k[:1])


def test_checkpoint_without_camera_encoder_loads_but_refuses_cameras(tmp_path):
    from safetensors.numpy import save_file

    from depthgraph.models.depth_anything_v3 import AutoModel
    from depthgraph.models.depth_anything_v3.recipe import recipe_state_dict
    from depthgraph.models.depth_anything_v3.weights import WeightsError

    state = {k: v for k, v in recipe_state_dict("small").items() if ".cam_enc." not in k}
    save_file(state, str(tmp_path / "model.safetensors"))
    model = AutoModel.from_pretrained("da3-small", weights=tmp_path / "model.safetensors", device="cpu", process_res=56)
    e, k = _cams()
    with pytest.raises(ValueError, match="no camera encoder"):
        model.predict_scene(_views(), e, k)
    full = recipe_state_dict("small")
    part = {n: v for n, v in full.items() if n != "model.cam_enc.trunk.2.attn.qkv.weight"}
    save_file(part, str(tmp_path / "part.safetensors"))
    with pytest.raises(WeightsError, match="cam_enc.trunk.2.attn.qkv.weight"):
        AutoModel.from_pretrained("da3-small", weights=tmp_path / "part.safetensors", device="cpu")


def test_two_scenes_in_one_pass_and_view_order():
    """B = 2 scenes with their own cameras reproduce their single runs; reordering views 1..S-1
    permutes the outputs (view 0 defines the frame)."""
    import torch

    from depthgraph.models.depth_anything_v3.pose_conditioning import condition_on_cameras
    from depthgraph.models.depth_anything_v3.preprocess import to_rgb_uint8
    from depthgraph.models.depth_anything_v3.scene import prepare_views

    model = tiny_model()
    e, k = _cams()
    rgbs = [to_rgb_uint8(v) for v in _views()]
    pixels, geo = prepare_views(rgbs, model.process_res)
    args = ([g.input_hw for g in geo], [g.resized_hw for g in geo], [g.crop_offset for g in geo], pixels.shape[-2:])
    enc_a = condition_on_cameras(e, k, *args).encoding
    e_b = e.copy()
    e_b[:, :3, 3] *= 2.0
    e_b[1:, :3, 3] += 0.3
    enc_b = condition_on_cameras(e_b, k, *args).encoding
    both = model.forward_pixels(torch.from_numpy(np.stack([pixels, pixels])), pose_encoding=torch.from_numpy(np.stack([enc_a, enc_b])))
    for i, enc in enumerate((enc_a, enc_b)):
        one = model.forward_pixels(torch.from_numpy(pixels)[None], pose_encoding=torch.from_numpy(enc)[None])
        np.testing.assert_allclose(both.depth[i].numpy(), one.depth[0].numpy(), rtol=1e-4)
        np.testing.assert_allclose(both.extrinsics[i].numpy(), one.extrinsics[0].numpy(), atol=1e-5)
    assert not np.allclose(both.extrinsics[0].numpy(), both.extrinsics[1].numpy(), atol=1e-3)  # the cameras matter
    order = [0, 2, 1]
    a = model.predict_scene(_views(), e, k).network_outputs()
    b = model.predict_scene([_views()[i] for i in order], e[order], k[order]).network_outputs()
    np.testing.assert_allclose(b["depth"], a["depth"][order], rtol=1e-4)
