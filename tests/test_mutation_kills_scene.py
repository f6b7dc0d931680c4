"""What the multi-view depth block promises for each view, pinned where mutation testing
(docs/testing.md) found that no test noticed a change: the reference strategy reaches the model,
cameras are both-or-neither, each view's depth keeps its image's parent, the colour map and the
intrinsics come from the prediction, the scene records its model, and scenes stay on torch when
the process's backend is an exported graph. The tiny-config network stands in for DA3 (one pass
is well under a second), so the file stays fast enough for mutmut to run per mutant."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import random_bgr, tiny_model

from depthgraph.blocks.multiview_depth import MultiViewDepthBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import WorkflowImageData
from depthgraph.models import loading

SMALL = "depth-anything-v3/small"


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(112)


@pytest.fixture()
def tiny_on_torch(tiny, monkeypatch):
    """The block's model cache answers 'small' on torch with the tiny network (restored after)."""
    monkeypatch.delenv(loading.DEVICE_ENV, raising=False)
    monkeypatch.setitem(loading._MODEL_CACHE, loading.cache_key(SMALL, None, "torch"), tiny)
    return tiny


def _views(n: int = 3) -> list[WorkflowImageData]:
    return [WorkflowImageData(numpy_image=random_bgr(48, 64, seed=s), parent_id=f"view{s}") for s in range(n)]


def test_each_view_keeps_its_parent_the_scene_records_its_model_and_outputs_are_the_predictions(tiny_on_torch):
    views = _views()
    results = MultiViewDepthBlock().run(images=views, colormap="gray")
    expected = tiny_on_torch.predict_scene([v.numpy_image for v in views])
    assert len(results) == 3
    scene = results[0]["scene"]
    assert scene.model_version == SMALL and scene.model_dump()["model_version"] == SMALL
    for s, (view, out) in enumerate(zip(views, results)):
        assert out["depth"].parent_id == view.parent_id == out["image"].parent_id
        np.testing.assert_allclose(out["intrinsics"], expected.views[s].intrinsics, rtol=1e-5)
        assert out["intrinsics"].shape == (3, 3) and out["intrinsics"].dtype == np.float32
        picture = out["image"].numpy_image
        # the colour map asked for: grey has equal channels (turbo, the default, does not)
        assert (picture[..., 0] == picture[..., 1]).all() and (picture[..., 1] == picture[..., 2]).all()
        assert picture.std() > 0


@pytest.mark.parametrize("reference", ["first", 2])
def test_the_reference_asked_for_reaches_the_model(tiny_on_torch, reference):
    views = _views()
    results = MultiViewDepthBlock().run(images=views, reference=reference)
    expected = tiny_on_torch.predict_scene([v.numpy_image for v in views], reference=reference)
    default = tiny_on_torch.predict_scene([v.numpy_image for v in views])
    want = [s == expected.reference_view for s in range(3)]
    assert [r["is_reference"] for r in results] == want
    if reference == "first":
        assert want[0]
    # the asked-for reference changes the scene's frame: view extrinsics follow it
    np.testing.assert_allclose(results[1]["extrinsics"], expected.views[1].extrinsics, atol=1e-5)
    if expected.reference_view != default.reference_view:
        assert not np.allclose(results[1]["extrinsics"], default.views[1].extrinsics, atol=1e-5)


@pytest.mark.parametrize("given", ["extrinsics", "intrinsics"])
def test_cameras_are_both_or_neither_and_the_error_names_a_camera_property(tiny_on_torch, given):
    views = _views()
    cameras = {
        "extrinsics": np.stack([np.eye(4, dtype=np.float32)] * 3),
        "intrinsics": np.stack([np.array([[60, 0, 32], [0, 60, 24], [0, 0, 1]], np.float32)] * 3),
    }
    with pytest.raises(StepInputError) as caught:
        MultiViewDepthBlock().run(images=views, **{given: cameras[given]})
    text = str(caught.value)
    assert "without" in text and ("'extrinsics'" in text or "'intrinsics'" in text)


def test_scenes_stay_on_torch_when_the_process_backend_is_an_exported_graph(tiny_on_torch, monkeypatch):
    monkeypatch.setenv(loading.BACKEND_ENV, "onnxruntime")
    before = dict(loading._MODEL_CACHE)
    results = MultiViewDepthBlock().run(images=_views(2))
    assert len(results) == 2 and results[0]["depth"].values.shape == (48, 64)
    assert dict(loading._MODEL_CACHE) == before  # nothing else was loaded or exported
