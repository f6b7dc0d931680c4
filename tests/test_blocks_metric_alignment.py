"""``depthgraph/metric_alignment@v1``: relative depth scaled to metres by a metric depth."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from depthgraph.blocks.metric_alignment import MetricAlignmentBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import DepthMap
from depthgraph.manifests.metric_alignment import MetricAlignmentManifest


def _scene(scale: float, seed: int = 0, shape=(40, 50)):
    rng = np.random.default_rng(seed)
    metric = rng.uniform(1.0, 10.0, size=shape).astype(np.float32)
    sky = np.zeros(shape, bool)
    sky[:5] = True
    metric[sky] = 50.0
    relative = metric / np.float32(scale)
    relative[sky] = 1.0  # the relative model's sky value has nothing to do with metres
    return DepthMap(relative), DepthMap(metric, unit="m", sky=sky, source="DA3METRIC-LARGE, focal length given")


def test_recovers_the_scale_and_ignores_sky_and_outliers():
    relative, metric = _scene(2.5)
    rel = np.array(relative.values)
    rel[10, :10] *= 7.0  # a few pixels the two models disagree on
    (out,) = MetricAlignmentBlock().run(depth=[DepthMap(rel)], metric_depth=[metric])
    assert out["scale"] == pytest.approx(2.5, rel=1e-6)
    assert out["depth"].unit == "m" and "aligned to DA3METRIC-LARGE" in out["depth"].source
    usable = 40 * 50 - 5 * 50
    assert out["pixels_used"] == usable
    assert out["agreement"] == pytest.approx((usable - 10) / usable)
    assert out["median_relative_error"] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(out["depth"].values[20], metric.values[20], rtol=1e-5)
    assert np.array_equal(out["depth"].sky, metric.sky)


def test_confidence_percentile_drops_unconfident_pixels():
    relative, metric = _scene(2.0)
    rel = np.array(relative.values)
    rel[5:25] *= 3.0  # wrong where the confidence is low
    conf = np.ones(rel.shape, np.float32) * 5
    conf[5:25] = 1.0
    block = MetricAlignmentBlock()
    (plain,) = block.run(depth=[DepthMap(rel)], metric_depth=[metric])
    (conf_out,) = block.run(depth=[DepthMap(rel)], metric_depth=[metric], confidence=[conf], min_confidence_percentile=60.0)
    assert plain["scale"] != pytest.approx(2.0, rel=1e-3)
    assert conf_out["scale"] == pytest.approx(2.0, rel=1e-6)


def test_batch_mode_fits_one_scale_for_every_view():
    views = [_scene(3.0, seed=s) for s in range(3)]
    rels = [DepthMap(np.array(r.values) * f) for (r, _), f in zip(views, (1.0, 1.0, 1.2))]
    mets = [m for _, m in views]
    block = MetricAlignmentBlock()
    per_image = block.run(depth=rels, metric_depth=mets)
    together = block.run(depth=rels, metric_depth=mets, mode="batch")
    assert [round(o["scale"], 4) for o in per_image] == [3.0, 3.0, 2.5]
    assert len({o["scale"] for o in together}) == 1 and together[0]["scale"] == pytest.approx(3.0, rel=1e-6)
    assert together[0]["agreement"] < 1.0  # the third view disagrees by 20 %


def test_relative_metric_input_is_refused():
    relative, _ = _scene(2.0)
    with pytest.raises(StepInputError, match="metric_depth.*relative"):
        MetricAlignmentBlock().run(depth=[relative], metric_depth=[relative])
    with pytest.raises(StepInputError, match="metric_depth.*without a unit"):
        MetricAlignmentBlock().run(depth=[relative], metric_depth=[np.ones((40, 50), np.float32)])


def test_size_mismatch_and_too_few_pixels_name_the_image():
    relative, metric = _scene(2.0)
    small = DepthMap(np.ones((10, 10), np.float32), unit="m")
    with pytest.raises(StepInputError, match=r"index 0.*differs"):
        MetricAlignmentBlock().run(depth=[relative], metric_depth=[small])
    all_sky = metric.replace(sky=np.ones(metric.shape, bool))
    with pytest.raises(StepInputError, match="image 0: only 0 usable pixels"):
        MetricAlignmentBlock().run(depth=[relative], metric_depth=[all_sky])


def test_properties_are_bounded_in_the_schema():
    schema = MetricAlignmentManifest.model_json_schema()["properties"]
    assert schema["min_confidence_percentile"]["maximum"] == 99.0
    assert schema["agreement_tolerance"]["exclusiveMinimum"] == 0.0
    assert schema["min_pixels"]["maximum"] == 10_000_000
    with pytest.raises(ValidationError):
        MetricAlignmentManifest.model_validate(
            {"type": "depthgraph/metric_alignment@v1", "name": "a", "depth": "$steps.d.depth",
             "metric_depth": "$steps.m.depth", "agreement_tolerance": 0}
        )


def test_a_scene_becomes_metric_from_one_metric_pass_per_view(monkeypatch):
    """multi-view depth (small) + metric-large + alignment over every view, in one workflow
    (tiny networks of the real structures stand in for the real weights)."""
    from large_model_helpers import tiny_large
    from model_helpers import tiny_model

    from depthgraph.models import loading as model_loading
    from depthgraph.engine.workflow import Workflow

    monkeypatch.delenv("DEPTHGRAPH_DEVICE", raising=False)
    monkeypatch.delenv("DEPTHGRAPH_BACKEND", raising=False)
    monkeypatch.setattr(model_loading, "_MODEL_CACHE", {
        ("depth-anything-v3/small", "auto"): tiny_model(),
        ("depth-anything-v3/metric-large", "auto"): tiny_large(True),
    })  # fmt: skip
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {"type": "depthgraph/multiview_depth@v1", "name": "scene", "images": "$inputs.image"},
            {"type": "depthgraph/depth_estimation@v1", "name": "metric", "images": "$inputs.image",
             "model_version": "depth-anything-v3/metric-large", "fov": 60.0},
            {"type": "depthgraph/metric_alignment@v1", "name": "align", "depth": "$steps.scene.depth",
             "metric_depth": "$steps.metric.depth", "confidence": "$steps.scene.confidence", "mode": "batch",
             "min_confidence_percentile": 10},
        ],
        "outputs": [{"type": "JsonField", "name": n, "selector": f"$steps.align.{n}"} for n in ("depth", "scale", "agreement")],
    }  # fmt: skip
    rng = np.random.default_rng(0)
    views = [rng.integers(0, 256, (60, 80, 3), dtype=np.uint8) for _ in range(3)]
    out = Workflow.from_definition(definition).run(image=views)
    assert len(out) == 3 and len({o["scale"] for o in out}) == 1 and out[0]["scale"] > 0
    for o in out:
        assert o["depth"].unit == "m" and 0.0 <= o["agreement"] <= 1.0
