"""Multi-View Depth with known cameras in a workflow: batch-level extrinsics/intrinsics, units, errors."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import random_bgr, tiny_model
from test_model_poses_inputs import K, arc
from test_scene_workflow import SMALL, tiny_in_cache  # noqa: F401  (fixture)

from depthgraph.engine.errors import StepInputError
from depthgraph.engine.serialization import serialize_outputs
from depthgraph.engine.workflow import Workflow

def definition(units: str | None = "m") -> dict:
    step = {"type": "depthgraph/multiview_depth@v1", "name": "views", "images": "$inputs.image",
            "extrinsics": "$inputs.extrinsics", "intrinsics": "$inputs.intrinsics"}  # fmt: skip
    if units:
        step["units"] = units
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"},
                   {"type": "WorkflowParameter", "name": "extrinsics", "kind": ["numpy_array"]},
                   {"type": "WorkflowParameter", "name": "intrinsics", "kind": ["numpy_array"]}],
        "steps": [step,
                  {"type": "depthgraph/scene_point_cloud@v1", "name": "fused", "scene": "$steps.views.scene"}],
        "outputs": [
            {"type": "JsonField", "name": "depth", "selector": "$steps.views.depth"},
            {"type": "JsonField", "name": "extrinsics", "selector": "$steps.views.extrinsics"},
            {"type": "JsonField", "name": "scene", "selector": "$steps.views.scene"},
            {"type": "JsonField", "name": "cloud", "selector": "$steps.fused.point_cloud"},
        ],
    }  # fmt: skip


def _inputs():
    images = [random_bgr(60, 80, seed=s) for s in range(3)]
    k = np.stack([K * np.array([[80 / 640], [60 / 480], [1]])] * 3)
    return images, arc(3), k


def test_known_cameras_through_the_workflow(tiny_in_cache):
    images, e, k = _inputs()
    results = Workflow.from_definition(definition()).run(image=images, extrinsics=e.tolist(), intrinsics=k)
    expected = tiny_in_cache.predict_scene(images, e, k, units="m")
    for s, r in enumerate(results):
        np.testing.assert_array_equal(r["extrinsics"], e[s, :3].astype(np.float32))
        np.testing.assert_allclose(np.asarray(r["depth"]), expected.views[s].depth, rtol=1e-6)
        assert r["depth"].unit == "m" and r["depth"].source == "aligned to given cameras"
    np.testing.assert_allclose(results[0]["cloud"].points, expected.point_cloud().points, atol=1e-5)
    assert results[0]["cloud"].unit == "m"  # the fused cloud is in the cameras' unit
    serialized = serialize_outputs(results)[0]
    summary = serialized["scene"]
    assert summary["depth_unit"] == "m" and summary["frame"] == "given cameras"
    assert serialized["cloud"]["type"] == "point_cloud" and serialized["cloud"]["unit"] == "m"
    assert summary["pose_alignment"]["scale"] == pytest.approx(expected.pose_alignment.scale)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e, k: (e[:2], k), "property 'extrinsics': extrinsics: 2 matrices for 3 images"),
        (lambda e, k: (e, k[:, :2]), "property 'intrinsics': intrinsics: expected shape"),
        (lambda e, k: (np.where(np.isclose(e, e[1, 0, 3]), np.nan, e), k), "property 'extrinsics'.*NaN"),
    ],
)
def test_bad_cameras_name_the_property(tiny_in_cache, change, message):
    images, e, k = _inputs()
    e, k = change(e, k)
    with pytest.raises(StepInputError, match=message):
        Workflow.from_definition(definition()).run(image=images, extrinsics=e, intrinsics=k)


def test_cameras_without_units_give_a_relative_cloud(tiny_in_cache):
    """Aligned to cameras whose unit was not named: the numbers are in that unknown unit, so the
    cloud (like the depth) says relative, never metres."""
    images, e, k = _inputs()
    (first, *_) = Workflow.from_definition(definition(units=None)).run(image=images, extrinsics=e, intrinsics=k)
    assert first["depth"].unit == "relative" and first["cloud"].unit == "relative" and len(first["cloud"]) > 0


def test_units_without_cameras_and_unknown_units_are_refused(tiny_in_cache):
    images, e, k = _inputs()
    doc = definition()
    del doc["steps"][0]["extrinsics"], doc["steps"][0]["intrinsics"]
    with pytest.raises(StepInputError, match="property 'units'"):
        Workflow.from_definition(doc).run(image=images, extrinsics=e, intrinsics=k)
    with pytest.raises(Exception, match="units"):
        Workflow.from_definition(definition(units="parsec"))
