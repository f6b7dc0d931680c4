"""Block discovery: plugin modules, the built-in blocks being the first of them.

The engine knows no block by name: the built-in blocks are the plugin module
``depthgraph.blocks`` (:data:`BUILTIN_PLUGIN`), imported by name and registered exactly as any
other plugin. A plugin is a module exposing ``load_blocks() -> list[type[WorkflowBlock]]`` and optionally
``load_kinds() -> list[Kind]``. It is found either

- through the entry-point group ``depthgraph.plugins`` (the entry point names the module, or a
  ``load_blocks`` callable), or
- through the environment variable ``DEPTHGRAPH_PLUGINS``: comma-separated module names.

Every identifier and alias maps to one block class; two sources claiming the same name raise
:class:`DuplicateBlockError` naming both.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, Callable, Iterable

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.errors import DuplicateBlockError, PluginLoadingError
from depthgraph.engine.kinds import BUILTIN_KINDS, Kind
from depthgraph.engine.manifest import BlockManifest

ENTRY_POINT_GROUP = "depthgraph.plugins"
PLUGINS_ENV = "DEPTHGRAPH_PLUGINS"
#: The plugin module holding the built-in blocks (imported by name, like any plugin).
BUILTIN_PLUGIN = "depthgraph.blocks"
BUILTIN_SOURCE = f"built-in ({BUILTIN_PLUGIN})"


@dataclass
class BlockEntry:
    """A registered block: its class, the manifest class and where it came from."""

    block_class: type[WorkflowBlock]
    source: str

    @property
    def manifest_class(self) -> type[BlockManifest]:
        return self.block_class.manifest_class

    @property
    def identifier(self) -> str:
        return self.manifest_class.identifier()

    @property
    def aliases(self) -> list[str]:
        return self.manifest_class.aliases()


@dataclass
class BlockRegistry:
    """Identifier and alias -> block, plus the declared kinds."""

    blocks: dict[str, BlockEntry] = field(default_factory=dict)  # canonical identifier -> entry
    names: dict[str, BlockEntry] = field(default_factory=dict)  # identifier or alias -> entry
    kinds: dict[str, Kind] = field(default_factory=dict)
    kind_sources: dict[str, str] = field(default_factory=dict)

    def add_block(self, block_class: Any, source: str) -> None:
        """Register one block class; raises on a bad class or a name already taken."""
        entry = BlockEntry(_check_block_class(block_class, source), source)
        for name in [entry.identifier, *entry.aliases]:
            taken = self.names.get(name)
            if taken is not None:
                if taken.block_class is entry.block_class:
                    return  # the same class offered twice by one source: harmless
                raise DuplicateBlockError(
                    f"block name '{name}' is registered twice: by {_class_name(taken.block_class)} "
                    f"from {taken.source} and by {_class_name(entry.block_class)} from {source}"
                )
        self.blocks[entry.identifier] = entry
        for name in [entry.identifier, *entry.aliases]:
            self.names[name] = entry

    def add_kind(self, kind: Any, source: str) -> None:
        """Declare a kind; declaring the same name again is ignored."""
        if not isinstance(kind, Kind):
            raise PluginLoadingError(
                f"{source}: load_kinds() must return Kind objects, got {type(kind).__name__}"
            )
        if kind.name not in self.kinds:
            self.kinds[kind.name] = kind
            self.kind_sources[kind.name] = source

    def get(self, name: str) -> BlockEntry | None:
        """The block answering to an identifier or alias, or None."""
        return self.names.get(name)

    def all_names(self) -> list[str]:
        return sorted(self.names)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.blocks)


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_block_class(block_class: Any, source: str) -> type[WorkflowBlock]:
    if not (isinstance(block_class, type) and issubclass(block_class, WorkflowBlock)):
        raise PluginLoadingError(
            f"{source}: load_blocks() must return WorkflowBlock subclasses, got {block_class!r}"
        )
    manifest = getattr(block_class, "manifest_class", None)
    if not (isinstance(manifest, type) and issubclass(manifest, BlockManifest)):
        raise PluginLoadingError(
            f"{source}: block {block_class.__qualname__} has no manifest_class "
            "(a BlockManifest subclass)"
        )
    try:
        manifest.identifier()
    except Exception as exc:  # noqa: BLE001 - any failure here is the plugin's mistake
        raise PluginLoadingError(
            f"{source}: block {block_class.__qualname__} has no usable identifier: {exc}"
        ) from exc
    return block_class


def _call_hook(hook: Callable[[], Any], what: str, source: str) -> list[Any]:
    try:
        items = hook()
    except Exception as exc:  # noqa: BLE001
        raise PluginLoadingError(f"{source}: {what}() raised {type(exc).__name__}: {exc}") from exc
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise PluginLoadingError(f"{source}: {what}() must return a list, got {type(items).__name__}")
    return list(items)


def _load_plugin_object(registry: BlockRegistry, obj: Any, source: str) -> None:
    """Register what a plugin module (or a bare ``load_blocks`` callable) offers."""
    if isinstance(obj, ModuleType) or hasattr(obj, "load_blocks"):
        load_kinds = getattr(obj, "load_kinds", None)
        if load_kinds is not None:
            for kind in _call_hook(load_kinds, "load_kinds", source):
                registry.add_kind(kind, source)
        load_blocks = getattr(obj, "load_blocks", None)
        if load_blocks is None:
            raise PluginLoadingError(f"{source}: the plugin module has no load_blocks() function")
    elif callable(obj):
        load_blocks = obj
    else:
        raise PluginLoadingError(f"{source}: expected a module or a load_blocks callable, got {obj!r}")
    for block_class in _call_hook(load_blocks, "load_blocks", source):
        registry.add_block(block_class, source)


def _import_module(module_name: str, source: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001
        raise PluginLoadingError(
            f"{source}: cannot import plugin module '{module_name}': {type(exc).__name__}: {exc}"
        ) from exc


def plugin_modules_from_env(value: str | None = None) -> list[str]:
    """Module names listed in ``DEPTHGRAPH_PLUGINS`` (or in ``value``)."""
    raw = os.environ.get(PLUGINS_ENV, "") if value is None else value
    return [m.strip() for m in raw.split(",") if m.strip()]


def load_registry(
    *,
    builtins: bool = True,
    entry_points: bool = True,
    env: bool = True,
    modules: Iterable[str] = (),
    blocks: Iterable[type[WorkflowBlock]] = (),
) -> BlockRegistry:
    """Build a registry.

    Args:
        builtins: include the built-in plugin module :data:`BUILTIN_PLUGIN`.
        entry_points: include plugins of the entry-point group ``depthgraph.plugins``.
        env: include the modules named in ``DEPTHGRAPH_PLUGINS``.
        modules: more plugin module names to load.
        blocks: more block classes to register directly (source ``"direct"``).
    """
    registry = BlockRegistry()
    for kind in BUILTIN_KINDS:
        registry.add_kind(kind, "built-in")
    if builtins:
        _load_plugin_object(registry, _import_module(BUILTIN_PLUGIN, BUILTIN_SOURCE), BUILTIN_SOURCE)
    if entry_points:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            source = f"entry point '{ep.name}' ({ep.value})"
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001
                raise PluginLoadingError(
                    f"{source}: cannot load: {type(exc).__name__}: {exc}"
                ) from exc
            _load_plugin_object(registry, obj, source)
    named = [(m, f"plugin module '{m}' ({PLUGINS_ENV})") for m in (plugin_modules_from_env() if env else [])]
    named += [(m, f"plugin module '{m}'") for m in modules]
    for name, source in named:
        _load_plugin_object(registry, _import_module(name, source), source)
    for block_class in blocks:
        registry.add_block(block_class, "direct")
    return registry


_REGISTRY: BlockRegistry | None = None


def get_registry() -> BlockRegistry:
    """The process-wide registry (built on first use with every source; see :func:`load_registry`)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_registry()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the process-wide registry; the next :func:`get_registry` rebuilds it."""
    global _REGISTRY
    _REGISTRY = None
