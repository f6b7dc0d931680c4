"""Compile a workflow definition into a runnable plan, in named stages.

``parse`` (definition shape, then each step's manifest; pydantic errors mapped to the step and
property) -> ``validate_names`` (unique input, step and output names) -> ``build_graph`` (a
networkx DiGraph of inputs, steps and outputs, an edge per selector; references and kinds checked
on the way) -> ``check_cycles`` -> ``plan`` (execution order from topological generations, and
every selector resolved once so that running is a tight loop) -> ``batch_levels`` (which steps run
once per batch and which outputs hold one value for the whole batch).

Every stage appends :class:`WorkflowError` subclasses to a shared list instead of stopping at the
first problem: :func:`validate_definition` returns them all, :func:`compile_workflow` raises the
first one (with every problem in its ``details``).

Nothing here imports torch and no block is instantiated: blocks are created on first run.
"""

from __future__ import annotations

import difflib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel, ValidationError

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.definition import (
    IMAGE_INPUT_TYPES,
    PARAMETER_INPUT_TYPES,
    SELECTOR_HELP,
    JsonFieldOutput,
    ParsedSelector,
    WorkflowImageInput,
    WorkflowParameterInput,
    looks_like_selector,
    manifest_field_keys,
    parse_selector,
)
from depthgraph.engine.errors import (
    BlockErrorDetail,
    CycleError,
    DefinitionParsingError,
    DuplicateNameError,
    InvalidSelectorError,
    KindMismatchError,
    ReferenceNotFoundError,
    UnknownBlockTypeError,
    WorkflowCompilationError,
    WorkflowError,
)
from depthgraph.engine.kinds import kinds_match
from depthgraph.engine.registry import BlockRegistry, get_registry
from depthgraph.engine.manifest import NAME_PATTERN, BlockManifest

TOP_LEVEL_KEYS = ("version", "inputs", "steps", "outputs")
_NAME_RE = re.compile(rf"^{NAME_PATTERN}$")
_INSTANCE_LOCK = threading.Lock()


# --- compiled plan ---------------------------------------------------------------------------


@dataclass
class FieldBinding:
    """A step field fed from the workflow: one selector, or a list/dict holding selectors."""

    name: str
    selector: ParsedSelector | None  # the whole value is this one selector
    template: Any = None  # otherwise: the raw value, selectors at its leaves
    selectors: list[ParsedSelector] = field(default_factory=list)


@dataclass
class CompiledStep:
    """One step ready to run: its manifest, its block class, literal and bound fields."""

    name: str
    block_type: str  # as written in the definition (identifier or alias)
    identifier: str
    manifest: BlockManifest
    block_class: type[WorkflowBlock]
    constants: dict[str, Any]
    bindings: list[FieldBinding]
    batch_fields: frozenset[str]
    output_kinds: dict[str, list[str]]
    instance: WorkflowBlock | None = None
    #: outputs holding ONE value for the whole batch: those of a batch-level kind (e.g. ``scene``)
    #: and every output of a step that runs once
    batch_level_outputs: frozenset[str] = frozenset()
    #: fed only batch-level values (at least one step output, the rest parameters): runs once
    runs_once: bool = False

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.output_kinds)

    @property
    def is_batch_aware(self) -> bool:
        return bool(self.batch_fields)

    def block(self) -> WorkflowBlock:
        """The block instance for this step, created once on first use (thread-safe)."""
        instance = self.instance
        if instance is None:
            with _INSTANCE_LOCK:
                if self.instance is None:
                    self.instance = self.block_class(self.manifest)
                instance = self.instance
        return instance


@dataclass
class CompiledOutput:
    name: str
    selector: ParsedSelector
    kinds: list[str]
    step_outputs: tuple[str, ...] = ()  # for '$steps.x.*': the declared outputs of x


@dataclass
class CompiledWorkflow:
    """The result of compilation: plain data, reusable for any number of runs."""

    definition: dict[str, Any]
    version: str
    image_inputs: list[str]
    parameters: dict[str, WorkflowParameterInput]
    steps: list[CompiledStep]  # in execution order
    generations: list[list[str]]
    outputs: list[CompiledOutput]
    graph: nx.DiGraph

    @property
    def input_names(self) -> list[str]:
        return [*self.image_inputs, *self.parameters]

    def step(self, name: str) -> CompiledStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


# --- loading ---------------------------------------------------------------------------------


def load_definition(definition: Any) -> dict[str, Any]:
    """A definition as a dict, from a dict, a path to a JSON file or a JSON string."""
    if isinstance(definition, dict):
        return definition
    if isinstance(definition, BaseModel):
        return definition.model_dump(by_alias=True, exclude_unset=True)
    if isinstance(definition, bytes):
        definition = definition.decode("utf-8", errors="replace")
    if isinstance(definition, Path) or (
        isinstance(definition, str) and not definition.lstrip().startswith(("{", "["))
    ):
        path = Path(definition)
        if not path.is_file():
            raise DefinitionParsingError(
                f"workflow definition file '{path}' does not exist (expected a dict, a JSON "
                "string or the path of a .json file)"
            )
        text = path.read_text(encoding="utf-8")
        return _parse_json(text, f"file '{path}'")
    if isinstance(definition, str):
        return _parse_json(definition, "JSON string")
    raise DefinitionParsingError(
        f"a workflow definition must be a dict, a JSON string or a path; got {type(definition).__name__}"
    )


def _parse_json(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionParsingError(
            f"the workflow {where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            context=where,
        ) from exc
    if not isinstance(value, dict):
        raise DefinitionParsingError(
            f"the workflow {where} must hold a JSON object, found {type(value).__name__}", context=where
        )
    return value


# --- stage 1: parse ----------------------------------------------------------------------------


@dataclass
class _ParsedStep:
    index: int
    name: str
    block_type: str
    raw: dict[str, Any]
    manifest_class: type[BlockManifest] | None = None
    block_class: type[WorkflowBlock] | None = None
    manifest: BlockManifest | None = None


@dataclass
class _Parsed:
    version: str = "1.0"
    images: list[tuple[int, WorkflowImageInput]] = field(default_factory=list)
    parameters: list[tuple[int, WorkflowParameterInput]] = field(default_factory=list)
    steps: list[_ParsedStep] = field(default_factory=list)
    outputs: list[tuple[int, JsonFieldOutput]] = field(default_factory=list)


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pydantic_errors(exc: ValidationError, prefix: str) -> list[tuple[str, str]]:
    """(property path, message) per pydantic error, deduplicated, under ``prefix``."""
    found: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = _loc(tuple(err["loc"]))
        path = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        item = (path, err["msg"])
        if item not in found:
            found.append(item)
    return found


def _parse_list(raw: dict[str, Any], key: str, errors: list[WorkflowError]) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        errors.append(
            DefinitionParsingError(f"'{key}' must be a list, found {type(value).__name__}", property=key)
        )
        return []
    return value


def parse(raw: dict[str, Any], registry: BlockRegistry, errors: list[WorkflowError]) -> _Parsed:
    """Stage 1: the definition's shape, its inputs and outputs, and each step's manifest."""
    parsed = _Parsed()
    if not isinstance(raw, dict):
        errors.append(DefinitionParsingError(f"a workflow definition must be an object, found {type(raw).__name__}"))
        return parsed
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            errors.append(
                DefinitionParsingError(
                    f"unknown top-level key '{key}' (expected: {', '.join(TOP_LEVEL_KEYS)})", property=key
                )
            )
    version = raw.get("version", "1.0")
    if not isinstance(version, str):
        errors.append(
            DefinitionParsingError(f"'version' must be a string such as \"1.0\", found {version!r}", property="version")
        )
    else:
        parsed.version = version
    _parse_inputs(_parse_list(raw, "inputs", errors), parsed, errors)
    _parse_outputs(_parse_list(raw, "outputs", errors), parsed, errors)
    for index, step in enumerate(_parse_list(raw, "steps", errors)):
        p = _parse_step(index, step, registry, errors)
        if p is not None:
            parsed.steps.append(p)
    return parsed


def _parse_inputs(items: list[Any], parsed: _Parsed, errors: list[WorkflowError]) -> None:
    known = IMAGE_INPUT_TYPES + PARAMETER_INPUT_TYPES
    for i, item in enumerate(items):
        where = f"inputs[{i}]"
        if not isinstance(item, dict):
            errors.append(DefinitionParsingError(f"{where} must be an object, found {type(item).__name__}", property=where))
            continue
        kind = item.get("type")
        if kind not in known:
            errors.append(
                DefinitionParsingError(
                    f"{where} has type {kind!r}; expected one of {', '.join(known)}", property=f"{where}.type"
                )
            )
            continue
        model = WorkflowImageInput if kind in IMAGE_INPUT_TYPES else WorkflowParameterInput
        try:
            value = model.model_validate(item)
        except ValidationError as exc:
            for path, msg in _pydantic_errors(exc, where):
                errors.append(DefinitionParsingError(f"{path}: {msg}", property=path))
            continue
        if isinstance(value, WorkflowImageInput):
            parsed.images.append((i, value))
        else:
            parsed.parameters.append((i, value))


def _parse_outputs(items: list[Any], parsed: _Parsed, errors: list[WorkflowError]) -> None:
    for i, item in enumerate(items):
        where = f"outputs[{i}]"
        if not isinstance(item, dict):
            errors.append(DefinitionParsingError(f"{where} must be an object, found {type(item).__name__}", property=where))
            continue
        try:
            parsed.outputs.append((i, JsonFieldOutput.model_validate(item)))
        except ValidationError as exc:
            for path, msg in _pydantic_errors(exc, where):
                errors.append(DefinitionParsingError(f"{path}: {msg}", property=path))


def suggest_block_types(block_type: str, registry: BlockRegistry, n: int = 3) -> list[str]:
    """Registered identifiers or aliases that look like ``block_type``."""
    names = registry.all_names()
    close = difflib.get_close_matches(block_type, names, n=n, cutoff=0.5)
    if not close:  # compare the part after the namespace, e.g. 'depth_estimation@v1'
        tails = {name.split("/", 1)[-1]: name for name in names}
        close = [tails[t] for t in difflib.get_close_matches(block_type.split("/", 1)[-1], list(tails), n=n, cutoff=0.5)]
    return close


def _parse_step(
    index: int, step: Any, registry: BlockRegistry, errors: list[WorkflowError]
) -> _ParsedStep | None:
    where = f"steps[{index}]"
    if not isinstance(step, dict):
        errors.append(DefinitionParsingError(f"{where} must be an object, found {type(step).__name__}", property=where))
        return None
    name, block_type = step.get("name"), step.get("type")
    if not isinstance(name, str) or not name:
        errors.append(
            DefinitionParsingError(
                f"{where} needs a 'name' (a non-empty string), found {name!r}",
                block_type=block_type if isinstance(block_type, str) else None,
                property="name",
            )
        )
        return None
    if not _NAME_RE.match(name):
        errors.append(
            DefinitionParsingError(
                f"step name '{name}' cannot be used in selectors: use letters, digits, '_' and '-', "
                "starting with a letter or '_'", step=name, property="name",
            )
        )
        return None
    if not isinstance(block_type, str) or not block_type:
        errors.append(DefinitionParsingError(f"needs a 'type' naming a block, found {block_type!r}", step=name, property="type"))
        return None
    parsed = _ParsedStep(index, name, block_type, step)
    entry = registry.get(block_type)
    if entry is None:
        close = suggest_block_types(block_type, registry)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else (
            "; no blocks are loaded" if not len(registry) else "; see `depthgraph describe` for the loaded blocks"
        )
        errors.append(
            UnknownBlockTypeError(
                f"unknown block type '{block_type}'{hint}", step=name, block_type=block_type, property="type"
            )
        )
        return parsed
    parsed.manifest_class, parsed.block_class = entry.manifest_class, entry.block_class
    try:
        parsed.manifest = entry.manifest_class.model_validate(step)
    except ValidationError as exc:
        errors.extend(_manifest_errors(exc, parsed))
    return parsed


def _named_field(message: str, fields: list[str]) -> str:
    """The property a whole-step check (a model validator) names first in its message, or '?'."""
    found = [(message.find(f), f) for f in fields if re.search(rf"\b{re.escape(f)}\b", message)]
    return min(found)[1] if found else "?"


def _manifest_errors(exc: ValidationError, step: _ParsedStep) -> list[WorkflowError]:
    """One error per property of the step, messages of the same property joined."""
    assert step.manifest_class is not None
    selector_fields = step.manifest_class.selector_kinds()
    field_keys = manifest_field_keys(step.manifest_class)
    by_alias = {key: name for name, keys in field_keys.items() for key in keys}
    primary = [keys[0] for name, keys in field_keys.items() if name not in ("type", "name")]
    grouped: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        prop = str(loc[0]) if loc else _named_field(err["msg"], primary)
        detail = _loc(loc[1:])
        msg = err["msg"] if not detail else f"{detail}: {err['msg']}"
        if err["type"] == "extra_forbidden":
            accepted = ", ".join(primary) or "nothing"
            msg = f"unknown property (this block accepts: {accepted})"
        elif err["type"] == "missing":
            msg = "required property is missing"
        grouped.setdefault(prop, [])
        if msg not in grouped[prop]:
            grouped[prop].append(msg)
        kinds.setdefault(prop, err["type"])
    out: list[WorkflowError] = []
    for prop, msgs in grouped.items():
        raw_value = step.raw.get(prop)
        field_name = by_alias.get(prop, prop)
        kw = dict(step=step.name, block_type=step.block_type, property=prop)
        if looks_like_selector(raw_value):
            sel = parse_selector(raw_value)
            if field_name not in selector_fields:
                if sel is not None:
                    out.append(InvalidSelectorError(f"does not accept a selector, got '{raw_value}'", **kw))
                    continue
            elif sel is None:
                out.append(InvalidSelectorError(f"'{raw_value}' is not a valid selector: {SELECTOR_HELP}", **kw))
                continue
            elif sel.is_wildcard:
                out.append(
                    InvalidSelectorError(
                        f"'{raw_value}': '$steps.<step>.*' is allowed in workflow outputs only; "
                        "select one output of the step", **kw
                    )
                )
                continue
        if field_name in selector_fields:  # the selector branch's pattern message helps no one
            literal = [m for m in msgs if "should match pattern" not in m]
            if len(literal) < len(msgs):
                msgs = [f"got {raw_value!r}: expected a selector ({SELECTOR_HELP.removeprefix('expected ')})"
                        + (f" or a literal ({'; '.join(literal)})" if literal else "")]
        out.append(DefinitionParsingError("; ".join(msgs), **kw))
    return out


# --- stage 2: names --------------------------------------------------------------------------


def validate_names(parsed: _Parsed, errors: list[WorkflowError]) -> None:
    """Stage 2: input, step and output names are unique (each in its own namespace)."""
    groups = {
        "input": [(i, v.name) for i, v in sorted(parsed.images + parsed.parameters, key=lambda t: t[0])],
        "step": [(s.index, s.name) for s in parsed.steps],
        "output": [(i, o.name) for i, o in parsed.outputs],
    }
    for what, items in groups.items():
        seen: dict[str, int] = {}
        for index, name in items:
            if name in seen:
                errors.append(
                    DuplicateNameError(
                        f"{what} name '{name}' is used twice: by {what}s[{seen[name]}] and {what}s[{index}]",
                        step=name if what == "step" else None,
                        property="name",
                        context=f"{what}s[{index}]",
                    )
                )
            else:
                seen[name] = index


# --- stage 3: graph ----------------------------------------------------------------------------


def _collect_selectors(value: Any) -> tuple[list[ParsedSelector], list[str]]:
    """Selectors inside a field value (a string, or a list/dict of them); plus malformed ones."""
    good: list[ParsedSelector] = []
    bad: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if looks_like_selector(v):
                sel = parse_selector(v)
                if sel is None or sel.is_wildcard:
                    bad.append(v)
                else:
                    good.append(sel)
        elif isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        elif isinstance(v, dict):
            stack.extend(reversed(list(v.values())))
    return good, bad


@dataclass
class _Graph:
    graph: nx.DiGraph
    input_kinds: dict[str, list[str]]
    step_outputs: dict[str, dict[str, list[str]]]  # step -> output -> kinds
    bindings: dict[str, list[FieldBinding]]
    constants: dict[str, dict[str, Any]]
    outputs: list[CompiledOutput]


def _step_output_kinds(manifest: BlockManifest) -> dict[str, list[str]]:
    return {o.name: o.kind_names for o in manifest.get_actual_outputs()}


def _batch_level_kind_outputs(manifest: BlockManifest) -> frozenset[str]:
    """Outputs declared with a batch-level kind (one value per batch, e.g. ``scene``)."""
    outputs = manifest.get_actual_outputs()
    return frozenset(o.name for o in outputs if any(k.batch_level for k in o.kind))


def batch_levels(steps: list[CompiledStep], parameters: set[str]) -> list[WorkflowError]:
    """Mark, in execution order, the steps that run once and the outputs that are batch-level.

    A step runs once when every selector it reads is a batch-level step output or a runtime
    parameter, and at least one is a step output. A batch-level kind may only come from a
    batch-aware block (or one that runs once): a per-element block never sees the whole batch.
    """
    errors: list[WorkflowError] = []
    levels: dict[str, frozenset[str]] = {}
    for step in steps:
        selectors = [sel for b in step.bindings for sel in b.selectors]
        from_steps = [sel for sel in selectors if sel.source == "steps"]
        step.runs_once = bool(from_steps) and all(
            (sel.source == "inputs" and sel.name in parameters)
            or (sel.source == "steps" and sel.output in levels.get(sel.name, ()))
            for sel in selectors
        )
        own = _batch_level_kind_outputs(step.manifest)
        if own and not (step.is_batch_aware or step.runs_once):
            errors.append(KindMismatchError(
                f"outputs {', '.join(sorted(own))} have a batch-level kind, but the block is called "
                "per element: it must declare batch_parameters()",
                step=step.name, block_type=step.block_type,
            ))
        step.batch_level_outputs = frozenset(step.output_kinds) if step.runs_once else own
        levels[step.name] = step.batch_level_outputs
    return errors


def _user_key(manifest_class: type[BlockManifest], field_name: str, raw: dict[str, Any]) -> str:
    """The key the user wrote for a field (or the schema's key when the field was left out)."""
    keys = manifest_field_keys(manifest_class)[field_name]
    for key in keys:
        if key in raw:
            return key
    return keys[0]


def build_graph(parsed: _Parsed, errors: list[WorkflowError]) -> _Graph:
    """Stage 3: the DiGraph (an edge per selector), references and kinds checked."""
    g = nx.DiGraph()
    input_kinds: dict[str, list[str]] = {}
    for _, image in parsed.images:
        input_kinds.setdefault(image.name, image.kind_names)
    for _, param in parsed.parameters:
        input_kinds.setdefault(param.name, param.kind_names)
    for name, kinds in input_kinds.items():
        g.add_node(f"$inputs.{name}", node_type="input", kinds=kinds)
    steps = {s.name: s for s in parsed.steps}
    step_outputs: dict[str, dict[str, list[str]]] = {}
    for s in parsed.steps:
        g.add_node(f"$steps.{s.name}", node_type="step", block_type=s.block_type)
        if s.manifest is not None:
            step_outputs[s.name] = _step_output_kinds(s.manifest)

    result = _Graph(g, input_kinds, step_outputs, {}, {}, [])
    for s in parsed.steps:
        if s.manifest is None or s.manifest_class is None:
            continue
        _bind_step(s, result, steps, errors)
    for i, out in parsed.outputs:
        compiled = _bind_output(i, out, result, steps, errors)
        if compiled is not None:
            result.outputs.append(compiled)
    return result


def _source_kinds(
    sel: ParsedSelector,
    graph: _Graph,
    steps: dict[str, _ParsedStep],
) -> tuple[list[str] | None, str | None]:
    """(kinds the selector gives, None) or (None, why it points at nothing).

    Kinds are None with no reason when the source step failed to parse (no cascade of errors).
    """
    if sel.source == "inputs":
        if sel.name not in graph.input_kinds:
            names = ", ".join(sorted(graph.input_kinds)) or "none"
            return None, f"'{sel.raw}' names no input (inputs: {names})"
        return graph.input_kinds[sel.name], None
    if sel.name not in steps:
        names = ", ".join(sorted(steps)) or "none"
        return None, f"'{sel.raw}' names no step (steps: {names})"
    outputs = graph.step_outputs.get(sel.name)
    if outputs is None:
        return None, None
    if sel.is_wildcard:
        return ["dictionary"], None
    if sel.output not in outputs:
        names = ", ".join(outputs) or "none"
        return None, f"'{sel.raw}': step '{sel.name}' has no output '{sel.output}' (its outputs: {names})"
    return outputs[sel.output], None


def _bind_step(s: _ParsedStep, graph: _Graph, steps: dict[str, _ParsedStep], errors: list[WorkflowError]) -> None:
    manifest, mclass = s.manifest, s.manifest_class
    assert manifest is not None and mclass is not None
    accepted_by_field = mclass.selector_kinds()
    constants: dict[str, Any] = {}
    bindings: list[FieldBinding] = []
    for field_name in mclass.input_fields():
        value = getattr(manifest, field_name)
        prop = _user_key(mclass, field_name, s.raw)
        kw = dict(step=s.name, block_type=s.block_type, property=prop)
        if field_name not in accepted_by_field:
            if parse_selector(value) is not None:
                errors.append(InvalidSelectorError(f"does not accept a selector, got '{value}'", **kw))
            constants[field_name] = value
            continue
        good, bad = _collect_selectors(value)
        for b in bad:
            hint = "'$steps.<step>.*' is allowed in workflow outputs only" if b.endswith(".*") else SELECTOR_HELP
            errors.append(InvalidSelectorError(f"'{b}' is not a valid selector here: {hint}", **kw))
        if not good:
            constants[field_name] = value
            continue
        accepted = accepted_by_field[field_name]
        for sel in good:
            given, missing = _source_kinds(sel, graph, steps)
            if missing is not None:
                errors.append(ReferenceNotFoundError(missing, **kw))
                continue
            if given is not None and not kinds_match(accepted, given):
                errors.append(
                    KindMismatchError(
                        f"accepts kinds [{', '.join(accepted)}] but '{sel.raw}' gives [{', '.join(given)}]", **kw
                    )
                )
            graph.graph.add_edge(sel.node, f"$steps.{s.name}", property=prop, selector=sel.raw)
        whole = parse_selector(value) if isinstance(value, str) else None
        bindings.append(FieldBinding(field_name, whole, None if whole else value, good))
    graph.bindings[s.name] = bindings
    graph.constants[s.name] = constants


def _bind_output(
    index: int, out: JsonFieldOutput, graph: _Graph, steps: dict[str, _ParsedStep], errors: list[WorkflowError]
) -> CompiledOutput | None:
    where = f"outputs[{index}] ('{out.name}')"
    sel = parse_selector(out.selector)
    if sel is None or (sel.is_wildcard and sel.source != "steps"):
        errors.append(
            InvalidSelectorError(
                f"{where}: '{out.selector}' is not a valid selector: expected '$inputs.<name>', "
                "'$steps.<step>.<output>' or '$steps.<step>.*'",
                property="selector", context=where,
            )
        )
        return None
    given, missing = _source_kinds(sel, graph, steps)
    if missing is not None:
        errors.append(ReferenceNotFoundError(f"{where}: {missing}", property="selector", context=where))
        return None
    node = f"$outputs.{out.name}"
    graph.graph.add_node(node, node_type="output")
    graph.graph.add_edge(sel.node, node, property="selector", selector=sel.raw)
    declared = tuple(graph.step_outputs.get(sel.name, {})) if sel.is_wildcard else ()
    return CompiledOutput(out.name, sel, given or ["*"], declared)


# --- stage 4: cycles -------------------------------------------------------------------------


def check_cycles(graph: nx.DiGraph, errors: list[WorkflowError]) -> None:
    """Stage 4: report every loop of steps (each strongly connected group, and self-loops)."""
    for component in nx.strongly_connected_components(graph):
        nodes = sorted(component)
        if len(nodes) == 1 and not graph.has_edge(nodes[0], nodes[0]):
            continue
        names = [n.split(".", 1)[1] for n in nodes]
        try:
            loop = [u.split(".", 1)[1] for u, _ in nx.find_cycle(graph.subgraph(nodes))]
            path = " -> ".join(loop + [loop[0]])
        except nx.NetworkXNoCycle:  # pragma: no cover - a component always holds a cycle
            path = ", ".join(names)
        errors.append(
            CycleError(
                f"steps form a cycle: {path} (steps on it: {', '.join(names)})",
                step=names[0],
                details=[BlockErrorDetail(step=n, message="on a cycle") for n in names],
            )
        )


# --- stage 5: plan -----------------------------------------------------------------------------


def plan(parsed: _Parsed, graph: _Graph) -> CompiledWorkflow:
    """Stage 5: execution order (topological generations, definition order within one)."""
    order_in_definition = {f"$steps.{s.name}": s.index for s in parsed.steps}
    step_nodes = [n for n in graph.graph if n in order_in_definition]
    sub = graph.graph.subgraph(step_nodes)
    generations = [
        sorted(gen, key=order_in_definition.__getitem__) for gen in nx.topological_generations(sub)
    ]
    by_name = {s.name: s for s in parsed.steps}
    compiled_steps: list[CompiledStep] = []
    for gen in generations:
        for node in gen:
            s = by_name[node.split(".", 1)[1]]
            assert s.manifest is not None and s.manifest_class is not None and s.block_class is not None
            compiled_steps.append(
                CompiledStep(
                    name=s.name,
                    block_type=s.block_type,
                    identifier=s.manifest_class.identifier(),
                    manifest=s.manifest,
                    block_class=s.block_class,
                    constants=graph.constants[s.name],
                    bindings=graph.bindings[s.name],
                    batch_fields=frozenset(s.manifest_class.batch_parameters()),
                    output_kinds=graph.step_outputs[s.name],
                )
            )
    return CompiledWorkflow(
        definition={},
        version=parsed.version,
        image_inputs=[img.name for _, img in parsed.images],
        parameters={p.name: p for _, p in parsed.parameters},
        steps=compiled_steps,
        generations=[[n.split(".", 1)[1] for n in gen] for gen in generations],
        outputs=graph.outputs,
        graph=graph.graph,
    )


# --- entry points ------------------------------------------------------------------------------


def _run_stages(raw: dict[str, Any], registry: BlockRegistry) -> tuple[list[WorkflowError], CompiledWorkflow | None]:
    errors: list[WorkflowError] = []
    parsed = parse(raw, registry, errors)
    validate_names(parsed, errors)
    graph = build_graph(parsed, errors)
    check_cycles(graph.graph, errors)
    if errors:
        return errors, None
    compiled = plan(parsed, graph)
    errors.extend(batch_levels(compiled.steps, set(compiled.parameters)))
    if errors:
        return errors, None
    compiled.definition = raw
    return errors, compiled


def validate_definition(definition: Any, registry: BlockRegistry | None = None) -> list[WorkflowError]:
    """Every problem of a definition (an empty list when it compiles). Instantiates no block."""
    try:
        raw = load_definition(definition)
        registry = registry or get_registry()
    except WorkflowError as exc:  # unreadable file or JSON, or a plugin that fails to load
        return [exc]
    errors, _ = _run_stages(raw, registry)
    return errors


def compile_workflow(definition: Any, registry: BlockRegistry | None = None) -> CompiledWorkflow:
    """Compile a definition (dict, JSON string or path) or raise the first problem found.

    The raised error's ``details`` lists every problem found (one entry per error).
    """
    raw = load_definition(definition)
    errors, compiled = _run_stages(raw, registry or get_registry())
    if errors:
        first = errors[0]
        if len(errors) > 1:
            first.details = [
                d for e in errors for d in (e.details or [BlockErrorDetail(e.step, e.block_type, e.property, e.raw_message)])
            ]
        raise first
    assert compiled is not None
    return compiled


__all__ = [
    "CompiledOutput",
    "CompiledStep",
    "CompiledWorkflow",
    "FieldBinding",
    "WorkflowCompilationError",
    "compile_workflow",
    "load_definition",
    "suggest_block_types",
    "validate_definition",
]
