"""A video through metric-large (a tiny network of the same structure stands in for the 1.3 GB
one), the stabiliser and a smoothed colour map: every frame's depth stays in metres, unscaled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from large_model_helpers import tiny_large
from video_helpers import pattern_frames

from depthgraph.models import loading as model_loading
from depthgraph.engine.values import DepthMap
from depthgraph.engine.workflow import Workflow
from depthgraph.video import run_video

STEPS = [
    {"type": "depthgraph/depth_estimation@v1", "name": "depth", "images": "$inputs.image",
     "model_version": "depth-anything-v3/metric-large", "fov": 60.0},
    {"type": "depthgraph/depth_stabilizer@v1", "name": "stable", "depth": "$steps.depth.depth",
     "image": "$inputs.image"},
    {"type": "depthgraph/depth_colormap@v1", "name": "colour", "depth": "$steps.stable.depth",
     "range_mode": "smoothed", "image": "$inputs.image", "alpha": 1.0, "color_bar": True},
]  # fmt: skip


@pytest.fixture
def metric_large(monkeypatch):
    monkeypatch.delenv("DEPTHGRAPH_DEVICE", raising=False)
    monkeypatch.delenv("DEPTHGRAPH_BACKEND", raising=False)
    monkeypatch.setattr(model_loading, "_MODEL_CACHE", {("depth-anything-v3/metric-large", "auto"): tiny_large(True)})


def test_video_keeps_metric_depth_unscaled(metric_large, tmp_path: Path):
    definition = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}], "steps": STEPS,
                  "outputs": [{"type": "JsonField", "name": n, "selector": s} for n, s in
                              (("raw", "$steps.depth.depth"), ("stable", "$steps.stable.depth"),
                               ("scale", "$steps.stable.scale"), ("colour", "$steps.colour.image"))]}  # fmt: skip
    seen = []
    run_video(Workflow.from_definition(definition), pattern_frames(4), fps=12,
              on_frame=lambda frame, result: seen.append(result))  # fmt: skip
    assert len(seen) == 4
    for result in seen:
        assert isinstance(result["stable"], DepthMap) and result["stable"].unit == "m"
        np.testing.assert_array_equal(result["stable"].values, result["raw"].values)
        assert result["scale"] == 1.0
        assert result["colour"].numpy_image.shape[1] > 64  # the colour bar was appended
