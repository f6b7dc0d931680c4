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

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
    name: str = Field(description="Unique name of this step in the workflow.")

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
