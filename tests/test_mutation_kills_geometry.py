"""Promises of the geometry blocks and the engine's batch logic that mutation testing found
unguarded (docs/testing.md, issue 18): each test asserts what a block or engine function
promises, on data where a wrong implementation gives a different answer. Grouped by module."""

from __future__ import annotations

import numpy as np
import pytest
from blocks_helpers import detections, gradient_image, wrap

from depthgraph.blocks.detections_depth import DetectionsDepthBlock
from depthgraph.blocks.metric_alignment import MetricAlignmentBlock, fit_scale
from depthgraph.blocks.point_cloud import PointCloudProjectionBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import DepthMap

# --- depthgraph.blocks.detections_depth ----------------------------------------------------------


def test_a_mask_at_another_resolution_is_resized_to_the_depth_map():
    # the segmentation ran on a 2x larger image than the depth map: its mask covers the left half
    depth = np.full((20, 30), 9.0, np.float32)
    depth[:, :15] = 3.0
    mask = np.zeros((1, 40, 60), bool)
    mask[0, :, :30] = True
    out = DetectionsDepthBlock().run(predictions=detections([[0, 0, 59, 39]], mask=mask), depth=depth)
    assert out["depths"] == [3.0]
    data = out["predictions"].data
    assert data["depth_min"][0] == 3.0 and data["depth_max"][0] == 3.0


# --- depthgraph.blocks.metric_alignment ----------------------------------------------------------


def _alignment_pair(scale: float = 2.0):
    """A 12x10 relative/metric pair: rows 0-9 (100 pixels) usable, rows 10-11 each left out for
    one documented reason. Of the usable pixels 40 agree exactly, 30 are 5 % off and 30 are 30 %
    off, so the median ratio is ``scale`` and 70 % agree within the default tolerance (0.1)."""
    rng = np.random.default_rng(7)
    rel = rng.uniform(0.2, 0.9, size=(12, 10)).astype(np.float32)  # some at or below 1
    factor = np.array([1.0] * 40 + [1 / 1.05] * 30 + [1 / 0.7] * 30)[rng.permutation(100)]
    met = rel * np.float32(scale)
    met[:10] = (rel[:10].astype(np.float64) * scale * factor.reshape(10, 10)).astype(np.float32)
    rel_valid, met_valid = np.ones((12, 10), bool), np.ones((12, 10), bool)
    rel_sky, met_sky = np.zeros((12, 10), bool), np.zeros((12, 10), bool)
    rel_sky[10, 0:2] = rel_sky[11, 2:6] = True
    met_sky[10, 2:4] = met_sky[11, 6:10] = True
    rel_valid[10, 4] = met_valid[10, 5] = False
    rel[10, 6], met[10, 7] = np.nan, np.nan
    rel[10, 8], met[10, 9] = 0.0, 0.0
    rel[11, 0], met[11, 1] = -1.0, -1.0
    relative = DepthMap(rel, valid=rel_valid, sky=rel_sky)
    metric = DepthMap(met, unit="m", valid=met_valid, sky=met_sky, source="a metric model")
    return relative, metric


def test_alignment_uses_exactly_the_valid_positive_non_sky_pixels_with_default_settings():
    relative, metric = _alignment_pair()
    (out,) = MetricAlignmentBlock().run(depth=[relative], metric_depth=[metric])
    assert out["pixels_used"] == 100  # exactly min_pixels (100): enough
    assert out["scale"] == pytest.approx(2.0, rel=1e-6)
    assert out["agreement"] == pytest.approx(0.7)  # default tolerance 0.1: the 5 % pixels agree
    assert out["median_relative_error"] == pytest.approx(0.05, rel=1e-4)
    # the output keeps the relative depth's own sky
    assert np.array_equal(out["depth"].sky, relative.sky)
    assert out["depth"].unit == "m"
    np.testing.assert_allclose(out["depth"].values[:10], relative.values[:10] * 2.0, rtol=1e-6)


def test_alignment_confidence_percentile_zero_keeps_every_pixel_and_ties_are_kept():
    relative, metric = _alignment_pair()
    block = MetricAlignmentBlock()
    conf = np.arange(120, dtype=np.float32).reshape(12, 10) + 1.0  # usable pixels: 1..100
    conf[3, 3] = np.nan
    (out,) = block.run(depth=[relative], metric_depth=[metric], confidence=[conf])  # percentile 0
    assert out["pixels_used"] == 100
    (out,) = block.run(depth=[relative], metric_depth=[metric], confidence=[conf], min_confidence_percentile=1.0, min_pixels=1)
    assert out["pixels_used"] == 98  # the NaN one and the least confident (1.0) go
    # ties at the cut are kept ("at or above"); left-out pixels do not move the cut
    tied = np.full((12, 10), 9.0, np.float32)
    tied[:6] = 1.0
    tied[6:10] = 5.0
    (out,) = block.run(depth=[relative], metric_depth=[metric], confidence=[tied], min_confidence_percentile=50.0)
    assert out["pixels_used"] == 100


def test_alignment_agreement_tolerance_is_inclusive():
    scale, agreement, median_error = fit_scale(np.array([1.0, 1.0, 1.0, 1.5]), np.ones(4), 0.5)
    assert (scale, agreement, median_error) == (1.0, 1.0, 0.0)


def test_batch_alignment_counts_every_view_and_names_the_batch():
    relative, metric = _alignment_pair()
    outs = MetricAlignmentBlock().run(depth=[relative, relative], metric_depth=[metric, metric], mode="batch")
    assert [o["pixels_used"] for o in outs] == [200, 200]
    with pytest.raises(StepInputError, match="the batch of 2 images: only 200 usable pixels"):
        MetricAlignmentBlock().run(depth=[relative, relative], metric_depth=[metric, metric], mode="batch", min_pixels=201)


def test_alignment_input_mistakes_name_the_property_and_index():
    relative, metric = _alignment_pair()
    with pytest.raises(StepInputError, match="property 'metric_depth'"):
        MetricAlignmentBlock().run(depth=[relative, relative], metric_depth=[metric])
    with pytest.raises(StepInputError, match=r"property 'confidence' \[index 0\]"):
        MetricAlignmentBlock().run(depth=[relative], metric_depth=[metric], confidence=[np.ones((3, 3), np.float32)])


# --- depthgraph.blocks.point_cloud ---------------------------------------------------------------


def _project(**kwargs):
    return PointCloudProjectionBlock().run(**kwargs)


def test_projection_leaves_out_sky_and_invalid_pixels_unless_sky_is_asked_for():
    values = np.full((6, 8), 2.0, np.float32)
    sky, valid = np.zeros((6, 8), bool), np.ones((6, 8), bool)
    sky[0] = True
    valid[0] = False  # a model marks sky pixels invalid
    valid[5, :4] = False  # outside a crop: finite values, but not valid
    depth = DepthMap(values, valid=valid, sky=sky)
    default = _project(depth=depth, remove_edges=False)
    assert default["num_points"] == 48 - 8 - 4
    assert not np.isin(default["point_cloud"].pixels[:, 1], [0]).any()
    with_sky = _project(depth=depth, remove_edges=False, include_sky=True)
    assert with_sky["num_points"] == 48 - 4
    assert (with_sky["point_cloud"].pixels[:, 1] == 0).sum() == 8
    assert default["point_cloud"].parent_id is None  # no image: no parent


def test_projection_default_edge_threshold_is_five_percent():
    depth = np.full((10, 12), 1.0, np.float32)
    depth[:, 6:] = 1.06  # a 6 % step: an edge at the default threshold
    assert _project(depth=depth, fov_degrees=60.0)["num_points"] == 120 - 2 * 10
    depth[:, 6:] = 1.04  # a 4 % step: not one
    assert _project(depth=depth, fov_degrees=60.0)["num_points"] == 120


def test_projection_confidence_filter_off_at_zero_inclusive_and_over_kept_pixels_only():
    depth = np.full((10, 10), 2.0, np.float32)
    conf = np.arange(100, dtype=np.float32).reshape(10, 10)
    conf[4, 4] = np.nan
    assert _project(depth=depth, confidence=conf, remove_edges=False)["num_points"] == 100  # percentile 0
    one = _project(depth=depth, confidence=conf, remove_edges=False, min_confidence_percentile=1.0)
    assert one["num_points"] == 98  # the least confident pixel and the NaN one go
    depth[:5] = np.nan  # pixels with no depth have the highest confidence ...
    conf = np.ones((10, 10), np.float32)
    conf[:5] = 100.0
    conf[5:, 6:] = 2.0  # kept pixels: 30 at 1.0, 20 at 2.0
    out = _project(depth=depth, confidence=conf, remove_edges=False, min_confidence_percentile=50.0)
    assert out["num_points"] == 50  # ... and do not move the cut; ties at the cut (1.0) are kept


def test_projection_stride_two_keeps_every_other_valid_pixel():
    depth = np.full((6, 6), 3.0, np.float32)
    depth[0, 0] = np.nan
    out = _project(depth=depth, stride=2, remove_edges=False)
    assert out["num_points"] == 9 - 1
    assert np.all(out["point_cloud"].pixels % 2 == 0)
    assert np.isfinite(out["point_cloud"].points).all()
