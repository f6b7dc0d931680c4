"""Roboflow manifests generated from depthgraph's manifests (one source of truth).

For each depthgraph manifest class this builds a subclass of Roboflow's ``WorkflowBlockManifest``:

- ``type``: the canonical identifier plus the aliases outside Roboflow's own namespace
  (``roboflow_core/...`` aliases would clash with Roboflow's blocks and are not exported);
- every other field rebuilt with the same default, description, examples, alias and
  constraints, where each depthgraph selector becomes Roboflow's ``Selector`` of the mapped kinds
  (it carries ``selector_points_to_batch``, which Roboflow's compiler needs);
- the block metadata (name, descriptions, licence, block type, UI hints) copied over;
- one validator that runs depthgraph's own manifest on the step (selectors replaced by a
  placeholder), so every check depthgraph makes (ranges, safe file names, ...) applies in
  Roboflow too and fails at compilation naming the property;
- ``describe_outputs`` in Roboflow's ``OutputDefinition`` and ``batch_parameters`` as
  ``get_parameters_accepting_batches``.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from roboflow_workflows.execution_engine.entities.base import (
    OutputDefinition as RoboflowOutputDefinition,
)
from roboflow_workflows.execution_engine.entities.types import Selector as RoboflowSelector
from roboflow_workflows.prototypes.block import WorkflowBlockManifest

from depthgraph.engine.manifest import BlockManifest, SelectorMarker
from depthgraph.roboflow.kinds import KindMapper

#: Namespaces whose aliases stay out of Roboflow (they belong to Roboflow's own blocks).
RESERVED_ALIAS_PREFIXES = ("roboflow_core/",)
#: Roboflow execution engine versions the generated blocks work with.
EXECUTION_ENGINE_COMPATIBILITY = ">=1.0.0,<2.0.0"
#: Anything Roboflow accepts as a selector in a step.
_ROBOFLOW_SELECTOR_RE = re.compile(
    r"^\$(inputs\.[A-Za-z_0-9\-]+|steps\.[A-Za-z_\-0-9]+\.[A-Za-z_*0-9\-]+)$"
)
#: What a selector becomes when depthgraph's manifest checks a step (any valid selector works).
_PLACEHOLDER_SELECTOR = "$inputs.selector"


def exported_type_names(manifest: type[BlockManifest]) -> list[str]:
    """The identifier and the aliases a depthgraph block answers to inside Roboflow."""
    aliases = [a for a in manifest.aliases() if not a.startswith(RESERVED_ALIAS_PREFIXES)]
    return [manifest.identifier(), *aliases]


def _union(args: tuple[Any, ...]) -> Any:
    return Union[args] if len(args) > 1 else args[0]  # type: ignore[valid-type]


def convert_annotation(annotation: Any, map_kinds: KindMapper) -> Any:
    """``annotation`` with every depthgraph selector replaced by Roboflow's."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *metadata = typing.get_args(annotation)
        markers = [m for m in metadata if isinstance(m, SelectorMarker)]
        if markers:
            return _roboflow_selector(markers, map_kinds)
        return Annotated[(convert_annotation(base, map_kinds), *metadata)]  # type: ignore[valid-type]
    if origin in (Union, types.UnionType):
        return _union(tuple(convert_annotation(a, map_kinds) for a in typing.get_args(annotation)))
    if origin in (list, typing.List):
        (item,) = typing.get_args(annotation) or (Any,)
        return list[convert_annotation(item, map_kinds)]  # type: ignore[misc]
    if origin in (dict, typing.Dict):
        key, value = typing.get_args(annotation) or (str, Any)
        return dict[key, convert_annotation(value, map_kinds)]  # type: ignore[misc]
    return annotation


def _roboflow_selector(markers: list[SelectorMarker], map_kinds: KindMapper) -> Any:
    kinds = []
    for marker in markers:
        for kind in map_kinds.map_all(marker.kinds):
            if kind not in kinds:
                kinds.append(kind)
    return RoboflowSelector(kind=kinds)


def _field(info: FieldInfo, map_kinds: KindMapper) -> tuple[Any, FieldInfo]:
    """(annotation, FieldInfo) of one rebuilt field."""
    markers = [m for m in info.metadata if isinstance(m, SelectorMarker)]
    if markers:  # a bare selector: pydantic moved Annotated's metadata onto the FieldInfo
        annotation: Any = _roboflow_selector(markers, map_kinds)
    else:
        annotation = convert_annotation(info.annotation, map_kinds)
        if info.metadata:  # constraints such as ge/le/min_length
            annotation = Annotated[(annotation, *info.metadata)]  # type: ignore[valid-type]
    kwargs: dict[str, Any] = {
        "description": info.description,
        "examples": info.examples,
        "title": info.title,
        "validation_alias": info.validation_alias,
        "json_schema_extra": info.json_schema_extra,
    }
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if info.default_factory is not None:
        kwargs["default_factory"] = info.default_factory
    elif info.default is not PydanticUndefined:
        kwargs["default"] = info.default  # None included
    return annotation, Field(**kwargs)


def _readable(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("type",))
        message = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"property '{where}': {message}" if where else message)
    return "; ".join(parts)


def build_manifest(
    manifest: type[BlockManifest], map_kinds: KindMapper, class_name: str, module: str
) -> type[WorkflowBlockManifest]:
    """The Roboflow manifest class for one depthgraph manifest class."""
    type_names = exported_type_names(manifest)
    annotations: dict[str, Any] = {"type": Literal[tuple(type_names)]}  # type: ignore[valid-type]
    namespace: dict[str, Any] = {"__module__": module, "__qualname__": class_name}
    for field_name, info in manifest.model_fields.items():
        if field_name in ("type", "name"):
            continue
        annotations[field_name], namespace[field_name] = _field(info, map_kinds)
    namespace["__annotations__"] = annotations
    namespace["__doc__"] = manifest.__doc__
    namespace["model_config"] = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_extra=manifest.block_metadata()
    )
    namespace["depthgraph_manifest"] = manifest
    outputs = [
        RoboflowOutputDefinition(name=o.name, kind=map_kinds.map_all(o.kind))
        for o in manifest.describe_outputs()
    ]
    batch_parameters = list(manifest.batch_parameters())
    input_fields = list(manifest.input_fields())

    def describe_outputs(cls: type) -> list[RoboflowOutputDefinition]:
        return list(outputs)

    def get_parameters_accepting_batches(cls: type) -> list[str]:
        return list(batch_parameters)

    def get_execution_engine_compatibility(cls: type) -> Optional[str]:
        return EXECUTION_ENGINE_COMPATIBILITY

    def check_with_depthgraph(self: Any) -> Any:
        data = {"type": manifest.identifier(), "name": "step"}
        literal_fields = []
        for name in input_fields:
            value = getattr(self, name)
            if isinstance(value, str) and _ROBOFLOW_SELECTOR_RE.match(value):
                value = _PLACEHOLDER_SELECTOR
            else:
                literal_fields.append(name)
            data[name] = value
        try:
            checked = manifest.model_validate(data)
        except ValidationError as error:
            raise ValueError(_readable(error)) from None
        for name in literal_fields:  # the values exactly as depthgraph's engine would pass them
            self.__dict__[name] = getattr(checked, name)  # (no assignment validation loop)
        return self

    namespace["describe_outputs"] = classmethod(describe_outputs)
    namespace["get_parameters_accepting_batches"] = classmethod(get_parameters_accepting_batches)
    namespace["get_execution_engine_compatibility"] = classmethod(
        get_execution_engine_compatibility
    )
    namespace["_check_with_depthgraph"] = model_validator(mode="after")(check_with_depthgraph)
    namespace["__annotations__"]["depthgraph_manifest"] = ClassVar[type]
    return type(class_name, (WorkflowBlockManifest,), namespace)
