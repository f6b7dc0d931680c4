"""The depth estimation block with recipe weights (real network, deterministic weights)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from blocks_helpers import load_example_image, recipe_weights, recipe_weights_root, wrap  # noqa: F401

from depthgraph.models import loading as depth_module
from depthgraph.blocks.depth_estimation import DepthEstimationBlock
from depthgraph.engine.values import DepthMap


@pytest.fixture(scope="module")
def batch_outputs(recipe_weights_root):  # noqa: F811
    """One batched run over two images of different sizes, shared by the tests below."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(recipe_weights_root))
        patch.delenv("DEPTHGRAPH_DEVICE", raising=False)
        depth_module.clear_model_cache()
        images = [
            wrap(load_example_image("astronaut"), "astro"),
            wrap(load_example_image("chelsea"), "cat"),
        ]
        outputs = DepthEstimationBlock().run(images=images, model_version="depth-anything-v3/small")
    return images, outputs


def test_batch_gives_one_result_per_image_with_input_sizes(batch_outputs) -> None:
    images, outputs = batch_outputs
    assert len(outputs) == 2
    for image, out in zip(images, outputs):
        size = (image.height, image.width)
        assert set(out) == {"image", "normalized_depth", "depth", "confidence", "intrinsics", "sky"}
        assert out["sky"] is None  # small/base have no sky branch
        assert isinstance(out["depth"], DepthMap) and out["depth"].unit == "relative"
        assert out["depth"].shape == size and out["depth"].values.dtype == np.float32
        assert out["normalized_depth"].shape == size and out["normalized_depth"].dtype == np.float32
        assert out["confidence"].shape == size
        assert out["intrinsics"].shape == (3, 3)
        assert out["image"].numpy_image.shape == (*size, 3)
        assert out["image"].parent_id == image.parent_id


def test_values_are_finite_and_in_range(batch_outputs) -> None:
    _, outputs = batch_outputs
    for out in outputs:
        depth, norm = out["depth"].values, out["normalized_depth"]
        assert np.isfinite(depth).all() and np.isfinite(out["confidence"]).all()
        # normalised per image, never across the batch: every image reaches both 0 and 1
        assert norm.min() == 0.0 and norm.max() == pytest.approx(1.0)
        assert np.unravel_index(norm.argmax(), norm.shape) == np.unravel_index(depth.argmin(), depth.shape)
        k = out["intrinsics"]
        assert k[0, 0] > 0 and k[1, 1] > 0 and k[2, 2] == pytest.approx(1.0)


def test_model_is_loaded_once_per_variant_and_device(batch_outputs, recipe_weights) -> None:  # noqa: F811
    assert depth_module.loaded_models() == [("depth-anything-v3/small", "auto")]
    first = depth_module.get_model("depth-anything-v3/small")
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(depth_module.get_model("depth-anything-v3/small")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(model is first for model in results)
    assert len(depth_module.loaded_models()) == 1


def test_empty_batch_runs_no_model() -> None:
    assert DepthEstimationBlock().run(images=[]) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model_version": "depth-anything-v3/huge"}, "property 'model_version'.*huge"),
        ({"images": [np.zeros((8, 8, 3), np.uint8)]}, r"property 'images' \[index 0\]"),
        ({"images": "photo.jpg"}, "property 'images'"),
    ],
)
def test_bad_inputs_name_the_property(kwargs: dict, match: str) -> None:
    arguments = {"images": [wrap(np.zeros((8, 8, 3), np.uint8))], "model_version": "depth-anything-v3/small"}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DepthEstimationBlock().run(**arguments)
