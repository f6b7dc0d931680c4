"""The workflow definition: pydantic models of the JSON (Roboflow Workflows v1 format).

A definition is ``{"version": "1.0", "inputs": [...], "steps": [...], "outputs": [...]}``.

- inputs: ``WorkflowImage`` (alias ``InferenceImage``) ``{name}`` and ``WorkflowParameter`` (alias
  ``InferenceParameter``) ``{name, default_value?, kind?}``;
- steps: ``{type, name, ...}``; kept as plain dicts here, each is parsed later by the manifest of
  its block (the compiler does that, it knows the registry);
- outputs: ``JsonField`` ``{name, selector, coordinates_system?}``.

Selectors are ``$inputs.<name>``, ``$steps.<step>.<output>`` and, in outputs only,
``$steps.<step>.*`` (every output of the step as one dict). :func:`parse_selector` splits them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from depthgraph.engine.manifest import NAME_PATTERN

IMAGE_INPUT_TYPES = ("WorkflowImage", "InferenceImage")
PARAMETER_INPUT_TYPES = ("WorkflowParameter", "InferenceParameter")
OUTPUT_TYPES = ("JsonField",)

_NAME_RE = re.compile(rf"^{NAME_PATTERN}$")
_SELECTOR_RE = re.compile(
    rf"^\$(?:(?P<inputs>inputs)\.(?P<input>{NAME_PATTERN})"
    rf"|(?P<steps>steps)\.(?P<step>{NAME_PATTERN})\.(?P<output>{NAME_PATTERN}|\*))$"
)


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"'{value}' is not a valid name: use letters, digits, '_' and '-', "
            "starting with a letter or '_'"
        )
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkflowImageInput(_Model):
    """An image input; at run time an image or a list of images (a batch)."""

    type: Literal["WorkflowImage", "InferenceImage"]
    name: str

    _name = field_validator("name")(_check_name)

    @property
    def kind_names(self) -> list[str]:
        return ["image"]


class WorkflowParameterInput(_Model):
    """A scalar input with an optional default and optional declared kinds."""

    type: Literal["WorkflowParameter", "InferenceParameter"]
    name: str
    default_value: Any = None
    kind: list[Union[str, dict[str, Any]]] = Field(default_factory=list)

    _name = field_validator("name")(_check_name)

    @field_validator("kind")
    @classmethod
    def _kind_names_present(cls, value: list[Any]) -> list[Any]:
        for i, k in enumerate(value):
            if isinstance(k, dict) and not isinstance(k.get("name"), str):
                raise ValueError(f"kind[{i}] must be a kind name or an object with a 'name'")
        return value

    @property
    def has_default(self) -> bool:
        return "default_value" in self.model_fields_set

    @property
    def kind_names(self) -> list[str]:
        names = [k if isinstance(k, str) else k["name"] for k in self.kind]
        return names or ["*"]


class JsonFieldOutput(_Model):
    """A workflow output: the value a selector points at, under ``name``.

    ``coordinates_system`` is accepted for compatibility (``own`` or ``parent``); depthgraph has
    no crops, so both give the same coordinates.
    """

    type: Literal["JsonField"] = "JsonField"
    name: str
    selector: str
    coordinates_system: Literal["own", "parent"] = "own"

    _name = field_validator("name")(_check_name)


@dataclass(frozen=True)
class ParsedSelector:
    """A selector split into parts: ``source`` is ``"inputs"`` or ``"steps"``."""

    raw: str
    source: Literal["inputs", "steps"]
    name: str
    output: str | None = None

    @property
    def is_wildcard(self) -> bool:
        return self.output == "*"

    @property
    def node(self) -> str:
        """The graph node the selector points at (``$inputs.x`` or ``$steps.s``)."""
        return f"$inputs.{self.name}" if self.source == "inputs" else f"$steps.{self.name}"


def parse_selector(value: Any) -> ParsedSelector | None:
    """Split a selector string; None when ``value`` is not a well-formed selector."""
    if not isinstance(value, str):
        return None
    m = _SELECTOR_RE.match(value)
    if m is None:
        return None
    if m.group("inputs"):
        return ParsedSelector(value, "inputs", m.group("input"))
    return ParsedSelector(value, "steps", m.group("step"), m.group("output"))


def looks_like_selector(value: Any) -> bool:
    """True for strings that start like a selector (``$inputs...`` / ``$steps...`` / ``$...``)."""
    return isinstance(value, str) and value.startswith("$")


SELECTOR_HELP = "expected '$inputs.<name>' or '$steps.<step>.<output>'"


@lru_cache(maxsize=None)
def manifest_field_keys(manifest_class: type[BaseModel]) -> dict[str, list[str]]:
    """Field name -> every JSON key that sets it, the schema's key first.

    A key is the field's ``validation_alias`` choices, its ``alias``, and (manifests populate by
    name) the field name itself.
    """
    from pydantic import AliasChoices, AliasPath

    keys: dict[str, list[str]] = {}
    for name, info in manifest_class.model_fields.items():
        found: list[str] = []
        va = info.validation_alias
        if isinstance(va, str):
            found.append(va)
        elif isinstance(va, AliasChoices):
            found.extend(c for c in va.choices if isinstance(c, str))
        elif isinstance(va, AliasPath):  # pragma: no cover - not used by manifests
            pass
        if info.alias and info.alias not in found:
            found.append(info.alias)
        if name not in found:
            found.append(name)
        keys[name] = found
    return keys
