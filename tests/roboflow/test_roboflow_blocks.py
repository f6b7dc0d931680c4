"""The plugin's blocks and kinds as Roboflow's real loader and describe endpoint see them."""

from __future__ import annotations

from typing import Any, Literal

from roboflow_helpers import require_roboflow

require_roboflow()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from pydantic import Field, ValidationError  # noqa: E402
from roboflow_workflows.core_steps.loader import load_kinds as roboflow_core_kinds  # noqa: E402
from roboflow_workflows.execution_engine.entities.base import (  # noqa: E402
    ImageParentMetadata,
)
from roboflow_workflows.execution_engine.entities.base import (  # noqa: E402
    WorkflowImageData as RoboflowImage,
)
from roboflow_workflows.execution_engine.introspection.blocks_loader import (  # noqa: E402
    load_workflow_blocks,
)
from roboflow_workflows.http_contract.describe import describe_workflows_blocks  # noqa: E402

import depthgraph.roboflow as plugin  # noqa: E402
from depthgraph.engine.block import WorkflowBlock  # noqa: E402
from depthgraph.engine.kinds import IMAGE_KIND, Kind  # noqa: E402
from depthgraph.engine.registry import load_registry  # noqa: E402
from depthgraph.engine.values import WorkflowImageData  # noqa: E402
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector  # noqa: E402
from depthgraph.roboflow.blocks import generate  # noqa: E402

ALIAS = "roboflow_core/depth_estimation@v1"
NEW_KINDS = {"depth_map", "camera_intrinsics", "point_cloud"}


def exported_types(block: type) -> list[str]:
    schema = block.get_manifest().model_json_schema()["properties"]["type"]
    return [schema["const"]] if "const" in schema else list(schema["enum"])


@pytest.fixture(scope="module")
def description() -> dict[str, Any]:
    """What Roboflow's inference server answers on /workflows/blocks/describe."""
    return describe_workflows_blocks().model_dump(by_alias=True)


def test_load_blocks_gives_every_depthgraph_block_but_the_alias() -> None:
    registry = load_registry()
    blocks = plugin.load_blocks()
    exported = {name for block in blocks for name in exported_types(block)}
    assert set(registry.blocks) <= exported
    assert len(blocks) == len(registry.blocks)
    assert ALIAS in registry.names  # depthgraph itself still answers to it
    assert ALIAS not in exported


def test_roboflow_loader_finds_the_plugin_and_keeps_its_own_depth_block() -> None:
    specs = load_workflow_blocks()
    ours = {s.manifest_class.model_json_schema()["properties"]["type"].get("const") for s in specs
            if s.block_source == "depthgraph.roboflow"}
    assert ours == set(load_registry().blocks)
    theirs = [s for s in specs if s.block_source == "workflows_core"
              and s.manifest_class.model_json_schema()["properties"]["type"].get("const") == ALIAS]
    assert len(theirs) == 1


def test_describe_lists_each_block_with_depthgraphs_kinds(description: dict[str, Any]) -> None:
    by_type = {b["manifest_type_identifier"]: b for b in description["blocks"]}
    registry = load_registry()
    for identifier, entry in registry.blocks.items():
        block = by_type[identifier]
        manifest = entry.manifest_class
        outputs = {o["name"]: [k["name"] for k in o["kind"]] for o in block["outputs_manifest"]}
        assert outputs == {o.name: o.kind_names for o in manifest.describe_outputs()}, identifier
        properties = block["block_schema"]["properties"]
        for field_name, kind_names in manifest.selector_kinds().items():
            schema = properties[field_name]
            branches = schema.get("anyOf", [schema])
            found = [k["name"] for branch in branches for k in branch.get("kind", [])]
            assert set(found) == set(kind_names), (identifier, field_name)
            assert any(branch.get("selector_points_to_batch") for branch in branches)
        metadata = manifest.block_metadata()
        assert block["block_schema"]["name"] == metadata["name"]
        assert block["block_schema"]["block_type"] == metadata["block_type"]


def test_describe_declares_the_new_kinds_once_with_descriptions(description: dict[str, Any]) -> None:
    declared = {k["name"]: k for k in description["declared_kinds"]}
    for name in NEW_KINDS:
        assert declared[name]["description"], name
    names = [k["name"] for k in description["declared_kinds"]]
    assert len(names) == len(set(names))
    assert {k.name for k in plugin.load_kinds()} >= NEW_KINDS
    assert not {k.name for k in plugin.load_kinds()} & {k.name for k in roboflow_core_kinds()}


def test_depth_maps_connect_to_depthgraphs_consumers(description: dict[str, Any]) -> None:
    connections = description["kinds_connections"]["depth_map"]
    found = {(c["manifest_type_identifier"], c["property_name"]) for c in connections}
    assert ("depthgraph/depth_colormap@v1", "depth") in found
    assert ("depthgraph/point_cloud_projection@v1", "depth") in found
    images = {(c["manifest_type_identifier"], c["property_name"])
              for c in description["kinds_connections"]["image"]}
    assert ("depthgraph/depth_estimation@v1", "images") in images
    assert ("roboflow_core/image_blur@v1", "image") in images  # one kind object for both


def test_shared_kinds_are_roboflows_own_objects() -> None:
    core = {k.name: k for k in roboflow_core_kinds()}
    manifest = next(b for b in plugin.load_blocks()
                    if exported_types(b) == ["depthgraph/depth_estimation@v1"]).get_manifest()
    outputs = {o.name: o.kind for o in manifest.describe_outputs()}
    assert outputs["image"] == [core["image"]]
    assert outputs["normalized_depth"] == [core["numpy_array"]]
    assert outputs["depth"][0].name == "depth_map" and outputs["depth"][0] not in core.values()


def test_depthgraph_checks_apply_in_roboflow_manifests() -> None:
    export = next(b for b in plugin.load_blocks()
                  if exported_types(b) == ["depthgraph/point_cloud_export@v1"]).get_manifest()
    step = {"type": "depthgraph/point_cloud_export@v1", "name": "save",
            "point_cloud": "$steps.cloud.point_cloud"}
    assert export.model_validate({**step, "file_prefix": "ok"}).file_prefix == "ok"
    with pytest.raises(ValidationError, match="file_prefix must not contain"):
        export.model_validate({**step, "file_prefix": "../evil"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        export.model_validate({**step, "unknown": 1})


# --- a block added to depthgraph appears in Roboflow with no second manifest --------------------

RULER_KIND = Kind("ruler_reading", "A test-only kind Roboflow does not know.")


class RulerManifest(BlockManifest):
    type: Literal["test/ruler@v1"]
    image: Selector(kind=[IMAGE_KIND]) = Field(description="Image to measure.")  # type: ignore[valid-type]
    scale: float = Field(default=2.0, gt=0.0)

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="width", kind=[RULER_KIND]),
                OutputDefinition(name="image", kind=[IMAGE_KIND])]


class RulerBlock(WorkflowBlock):
    manifest_class = RulerManifest

    def run(self, image: WorkflowImageData, scale: float) -> dict[str, Any]:
        flipped = np.ascontiguousarray(image.numpy_image[:, ::-1])
        return {"width": image.width * scale, "image": image.derive(flipped, suffix="flip")}


def test_a_new_depthgraph_block_is_generated_and_runs() -> None:
    registry = load_registry(builtins=False, entry_points=False, env=False, blocks=[RulerBlock])
    generated = generate(registry)
    (block,) = generated.blocks
    manifest = block.get_manifest()
    assert exported_types(block) == ["test/ruler@v1"]
    assert [k.name for k in manifest.describe_outputs()[0].kind] == ["ruler_reading"]
    declared = [k.name for k in generated.kinds.declared()]
    assert "ruler_reading" in declared and len(declared) == len(set(declared))
    assert "ruler_reading" in generated.kinds.generic()
    assert not NEW_KINDS & set(generated.kinds.generic())  # those have known forms
    with pytest.raises(ValidationError):
        manifest.model_validate({"type": "test/ruler@v1", "name": "r", "image": "$inputs.image",
                                 "scale": 0})
    pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    source = RoboflowImage(parent_metadata=ImageParentMetadata(parent_id="frame-7"),
                           numpy_image=pixels)
    result = block().run(image=source, scale=0.5)
    assert result["width"] == 3.0
    assert isinstance(result["image"], RoboflowImage)
    assert result["image"].parent_metadata.parent_id == "frame-7"
    np.testing.assert_array_equal(result["image"].numpy_image, pixels[:, ::-1])
