"""Registry: built-ins, entry-point plugins, DEPTHGRAPH_PLUGINS modules, duplicates, bad plugins."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Literal

import pytest

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.errors import DuplicateBlockError, PluginLoadingError
from depthgraph.engine.registry import ENTRY_POINT_GROUP, get_registry, load_registry, reset_registry
from depthgraph.engine.workflow import Workflow
from depthgraph.engine.manifest import BlockManifest
from engine_helpers import AddBlock, definition, output, param

PLUGINS_DIR = Path(__file__).parent / "plugins"


@pytest.fixture
def plugin_path(monkeypatch):
    """The test plugin modules importable; forget them (and the global registry) afterwards."""
    monkeypatch.syspath_prepend(str(PLUGINS_DIR))
    monkeypatch.delenv("DEPTHGRAPH_PLUGINS", raising=False)
    yield
    for name in ("depthgraph_test_plugin", "depthgraph_bad_plugin"):
        sys.modules.pop(name, None)
    reset_registry()


def install_entry_point(root: Path, value: str = "depthgraph_test_plugin") -> None:
    """A *.dist-info declaring the entry point, as pip would write it (no pip involved)."""
    dist = root / "depthgraph_test_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: depthgraph-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ntest = {value}\n")


def echo_workflow(block_type: str = "test_plugin/echo@v1") -> dict:
    return definition(
        [param("v", 2.0, kind=["float"])],
        [{"type": block_type, "name": "e", "value": "$inputs.v"}],
        [output("g", "$steps.e.greeting")],
    )


def test_env_plugin_loads_blocks_and_kinds(plugin_path, monkeypatch):
    monkeypatch.setenv("DEPTHGRAPH_PLUGINS", " depthgraph_test_plugin , ")
    reg = load_registry(builtins=False, entry_points=False)
    assert "test_plugin/echo@v1" in reg and "test_plugin/echo_alias@v1" in reg
    assert reg.get("test_plugin/echo_alias@v1").identifier == "test_plugin/echo@v1"
    assert "DEPTHGRAPH_PLUGINS" in reg.get("test_plugin/echo@v1").source
    assert reg.kinds["greeting"].description.startswith("A friendly")
    assert Workflow.from_definition(echo_workflow("test_plugin/echo_alias@v1"), registry=reg).run() == [{"g": "hello 2.0"}]


def test_entry_point_plugin_loads(plugin_path, monkeypatch, tmp_path):
    install_entry_point(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    reg = load_registry(builtins=False, env=False)
    entry = reg.get("test_plugin/echo@v1")
    assert entry is not None and "entry point 'test'" in entry.source
    assert Workflow.from_definition(echo_workflow(), registry=reg).run(v=1.0) == [{"g": "hello 1.0"}]


def test_global_registry_uses_env_plugins_and_builtins(plugin_path, monkeypatch):
    monkeypatch.setenv("DEPTHGRAPH_PLUGINS", "depthgraph_test_plugin")
    reset_registry()
    assert Workflow.from_definition(echo_workflow()).run(v=3.0) == [{"g": "hello 3.0"}]
    from depthgraph.blocks import load_blocks

    for block in load_blocks():
        assert block.manifest_class.identifier() in get_registry()


def test_same_plugin_from_both_paths_is_a_duplicate_naming_both_sources(plugin_path, monkeypatch, tmp_path):
    install_entry_point(tmp_path, "depthgraph_test_plugin:load_blocks")  # a bare callable this time
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    # the same class offered twice is harmless ...
    reg = load_registry(builtins=False, entry_points=True, modules=["depthgraph_test_plugin"])
    assert len([n for n in reg.all_names() if n.startswith("test_plugin/")]) == 2

    class Other(WorkflowBlock):  # ... another class under the same alias is not
        class manifest_class(BlockManifest):  # noqa: N801
            type: Literal["other/echo@v1", "test_plugin/echo_alias@v1"]

    with pytest.raises(DuplicateBlockError) as info:
        load_registry(builtins=False, entry_points=True, env=False, blocks=[Other])
    message = str(info.value)
    assert "test_plugin/echo_alias@v1" in message
    assert "entry point 'test'" in message and "direct" in message


def test_duplicate_identifier_between_direct_blocks():
    class Twin(WorkflowBlock):
        manifest_class = AddBlock.manifest_class

    class Add2(WorkflowBlock):
        class manifest_class(BlockManifest):  # noqa: N801
            type: Literal["test/add@v1"]

    with pytest.raises(DuplicateBlockError, match="'test/add@v1' is registered twice.*AddBlock.*Add2"):
        load_registry(builtins=False, entry_points=False, env=False, blocks=[AddBlock, Add2])
    with pytest.raises(DuplicateBlockError, match="Twin"):  # same manifest, another block class
        load_registry(builtins=False, entry_points=False, env=False, blocks=[AddBlock, Twin])
    reg = load_registry(builtins=False, entry_points=False, env=False, blocks=[AddBlock, AddBlock])
    assert reg.get("legacy/add@v1").block_class is AddBlock


def test_bad_plugins_raise_plugin_loading_error_naming_the_module(plugin_path, monkeypatch):
    with pytest.raises(PluginLoadingError, match="depthgraph_bad_plugin.*WorkflowBlock subclasses"):
        load_registry(builtins=False, entry_points=False, env=False, modules=["depthgraph_bad_plugin"])
    monkeypatch.setenv("DEPTHGRAPH_PLUGINS", "no_such_plugin_module_xyz")
    with pytest.raises(PluginLoadingError, match="cannot import plugin module 'no_such_plugin_module_xyz'"):
        load_registry(builtins=False, entry_points=False)


def test_block_without_literal_type_is_refused():
    class NoLiteral(WorkflowBlock):
        class manifest_class(BlockManifest):  # noqa: N801
            pass

    with pytest.raises(PluginLoadingError, match="NoLiteral has no usable identifier"):
        load_registry(builtins=False, entry_points=False, env=False, blocks=[NoLiteral])


def test_builtins_are_a_plugin_module_loaded_by_name(plugin_path, monkeypatch):
    from depthgraph.engine import registry as registry_module

    reg = load_registry(entry_points=False, env=False)
    entry = reg.get("depthgraph/depth_estimation@v1")
    assert entry is not None and entry.source == registry_module.BUILTIN_SOURCE
    assert registry_module.BUILTIN_PLUGIN == "depthgraph.blocks"
    # the engine knows the built-ins only by that module name: another name, other built-ins
    monkeypatch.setattr(registry_module, "BUILTIN_PLUGIN", "depthgraph_test_plugin")
    swapped = load_registry(entry_points=False, env=False)
    assert "test_plugin/echo@v1" in swapped and "depthgraph/depth_estimation@v1" not in swapped
    assert "greeting" in swapped.kinds  # load_kinds() called as for any plugin


def test_get_actual_outputs_is_declared_on_the_manifest_base():
    from depthgraph.engine.manifest import OutputDefinition

    class Plain(BlockManifest):
        type: Literal["test/plain@v1"]

        @classmethod
        def describe_outputs(cls):
            return [OutputDefinition(name="x")]

    step = Plain(type="test/plain@v1", name="p")
    assert [o.name for o in step.get_actual_outputs()] == ["x"]
    assert Plain.get_actual_outputs is BlockManifest.get_actual_outputs  # the default, not a lookup by name
