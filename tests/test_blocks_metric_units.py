"""Units through the blocks: the depth block with the LARGE models (a tiny network of the same
structure stands in for the 1.3 GB one), labels in metres only for metric depth, sky in colour maps."""

from __future__ import annotations

import numpy as np
import pytest
from blocks_helpers import detections, wrap
from large_model_helpers import tiny_large

from depthgraph.blocks import depth_estimation as depth_block
from depthgraph.models import loading as model_loading
from depthgraph.blocks.depth_utils import colorize_depth
from depthgraph.blocks.detections_depth import DetectionsDepthBlock
from depthgraph.blocks.visualization import detection_labels
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import DepthMap


@pytest.fixture
def large_models(monkeypatch):
    """The depth block's model cache answering the LARGE ids with tiny recipe networks."""
    cache = {
        ("depth-anything-v3/metric-large", "auto"): tiny_large(True),
        ("depth-anything-v3/mono-large", "auto"): tiny_large(False),
    }
    monkeypatch.delenv("DEPTHGRAPH_DEVICE", raising=False)
    monkeypatch.delenv("DEPTHGRAPH_BACKEND", raising=False)
    monkeypatch.setattr(model_loading, "_MODEL_CACHE", cache)
    return cache


def _photo(seed=0):
    return wrap(np.random.default_rng(seed).integers(0, 256, (60, 80, 3), dtype=np.uint8), f"p{seed}")


def test_depth_block_metric_large_gives_metres_sky_and_the_intrinsics_used(large_models):
    block = depth_block.DepthEstimationBlock()
    (out,) = block.run(images=[_photo()], model_version="depth-anything-v3/metric-large", fov=60.0)
    depth = out["depth"]
    assert isinstance(depth, DepthMap) and depth.unit == "m" and depth.is_metric
    assert "focal length from the given field of view" in depth.source and depth.parent_id == "p0"
    assert out["sky"].dtype == bool and out["sky"].shape == (60, 80)
    assert np.array_equal(depth.sky, out["sky"])
    assert out["confidence"] is None
    assert out["intrinsics"][0, 0] == pytest.approx(40 / np.tan(np.radians(30)), rel=1e-5)
    k = np.array([[70.0, 0, 40], [0, 70.0, 30], [0, 0, 1]])
    (given,) = block.run(images=[_photo()], model_version="depth-anything-v3/metric-large", intrinsics=k)
    assert np.allclose(given["intrinsics"], k) and given["depth"].unit == "m"


def test_depth_block_mono_large_is_relative(large_models):
    (out,) = depth_block.DepthEstimationBlock().run(images=[_photo()], model_version="depth-anything-v3/mono-large")
    assert out["depth"].unit == "relative" and out["sky"] is not None and out["intrinsics"] is None


def test_depth_block_metric_without_focal_is_a_clear_step_error(large_models):
    with pytest.raises(StepInputError, match="intrinsics=.*fov="):
        depth_block.DepthEstimationBlock().run(images=[_photo()], model_version="depth-anything-v3/metric-large")
    with pytest.raises(StepInputError, match="'fov'"):
        depth_block.DepthEstimationBlock().run(images=[_photo()], model_version="depth-anything-v3/metric-large", fov=200)


def test_labels_say_metres_only_for_metric_depth():
    depth = np.full((40, 60), 3.2, np.float32)
    dets = detections([[10, 10, 30, 30]], names=["person"])
    metric = DetectionsDepthBlock().run(predictions=dets, depth=DepthMap(depth, unit="m"))["predictions"]
    assert detection_labels(metric, "Class and Data", "depth", "{:.1f}") == ["person 3.2 m"]
    assert detection_labels(metric, "Class and Data", "depth", "{:.1f} m") == ["person 3.2 m"]
    relative = DetectionsDepthBlock().run(predictions=dets, depth=DepthMap(depth))["predictions"]
    assert detection_labels(relative, "Class and Data", "depth", "{:.1f}") == ["person 3.2"]
    with pytest.raises(StepInputError, match="relative depth has no unit"):
        detection_labels(relative, "Class and Data", "depth", "{:.1f} m")


def test_colour_map_draws_sky_as_farthest():
    depth = np.tile(np.linspace(1.0, 5.0, 50, dtype=np.float32), (20, 1))
    sky = np.zeros(depth.shape, bool)
    sky[:, :5] = True  # sky over the NEAREST columns: must still look farthest
    picture = colorize_depth(depth, "gray", sky=sky)
    farthest = colorize_depth(depth, "gray")[0, -1]
    assert (picture[:, :5] == farthest).all()
    assert picture[0, 5, 0] > picture[0, -1, 0]  # the range ignores the sky pixels


def test_stabiliser_never_rescales_metric_depth():
    from depthgraph.blocks.depth_stabilizer import DepthStabilizerBlock
    from depthgraph.engine.values import VideoMetadata

    block = DepthStabilizerBlock()
    base = np.tile(np.linspace(2.0, 6.0, 64, dtype=np.float32), (48, 1))
    outs = []
    for t, factor in enumerate((1.0, 1.5, 0.5)):  # the scene really gets farther / nearer
        given = DepthMap(base * factor, unit="m")
        outs.append(block.run(depth=given, image=VideoMetadata("v", t, t / 30, 30.0)))
        assert outs[-1]["depth"] is given  # unchanged: metres stay metres
        assert outs[-1]["scale"] == 1.0 and outs[-1]["shift"] == 0.0
    assert [o["reset"] for o in outs] == [True, False, False]
    relative = block.run(depth=DepthMap(base * 1.5), image=VideoMetadata("w", 0, 0.0, 30.0))
    again = block.run(depth=DepthMap(base * 3.0), image=VideoMetadata("w", 1, 1 / 30, 30.0))
    assert relative["depth"].unit == "relative" and again["scale"] != 1.0  # relative depth is aligned


def test_colour_map_block_colour_bar_and_sky_in_every_range_mode():
    from depthgraph.blocks.color_bar import _label, depth_range_ends
    from depthgraph.blocks.colormap import DepthColormapBlock

    depth = np.tile(np.linspace(1.0, 5.0, 80, dtype=np.float32), (60, 1))
    sky = np.zeros(depth.shape, bool)
    sky[:, :4] = True
    metric = DepthMap(depth, unit="m", valid=~sky, sky=sky)
    block = DepthColormapBlock()
    plain = block.run(depth=metric, colormap="gray", mode="depth")["image"].numpy_image
    barred = block.run(depth=metric, colormap="gray", mode="depth", color_bar=True)["image"].numpy_image
    assert plain.shape == (60, 80, 3) and barred.shape[0] == 60 and barred.shape[1] > 80
    np.testing.assert_array_equal(barred[:, :80], plain)
    bar = barred[:, 80, 0].astype(int)
    assert bar[0] == 255 and bar[-1] == 0 and (np.diff(bar) <= 0).all()  # hot end at the top
    assert (plain[:, :4] == 255).all()  # depth mode: far is hot, sky is the farthest
    fixed = block.run(depth=metric, colormap="gray", mode="depth", range_mode="fixed",
                      range_low=1.0, range_high=3.0)["image"].numpy_image  # fmt: skip
    assert (fixed[:, :4] == 255).all()
    assert depth_range_ends(0.25, 0.5, "inverse_depth") == (2.0, 4.0)
    assert _label(3.2, "m") == "3.2 m" and _label(3.2, "relative") == "3.2"


def test_point_cloud_leaves_sky_out_by_default_and_is_in_metres():
    from depthgraph.blocks.point_cloud import PointCloudProjectionBlock

    depth = np.full((20, 30), 4.0, np.float32)
    sky = np.zeros(depth.shape, bool)
    sky[:5] = True
    metric = DepthMap(depth, unit="m", valid=~sky, sky=sky)
    k = np.array([[30.0, 0, 15], [0, 30.0, 10], [0, 0, 1]])
    block = PointCloudProjectionBlock()
    out = block.run(depth=metric, intrinsics=k, remove_edges=False)
    assert out["num_points"] == 15 * 30
    assert np.allclose(out["point_cloud"].points[:, 2], 4.0)  # z in metres, as the depth
    with_sky = block.run(depth=metric, intrinsics=k, remove_edges=False, include_sky=True)
    assert with_sky["num_points"] == 20 * 30
