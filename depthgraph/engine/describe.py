"""Describe the loaded blocks for visual editors, and a JSON schema of whole definitions.

:func:`describe` gives every block's manifest JSON schema, outputs with kinds, identifier, aliases
and metadata; the declared kinds; ``kinds_connections`` (kind -> the block properties that accept
it; a property accepting ``*`` is listed under every kind); and :func:`definition_schema`.

Imports pydantic only (through the manifests): no torch.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from depthgraph.engine.definition import (
    JsonFieldOutput,
    WorkflowImageInput,
    WorkflowParameterInput,
    manifest_field_keys,
)
from depthgraph.engine.registry import BlockEntry, BlockRegistry, get_registry

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _property_description(manifest_schema: dict[str, Any], prop: str) -> str:
    return str(manifest_schema.get("properties", {}).get(prop, {}).get("description", ""))


def describe_block(entry: BlockEntry) -> dict[str, Any]:
    """One block: identifiers, metadata, manifest JSON schema and outputs with kinds."""
    m = entry.manifest_class
    metadata = m.block_metadata()
    schema = m.model_json_schema(by_alias=True)
    return {
        "identifier": entry.identifier,
        "manifest_type_identifier": entry.identifier,
        "aliases": entry.aliases,
        "manifest_type_identifier_aliases": entry.aliases,
        "human_friendly_block_name": metadata.get("name", m.__name__),
        "block_metadata": metadata,
        "block_schema": schema,
        "outputs_manifest": [o.to_dict() for o in m.describe_outputs()],
        "input_kinds": {
            _alias(m, field): kinds for field, kinds in m.selector_kinds().items()
        },
        "batch_parameters": [_alias(m, f) for f in m.batch_parameters()],
        "block_source": entry.source,
        "fully_qualified_block_class_name": f"{entry.block_class.__module__}.{entry.block_class.__qualname__}",
    }


def _alias(manifest_class: Any, field: str) -> str:
    """The JSON key of a field as the manifest's schema names it."""
    keys = manifest_field_keys(manifest_class).get(field)
    return keys[0] if keys else field


def _widen_keys(schema: dict[str, Any], manifest_class: Any) -> None:
    """Let a manifest schema accept every key that sets a field (aliases, alias choices, name)."""
    props = schema.get("properties", {})
    required = list(schema.get("required", []))
    any_of_required = []
    for keys in manifest_field_keys(manifest_class).values():
        present = [k for k in keys if k in props]
        if not present or len(keys) == 1:
            continue
        primary = present[0]
        for key in keys:
            props.setdefault(key, props[primary])
        if primary in required:
            required.remove(primary)
            any_of_required.append({"anyOf": [{"required": [k]} for k in keys]})
    if "required" in schema:
        schema["required"] = required
    if any_of_required:
        schema["allOf"] = [*schema.get("allOf", []), *any_of_required]


def kinds_connections(registry: BlockRegistry) -> dict[str, list[dict[str, Any]]]:
    """Kind name -> every block property that accepts it (``*`` properties under every kind)."""
    connections: dict[str, list[dict[str, Any]]] = {name: [] for name in registry.kinds}
    for entry in registry.blocks.values():
        m = entry.manifest_class
        schema = m.model_json_schema(by_alias=True)
        for field, kinds in m.selector_kinds().items():
            prop = _alias(m, field)
            item = {
                "manifest_type_identifier": entry.identifier,
                "property_name": prop,
                "property_description": _property_description(schema, prop),
                "accepted_kinds": list(kinds),
            }
            targets = list(connections) if "*" in kinds else kinds
            for kind in targets:
                connections.setdefault(kind, []).append(item)
    return connections


def definition_schema(registry: BlockRegistry | None = None) -> dict[str, Any]:
    """A JSON schema (draft 2020-12) that validates any definition built from the loaded blocks.

    Steps validate against the manifest schema of their ``type``; every key that sets a field (its
    alias, alias choices and name) is accepted, as the compiler accepts them.
    """
    registry = registry or get_registry()
    manifests = [e.manifest_class for e in sorted(registry.blocks.values(), key=lambda e: e.identifier)]
    models = [WorkflowImageInput, WorkflowParameterInput, JsonFieldOutput, *manifests]
    refs, defs = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/$defs/{model}", by_alias=True
    )

    def ref(model: Any) -> dict[str, Any]:
        return refs[(model, "validation")]

    all_defs = defs.get("$defs", {})
    for m in manifests:
        _widen_keys(all_defs[ref(m)["$ref"].rsplit("/", 1)[-1]], m)
    step_refs = [ref(m) for m in manifests]
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "depthgraph workflow definition",
        "type": "object",
        "properties": {
            "version": {"type": "string", "default": "1.0"},
            "inputs": {"type": "array", "items": {"anyOf": [ref(WorkflowImageInput), ref(WorkflowParameterInput)]}},
            "steps": {"type": "array", "items": {"anyOf": step_refs} if step_refs else False},
            "outputs": {"type": "array", "items": ref(JsonFieldOutput)},
        },
        "additionalProperties": False,
        "$defs": all_defs,
    }


def describe(registry: BlockRegistry | None = None) -> dict[str, Any]:
    """Everything a visual editor needs about the loaded blocks (see the module docstring)."""
    registry = registry or get_registry()
    kinds = [k.to_dict() for k in registry.kinds.values()]
    return {
        "blocks": [describe_block(e) for e in sorted(registry.blocks.values(), key=lambda e: e.identifier)],
        "kinds": kinds,
        "declared_kinds": kinds,
        "kinds_connections": kinds_connections(registry),
        "definition_schema": definition_schema(registry),
    }


__all__ = ["definition_schema", "describe", "describe_block", "kinds_connections"]
