"""The scene blocks in the engine: batch-level ``scene`` values, steps that run once, compiler
checks, and a workflow from JSON that writes one PLY per scene.

The DA3 model here is the tiny-config network put into the block's model cache (the same
``predict_scene`` code; recipe weights and the full network are covered by the CLI test).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import pytest
from model_helpers import random_bgr, tiny_model

from depthgraph.models import loading as depth_estimation
from depthgraph.engine.block import WorkflowBlock
from depthgraph.blocks.multiview_depth import SceneValue
from depthgraph.engine.errors import KindMismatchError, StepInputError
from depthgraph.engine.kinds import IMAGE_KIND, SCENE_KIND
from depthgraph.engine.registry import load_registry
from depthgraph.engine.serialization import serialize_outputs
from depthgraph.engine.workflow import Workflow
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector

SMALL = "depth-anything-v3/small"


@pytest.fixture()
def tiny_in_cache(monkeypatch):
    """The block's model cache answers 'small' with the tiny network (restored afterwards)."""
    monkeypatch.delenv("DEPTHGRAPH_DEVICE", raising=False)
    monkeypatch.setitem(depth_estimation._MODEL_CACHE, (SMALL, "auto"), tiny_model(112))
    return tiny_model(112)


def scene_definition(out_dir: str, extra_outputs: list[dict] | None = None) -> dict[str, Any]:
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"},
                   {"type": "WorkflowParameter", "name": "thr", "default_value": 1.0}],
        "steps": [
            {"type": "depthgraph/multiview_depth@v1", "name": "views", "images": "$inputs.image"},
            {"type": "depthgraph/scene_point_cloud@v1", "name": "fused", "scene": "$steps.views.scene",
             "conf_threshold": "$inputs.thr"},
            {"type": "depthgraph/point_cloud_export@v1", "name": "ply", "point_cloud": "$steps.fused.point_cloud",
             "output_directory": out_dir, "file_prefix": "scene"},
        ],
        "outputs": [
            {"type": "JsonField", "name": "depth", "selector": "$steps.views.depth"},
            {"type": "JsonField", "name": "extrinsics", "selector": "$steps.views.extrinsics"},
            {"type": "JsonField", "name": "is_reference", "selector": "$steps.views.is_reference"},
            {"type": "JsonField", "name": "scene", "selector": "$steps.views.scene"},
            {"type": "JsonField", "name": "ply", "selector": "$steps.ply.file_path"},
            {"type": "JsonField", "name": "num_points", "selector": "$steps.fused.num_points"},
            *(extra_outputs or []),
        ],
    }  # fmt: skip


def test_scene_workflow_from_json_writes_one_ply(tiny_in_cache, tmp_path):
    from plyfile import PlyData

    workflow = Workflow.from_definition(json.dumps(scene_definition(str(tmp_path / "out"))))
    views = workflow.compiled.step("views")
    assert views.batch_level_outputs == {"scene"} and not views.runs_once
    assert workflow.compiled.step("fused").runs_once and workflow.compiled.step("ply").runs_once
    images = [random_bgr(60, 80, seed=s) for s in range(3)]
    results = workflow.run(image=images)
    assert len(results) == 3
    scene = results[0]["scene"]
    assert isinstance(scene, SceneValue) and all(r["scene"] is scene for r in results)
    expected = tiny_in_cache.predict_scene(images)
    for s, r in enumerate(results):
        assert r["depth"].shape == (60, 80)
        np.testing.assert_allclose(r["extrinsics"], expected.views[s].extrinsics, atol=1e-6)
        assert r["is_reference"] == (s == expected.reference_view)
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 1 and all(r["ply"] == str(files[0]) for r in results)  # written once
    ply = PlyData.read(str(files[0]))
    # no cameras given: the scene's scale is the network's own, so the cloud has no unit
    assert results[0]["scene"].prediction.unit == "relative" == results[0]["depth"].unit
    assert ply.comments == ["written by depthgraph", "frame world", "unit relative"]
    count = results[0]["num_points"]
    assert ply["vertex"].count == count == int((expected.network_outputs()["confidence"] >= 1.0).sum())
    cloud = expected.point_cloud(conf_threshold=1.0)
    np.testing.assert_allclose(np.stack([ply["vertex"][a] for a in "xyz"], axis=1), cloud.points, atol=1e-5)
    summary = serialize_outputs(results)[1]["scene"]
    assert summary["type"] == "scene" and summary["num_views"] == 3
    assert summary["reference_view"] == expected.reference_view
    assert np.asarray(summary["extrinsics"]).shape == (3, 3, 4)


def test_one_image_is_a_scene_of_one_view(tiny_in_cache, tmp_path):
    workflow = Workflow.from_definition(scene_definition(str(tmp_path)))
    (result,) = workflow.run(image=random_bgr(60, 80))
    assert result["scene"].prediction.reference_view == 0 and result["is_reference"] is True
    (mono,) = tiny_in_cache.predict([random_bgr(60, 80)])
    np.testing.assert_array_equal(result["depth"], mono.depth)


def test_compiler_checks_the_scene_kind(tmp_path):
    bad_source = scene_definition(str(tmp_path))
    bad_source["steps"][1]["scene"] = "$steps.views.depth"
    with pytest.raises(KindMismatchError, match="accepts kinds \\[scene\\]"):
        Workflow.from_definition(bad_source)
    bad_target = scene_definition(str(tmp_path))
    bad_target["steps"].append({"type": "depthgraph/point_cloud_projection@v1", "name": "proj",
                                "depth": "$steps.views.scene"})  # fmt: skip
    with pytest.raises(KindMismatchError, match="gives \\[scene\\]"):
        Workflow.from_definition(bad_target)


class PerImageSceneManifest(BlockManifest):
    type: Literal["test/per_image_scene@v1"]
    image: Selector(kind=[IMAGE_KIND])  # type: ignore[valid-type]

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="scene", kind=[SCENE_KIND])]


class PerImageSceneBlock(WorkflowBlock):
    manifest_class = PerImageSceneManifest

    def run(self, image: Any) -> dict[str, Any]:  # type: ignore[override]
        return {"scene": object()}


class BatchSceneManifest(PerImageSceneManifest):
    type: Literal["test/batch_scene@v1"]  # type: ignore[assignment]

    @classmethod
    def batch_parameters(cls) -> list[str]:
        return ["image"]


class UnsharedSceneBlock(WorkflowBlock):
    """Wrong on purpose: a different 'scene' object per element."""

    manifest_class = BatchSceneManifest

    def run(self, image: list) -> list[dict[str, Any]]:  # type: ignore[override]
        return [{"scene": object()} for _ in image]


def _one_step(block_type: str) -> dict[str, Any]:
    return {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": [{"type": block_type, "name": "s", "image": "$inputs.image"}],
            "outputs": [{"type": "JsonField", "name": "scene", "selector": "$steps.s.scene"}]}  # fmt: skip


def test_batch_level_kind_needs_a_batch_aware_block():
    registry = load_registry(builtins=False, entry_points=False, env=False, blocks=[PerImageSceneBlock])
    with pytest.raises(KindMismatchError, match="batch-level kind"):
        Workflow.from_definition(_one_step("test/per_image_scene@v1"), registry)


def test_batch_level_output_must_be_one_value():
    from depthgraph.blocks.scene_point_cloud import ScenePointCloudBlock
    from depthgraph.engine.errors import StepExecutionError

    registry = load_registry(builtins=False, entry_points=False, env=False,
                             blocks=[UnsharedSceneBlock, ScenePointCloudBlock])  # fmt: skip
    definition = _one_step("test/batch_scene@v1")
    definition["steps"].append({"type": "depthgraph/scene_point_cloud@v1", "name": "cloud", "scene": "$steps.s.scene"})
    workflow = Workflow.from_definition(definition, registry)
    with pytest.raises(StepExecutionError, match="batch-level .* different values"):
        workflow.run(image=[random_bgr(8, 8), random_bgr(8, 8)])


def test_scene_block_reports_bad_inputs(tiny_in_cache, tmp_path):
    definition = scene_definition(str(tmp_path))
    definition["steps"][0]["reference"] = 5
    workflow = Workflow.from_definition(definition)
    with pytest.raises(StepInputError, match="out of range"):
        workflow.run(image=[random_bgr(30, 40), random_bgr(30, 40)])
