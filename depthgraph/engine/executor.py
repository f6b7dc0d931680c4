"""Run a compiled workflow over a batch of inputs.

Values live in ``columns``: for each selector key (``$inputs.x`` or ``$steps.s.o``) either one
value shared by the whole batch (a scalar parameter, a literal) or a :class:`PerElement` list
holding one value per batch element. Step results are kept as one dict per element.

- Per-element blocks (no ``batch_parameters()``) are called once per element with plain values.
- Batch-aware blocks are called once: lists for their batch fields (scalars broadcast), plain
  values for the rest, and return one dict per element. When a non-batch field holds a
  per-element value the block is called once per element instead, with batches of one.

Block exceptions become :class:`StepExecutionError` (step, block type, original message; the
original exception is kept as ``__cause__``). Return values are checked: a dict (or a list of the
batch's length, for batch-aware blocks) holding every declared output.
"""

from __future__ import annotations

import time
from typing import Any

from depthgraph.engine.compiler import CompiledStep, CompiledWorkflow, FieldBinding
from depthgraph.engine.errors import (
    RuntimeInputError,
    StepExecutionError,
    StepInputError,
    WorkflowTimeoutError,
)
from depthgraph.engine.manifest import check_runtime_value
from depthgraph.engine.progress import StepCallback, StepEvent
from depthgraph.engine.serialization import decode_image, detections_from_inference_json, is_detections

DETECTION_KINDS = frozenset({"object_detection_prediction", "instance_segmentation_prediction"})


class PerElement(list):
    """A list holding one value per batch element (as opposed to a list-valued scalar)."""

    __slots__ = ()


# --- inputs ------------------------------------------------------------------------------------


def _is_batch(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return True
    ndim = getattr(value, "ndim", None)
    return ndim == 4  # a numpy array N x H x W x C


def prepare_inputs(compiled: CompiledWorkflow, inputs: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Decode runtime inputs: (batch size, columns keyed ``$inputs.<name>``)."""
    if not isinstance(inputs, dict):
        raise RuntimeInputError(f"runtime inputs must be a dict of input name -> value, got {type(inputs).__name__}")
    known = set(compiled.image_inputs) | set(compiled.parameters)
    unknown = [k for k in inputs if k not in known]
    if unknown:
        raise RuntimeInputError.for_input(
            unknown[0],
            f"unknown input (the workflow declares: {', '.join(compiled.input_names) or 'no inputs'})",
        )
    columns: dict[str, Any] = {}
    batch_size = 1
    image_sizes: dict[str, int] = {}
    for name in compiled.image_inputs:
        if name not in inputs:
            raise RuntimeInputError.for_input(name, "missing image input")
        value = inputs[name]
        if _is_batch(value):
            if len(value) == 0:
                raise RuntimeInputError.for_input(name, "an empty list of images")
            images = PerElement(decode_image(v, f"{name}[{i}]") for i, v in enumerate(value))
        else:
            images = PerElement([decode_image(value, name)])
        image_sizes[name] = len(images)
        columns[f"$inputs.{name}"] = images
    sizes = set(image_sizes.values())
    if len(sizes - {1}) > 1:
        listing = ", ".join(f"'{n}' has {s}" for n, s in image_sizes.items())
        raise RuntimeInputError(f"image inputs must hold the same number of images: {listing}")
    if sizes:
        batch_size = max(sizes)
        for name, size in image_sizes.items():
            if size == 1 and batch_size > 1:  # one image beside a batch: use it for every element
                columns[f"$inputs.{name}"] = PerElement(columns[f"$inputs.{name}"] * batch_size)
    for name, param in compiled.parameters.items():
        if name in inputs:
            value = inputs[name]
        elif param.has_default:
            value = param.default_value
        else:
            raise RuntimeInputError.for_input(name, "missing parameter (it has no default_value)")
        if DETECTION_KINDS & set(param.kind_names):
            value = _decode_detections_param(name, value, batch_size)
        columns[f"$inputs.{name}"] = value
    return batch_size, columns


def _decode_detections_param(name: str, value: Any, batch_size: int) -> Any:
    """Inference JSON -> Detections; a list of one payload per image -> a per-element column."""
    if isinstance(value, dict):
        return detections_from_inference_json(value, input_name=name)
    if isinstance(value, (list, tuple)) and value and all(
        isinstance(v, dict) and "predictions" in v or is_detections(v) for v in value
    ):
        if len(value) != batch_size:
            raise RuntimeInputError.for_input(name, f"{len(value)} prediction sets for a batch of {batch_size} images")
        return PerElement(
            v if is_detections(v) else detections_from_inference_json(v, input_name=f"{name}[{i}]")
            for i, v in enumerate(value)
        )
    if isinstance(value, list):  # a bare list of predictions for one image
        return detections_from_inference_json(value, input_name=name)
    return value


# --- steps -------------------------------------------------------------------------------------


def _resolve_template(template: Any, columns: dict[str, Any], index: int) -> Any:
    if isinstance(template, str):
        if template in columns:
            v = columns[template]
            return v[index] if type(v) is PerElement else v
        return template
    if isinstance(template, list):
        return [_resolve_template(t, columns, index) for t in template]
    if isinstance(template, tuple):
        return tuple(_resolve_template(t, columns, index) for t in template)
    if isinstance(template, dict):
        return {k: _resolve_template(t, columns, index) for k, t in template.items()}
    return template


def _binding_value(binding: FieldBinding, columns: dict[str, Any], batch_size: int) -> Any:
    if binding.selector is not None:
        return columns[binding.selector.raw]
    return PerElement(_resolve_template(binding.template, columns, i) for i in range(batch_size))


def _call(step: CompiledStep, kwargs: dict[str, Any]) -> Any:
    try:
        return step.block().run(**kwargs)
    except StepInputError as exc:  # the request's data: a 4xx naming the step and property
        if exc.step is not None:
            raise
        raise StepInputError(
            exc.raw_message, step=step.name, block_type=step.block_type, property=exc.property
        ) from exc
    except StepExecutionError as exc:
        if exc.step is not None:
            raise
        raise StepExecutionError(exc.raw_message, step=step.name, block_type=step.block_type) from exc
    except Exception as exc:  # noqa: BLE001 - any failure of a block is reported as the step's
        raise StepExecutionError(
            f"{type(exc).__name__}: {exc}", step=step.name, block_type=step.block_type
        ) from exc


def _check_result(step: CompiledStep, result: Any, where: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise StepExecutionError(
            f"the block returned {type(result).__name__}{where}; expected a dict of outputs "
            f"({', '.join(step.output_names)})",
            step=step.name, block_type=step.block_type,
        )
    if not result.keys() >= step.output_kinds.keys():
        missing = [o for o in step.output_names if o not in result]
        raise StepExecutionError(
            f"the block's result{where} lacks declared output(s) {', '.join(missing)} "
            f"(it gave: {', '.join(map(str, result)) or 'nothing'})",
            step=step.name, block_type=step.block_type,
        )
    return result


def _checked(step: CompiledStep, field: str, value: Any) -> Any:
    """A value that came through a selector, held to the bounds of the field's literal form."""
    manifest_class = type(step.manifest)
    try:
        if type(value) is PerElement:
            return PerElement(check_runtime_value(manifest_class, field, v) for v in value)
        return check_runtime_value(manifest_class, field, value)
    except ValueError as error:
        raise StepInputError(str(error), step=step.name, block_type=step.block_type,
                             property=field) from None


def run_step(step: CompiledStep, columns: dict[str, Any], batch_size: int) -> list[dict[str, Any]]:
    """Run one step over the batch; one result dict per element.

    A step fed only batch-level values (see ``CompiledStep.runs_once``) runs once, as for a batch
    of one, and every element shares that result.
    """
    if step.runs_once and batch_size > 1:
        return run_step(step, columns, 1) * batch_size
    shared = dict(step.constants)
    varying: list[tuple[str, PerElement]] = []
    for binding in step.bindings:
        value = _binding_value(binding, columns, batch_size)
        if binding.selector is not None:
            value = _checked(step, binding.name, value)
        if type(value) is PerElement:
            varying.append((binding.name, value))
        else:
            shared[binding.name] = value
    if step.batch_fields:
        return _run_batch_step(step, shared, varying, batch_size)
    results = []
    for i in range(batch_size):
        kwargs = shared.copy()
        for name, column in varying:
            kwargs[name] = column[i]
        results.append(_check_result(step, _call(step, kwargs), f" for element {i}" if batch_size > 1 else ""))
    return results


def _run_batch_step(
    step: CompiledStep, shared: dict[str, Any], varying: list[tuple[str, PerElement]], batch_size: int
) -> list[dict[str, Any]]:
    batch_fields = step.batch_fields
    if all(name in batch_fields for name, _ in varying):
        kwargs = shared
        for name in batch_fields:
            if name in kwargs:
                kwargs[name] = [kwargs[name]] * batch_size
        for name, column in varying:
            kwargs[name] = list(column)
        return _check_batch_result(step, _call(step, kwargs), batch_size)
    results = []  # a non-batch field varies per element: one call per element, batches of one
    for i in range(batch_size):
        kwargs = shared.copy()
        for name in batch_fields:
            if name in kwargs:
                kwargs[name] = [kwargs[name]]
        for name, column in varying:
            kwargs[name] = [column[i]] if name in batch_fields else column[i]
        results.extend(_check_batch_result(step, _call(step, kwargs), 1))
    return results


def _check_batch_result(step: CompiledStep, result: Any, batch_size: int) -> list[dict[str, Any]]:
    if not isinstance(result, (list, tuple)):
        raise StepExecutionError(
            f"a batch-aware block must return a list of {batch_size} dict(s), got {type(result).__name__}",
            step=step.name, block_type=step.block_type,
        )
    if len(result) != batch_size:
        raise StepExecutionError(
            f"the block returned {len(result)} result(s) for a batch of {batch_size}",
            step=step.name, block_type=step.block_type,
        )
    return [_check_result(step, r, f" for element {i}") for i, r in enumerate(result)]


# --- whole workflow ------------------------------------------------------------------------------


def execute(
    compiled: CompiledWorkflow,
    inputs: dict[str, Any],
    timeout: float | None = None,
    on_step: StepCallback | None = None,
) -> list[dict[str, Any]]:
    """Run ``compiled`` on ``inputs``; a list with one output dict per batch element.

    ``timeout`` (seconds) is checked between steps: a block that runs is never interrupted.
    ``on_step`` is called with a :class:`~depthgraph.engine.progress.StepEvent` as each step
    starts and finishes (see :mod:`depthgraph.engine.progress`).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    batch_size, columns = prepare_inputs(compiled, inputs)
    step_results: dict[str, list[dict[str, Any]]] = {}
    needed = _needed_columns(compiled)
    total = len(compiled.steps)
    for index, step in enumerate(compiled.steps):
        if deadline is not None and time.monotonic() > deadline:
            raise WorkflowTimeoutError(
                f"the workflow ran longer than {timeout} s; stopped before step '{step.name}'", step=step.name
            )
        if on_step is not None:
            on_step(StepEvent("started", step.name, step.block_type, index, total))
            started = time.perf_counter()
        results = run_step(step, columns, batch_size)
        if on_step is not None:
            on_step(StepEvent("finished", step.name, step.block_type, index, total,
                              time.perf_counter() - started))
        step_results[step.name] = results
        for output in needed.get(step.name, ()):
            if output in step.batch_level_outputs:
                columns[f"$steps.{step.name}.{output}"] = _batch_level_value(step, output, results)
            else:
                columns[f"$steps.{step.name}.{output}"] = PerElement(r[output] for r in results)
    return _assemble(compiled, columns, step_results, batch_size)


def _batch_level_value(step: CompiledStep, output: str, results: list[dict[str, Any]]) -> Any:
    """The one value of a batch-level output: every element must hold that same object."""
    value = results[0][output]
    if any(r[output] is not value for r in results[1:]):
        raise StepExecutionError(
            f"output '{output}' is batch-level (one value for the whole batch), but the block "
            "gave different values for different elements",
            step=step.name, block_type=step.block_type,
        )
    return value


def _needed_columns(compiled: CompiledWorkflow) -> dict[str, tuple[str, ...]]:
    cached = getattr(compiled, "_needed_columns", None)
    if cached is None:
        needed: dict[str, list[str]] = {}
        for step in compiled.steps:
            for binding in step.bindings:
                for sel in binding.selectors:
                    if sel.source == "steps" and sel.output not in needed.setdefault(sel.name, []):
                        needed[sel.name].append(sel.output)  # type: ignore[arg-type]
        cached = {k: tuple(v) for k, v in needed.items()}
        compiled._needed_columns = cached  # type: ignore[attr-defined]
    return cached


def _assemble(
    compiled: CompiledWorkflow,
    columns: dict[str, Any],
    step_results: dict[str, list[dict[str, Any]]],
    batch_size: int,
) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = [{} for _ in range(batch_size)]
    for out in compiled.outputs:
        sel = out.selector
        if sel.source == "inputs":
            value = columns[sel.raw]
            for i in range(batch_size):
                outputs[i][out.name] = value[i] if type(value) is PerElement else value
        elif sel.is_wildcard:
            declared = out.step_outputs
            for i, r in enumerate(step_results[sel.name]):
                outputs[i][out.name] = {k: r[k] for k in declared} if declared else dict(r)
        else:
            for i, r in enumerate(step_results[sel.name]):
                outputs[i][out.name] = r[sel.output]  # type: ignore[index]
    return outputs


__all__ = ["PerElement", "execute", "prepare_inputs", "run_step"]
