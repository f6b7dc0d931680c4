"""The manifest half of the block protocol: what a block takes and gives, and nothing else.

Every block's manifest subclasses :class:`BlockManifest`; every hook the compiler and the
executor call is declared here with its default, so a block (built-in or plugin) overrides what
it needs and nothing is looked up by name. The behaviour half is :mod:`depthgraph.engine.block`.

A manifest is a pydantic model. Its ``type`` field is a ``Literal`` whose first value is the
canonical identifier (``depthgraph/<name>@v1``) and whose other values are aliases. Fields that
accept a reference to another value in the workflow are typed with :func:`Selector`, which puts
``"reference": true`` and the accepted kinds into the JSON schema; ``Union[Selector(...), float]``
takes either a literal or a selector. Block metadata (human name, description, licence, block type,
UI hints) lives in the model's ``json_schema_extra``.

This module imports pydantic only: no numpy, no torch.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from depthgraph.engine.kinds import WILDCARD_KIND, Kind

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_\-]*"
INPUT_SELECTOR_PATTERN = rf"^\$inputs\.{NAME_PATTERN}$"
STEP_OUTPUT_SELECTOR_PATTERN = rf"^\$steps\.{NAME_PATTERN}\.{NAME_PATTERN}$"
#: What a selector inside a step may look like (``$steps.x.*`` is for workflow outputs only).
SELECTOR_PATTERN = rf"^\$(inputs\.{NAME_PATTERN}|steps\.{NAME_PATTERN}\.{NAME_PATTERN})$"

BLOCK_TYPES = ("model", "visualization", "sink", "transformation", "analytics", "detection")


@dataclass(frozen=True)
class SelectorMarker:
    """Annotation metadata marking a field (or a union branch) as accepting a selector."""

    kinds: tuple[Kind, ...]

    @property
    def kind_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.kinds)

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema = handler(core_schema)
        schema["reference"] = True
        schema["selected_element"] = "any_data"
        schema["kind"] = [k.to_dict() for k in self.kinds]
        return schema


def Selector(kind: list[Kind] | tuple[Kind, ...] | None = None) -> Any:  # noqa: N802 (type factory)
    """A string field holding a selector (``$inputs.x`` or ``$steps.s.o``) of the given kinds.

    With no kinds the selector accepts anything (``*``).
    """
    kinds = tuple(kind) if kind else (WILDCARD_KIND,)
    return Annotated[
        str,
        StringConstraints(pattern=SELECTOR_PATTERN),
        SelectorMarker(kinds),
    ]


# --- bounded literal values ------------------------------------------------------------------------
#
# Every number and string a client can set is bounded where it is declared, so that the bound is
# enforced by validation and shows in the JSON schema (and so in the editor and docs/blocks.md).
# ``unbounded_properties`` lists what is not; a test walks every registered manifest with it.


def Number(  # noqa: N802 (type factory)
    *, ge: float | None = None, gt: float | None = None, le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A finite float within the given bounds (NaN and infinities are refused)."""
    return Annotated[float, Field(ge=ge, gt=gt, le=le, lt=lt, allow_inf_nan=False)]


def Integer(*, ge: int, le: int) -> Any:  # noqa: N802 (type factory)
    """An integer within ``[ge, le]``."""
    return Annotated[int, Field(ge=ge, le=le)]


def Text(*, max_length: int, min_length: int = 0, pattern: str | None = None) -> Any:  # noqa: N802
    """A string of at most ``max_length`` characters (optionally matching ``pattern``)."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length,
                                            pattern=pattern)]


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return [b for sub in schema[key] for b in _branches(sub)]
    return [schema]


def unbounded_properties(manifest_class: type["BlockManifest"]) -> list[str]:
    """``"field (type)"`` for every number or string a client can set without a bound.

    A number is bounded with a minimum and a maximum (exclusive or not), a string with a
    maximum length, an enum or a pattern (a selector has its pattern); lists and objects are
    bounded by their items.
    """
    schema = manifest_class.model_json_schema()
    definitions = schema.get("$defs", {})
    found: list[str] = []

    def visit(field: str, node: dict[str, Any], depth: int = 0) -> None:
        if depth > 8:
            return
        if "$ref" in node:
            node = definitions.get(node["$ref"].rsplit("/", 1)[-1], {})
        for branch in _branches(node):
            if "$ref" in branch:
                visit(field, branch, depth + 1)
                continue
            kind = branch.get("type")
            if "enum" in branch or "const" in branch:
                continue
            if kind in ("number", "integer"):
                low = "minimum" in branch or "exclusiveMinimum" in branch
                high = "maximum" in branch or "exclusiveMaximum" in branch
                if not (low and high):
                    found.append(f"{field} ({kind})")
            elif kind == "string":
                if "maxLength" not in branch and "pattern" not in branch:
                    found.append(f"{field} (string)")
            elif kind == "array":
                if "maxItems" not in branch and "prefixItems" not in branch:
                    found.append(f"{field} (array)")
                if isinstance(branch.get("items"), dict):
                    visit(field, branch["items"], depth + 1)
            elif kind == "object":
                for name, sub in branch.get("properties", {}).items():
                    visit(f"{field}.{name}", sub, depth + 1)

    for name, prop in schema.get("properties", {}).items():
        if name == "type":
            continue
        visit(name, prop)
    return found


def _literal_branches(annotation: Any) -> list[Any]:
    """The branches of a field's annotation that are not selectors and not None."""
    if typing.get_origin(annotation) is Annotated:
        if any(isinstance(m, SelectorMarker) for m in typing.get_args(annotation)[1:]):
            return []
        return [annotation]
    if annotation is type(None):
        return []
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return [b for arg in typing.get_args(annotation) for b in _literal_branches(arg)]
    return [annotation]


@lru_cache(maxsize=None)
def _literal_adapter(cls: type["BlockManifest"], field_name: str) -> TypeAdapter | None:
    info = cls.model_fields.get(field_name)
    if info is None or field_name not in _selector_kinds(cls):
        return None
    if any(isinstance(m, SelectorMarker) for m in info.metadata):
        return None  # the field is a selector and nothing else (pydantic moved the marker here)
    branches = _literal_branches(info.annotation)
    if not branches:
        return None
    annotation = branches[0] if len(branches) == 1 else typing.Union[tuple(branches)]  # type: ignore[valid-type]
    return TypeAdapter(annotation)


def check_runtime_value(cls: type["BlockManifest"], field_name: str, value: Any) -> Any:
    """A scalar that reached ``field_name`` through a selector, checked like a literal would be.

    A field such as ``Union[Number(ge=0, le=1), Selector(...)]`` bounds the literal; a value
    sent as a runtime parameter must meet the same bounds. Only plain scalars (bool, int,
    float, str) are checked: arrays and other values of a kind are the block's to judge.
    Raises ``ValueError`` saying what was expected.
    """
    if not isinstance(value, (bool, int, float, str)):
        return value
    adapter = _literal_adapter(cls, field_name)
    if adapter is None:
        return value
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        first = error.errors()[0]
        raise ValueError(f"{first['msg']}, got {_short(value)}") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class OutputDefinition(BaseModel):
    """One output of a block: its name and the kinds it gives."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    kind: list[Kind] = Field(default_factory=lambda: [WILDCARD_KIND])
    description: str = ""

    @property
    def kind_names(self) -> list[str]:
        return [k.name for k in self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": [k.to_dict() for k in self.kind],
            "description": self.description,
        }


def _find_markers(annotation: Any) -> list[SelectorMarker]:
    """Every SelectorMarker inside an annotation (through Annotated, Union, Optional, list...)."""
    found: list[SelectorMarker] = []
    if typing.get_origin(annotation) is Annotated:
        for meta in typing.get_args(annotation)[1:]:
            if isinstance(meta, SelectorMarker):
                found.append(meta)
        found.extend(_find_markers(typing.get_args(annotation)[0]))
        return found
    for arg in typing.get_args(annotation):
        found.extend(_find_markers(arg))
    return found


class BlockManifest(BaseModel):
    """Base of every block manifest. Subclasses set ``type: Literal[canonical, *aliases]``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: str
    name: str = Field(description="Unique name of this step in the workflow.", max_length=256)

    #: Fields that are not block inputs (never resolved, never passed to ``run``).
    RESERVED_FIELDS: ClassVar[tuple[str, ...]] = ("type", "name")

    # --- what the block gives ------------------------------------------------------------------

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return []

    @classmethod
    def output_names(cls) -> list[str]:
        return [o.name for o in cls.describe_outputs()]

    def get_actual_outputs(self) -> list[OutputDefinition]:
        """The outputs of this step, which may depend on its properties.

        The compiler reads kinds from here; the default is the class's :meth:`describe_outputs`.
        """
        return type(self).describe_outputs()

    # --- how the executor feeds it -------------------------------------------------------------

    @classmethod
    def batch_parameters(cls) -> list[str]:
        """Fields that receive a whole batch (a list, one value per image) in one call.

        Empty (the default) means the block is called once per batch element.
        """
        return []

    # --- identity ------------------------------------------------------------------------------

    @classmethod
    def type_values(cls) -> list[str]:
        annotation = cls.model_fields["type"].annotation
        if typing.get_origin(annotation) is Literal:
            return [str(v) for v in typing.get_args(annotation)]
        raise TypeError(f"{cls.__name__}.type must be a Literal of identifiers, got {annotation!r}")

    @classmethod
    def identifier(cls) -> str:
        """The canonical identifier, ``depthgraph/<name>@v<N>``."""
        return cls.type_values()[0]

    @classmethod
    def aliases(cls) -> list[str]:
        return cls.type_values()[1:]

    @classmethod
    def block_metadata(cls) -> dict[str, Any]:
        extra = cls.model_config.get("json_schema_extra")
        return dict(extra) if isinstance(extra, dict) else {}

    # --- selectors -----------------------------------------------------------------------------

    @classmethod
    def selector_kinds(cls) -> dict[str, list[str]]:
        """Field name -> kind names, for every field that accepts a selector."""
        return _selector_kinds(cls)

    @classmethod
    def input_fields(cls) -> list[str]:
        """The fields handed to the block's ``run`` (everything but ``type`` and ``name``)."""
        return [f for f in cls.model_fields if f not in cls.RESERVED_FIELDS]


@lru_cache(maxsize=None)
def _selector_kinds(cls: type[BlockManifest]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for field_name, info in cls.model_fields.items():
        markers = _find_markers(info.annotation)
        for meta in info.metadata:
            if isinstance(meta, SelectorMarker):
                markers.append(meta)
        if markers:
            names: list[str] = []
            for m in markers:
                for n in m.kind_names:
                    if n not in names:
                        names.append(n)
            result[field_name] = names
    return result
