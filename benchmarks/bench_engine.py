"""Engine overhead: compile time of a 10-step chain, and per step per image run overhead.

Run: ``python benchmarks/bench_engine.py`` (add ``--quick`` for fewer repetitions).
``.venv-roboflow/bin/python benchmarks/bench_engine.py --roboflow`` compares, in one process, the
same chain run by depthgraph's engine and by Roboflow's (native block vs depthgraph's blocks
through the plugin).

The blocks here do (almost) nothing, so what is timed is the engine itself: resolving inputs,
calling blocks, checking results, assembling outputs. Targets: compile < 5 ms, run overhead
< 50 microseconds per step per image.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from typing import Any, Literal, Union

import numpy as np

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.compiler import compile_workflow
from depthgraph.engine.kinds import FLOAT_KIND, IMAGE_KIND
from depthgraph.engine.registry import load_registry
from depthgraph.engine.workflow import Workflow
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector


class PassManifest(BlockManifest):
    type: Literal["bench/pass@v1"]
    image: Selector([IMAGE_KIND])
    value: Union[Selector([FLOAT_KIND]), float] = 0.0

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="image", kind=[IMAGE_KIND]), OutputDefinition(name="value", kind=[FLOAT_KIND])]


class PassBlock(WorkflowBlock):
    """Per element: hands its inputs on."""

    manifest_class = PassManifest

    def run(self, image: Any, value: float) -> dict[str, Any]:
        return {"image": image, "value": value}


class BatchPassManifest(PassManifest):
    type: Literal["bench/batch_pass@v1"]  # type: ignore[assignment]

    @classmethod
    def batch_parameters(cls) -> list[str]:
        return ["image"]


class BatchPassBlock(WorkflowBlock):
    """Batch-aware: hands its inputs on, one call per batch."""

    manifest_class = BatchPassManifest

    def run(self, image: list[Any], value: float) -> list[dict[str, Any]]:
        return [{"image": im, "value": value} for im in image]


def chain(n: int, block_type: str) -> dict[str, Any]:
    steps = []
    source = "$inputs.image"
    for i in range(n):
        steps.append({"type": block_type, "name": f"s{i}", "image": source, "value": "$inputs.v"})
        source = f"$steps.s{i}.image"
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}, {"type": "WorkflowParameter", "name": "v", "default_value": 1.0, "kind": ["float"]}],
        "steps": steps,
        "outputs": [{"type": "JsonField", "name": "out", "selector": source}, {"type": "JsonField", "name": "all", "selector": f"$steps.s{n - 1}.*"}],
    }


def best_of(fn: Any, repeats: int, inner: int) -> float:
    """Best (min) mean seconds per call over ``repeats`` rounds of ``inner`` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return min(times)


def step_events_and_platform(registry: Any, frame: np.ndarray, repeats: int, inner: int) -> None:
    """Step progress events (on_step): what a callback that keeps each event costs per step;
    then the Python, numpy and processor the numbers come from."""
    wf = Workflow.from_definition(chain(50, "bench/pass@v1"), registry=registry)
    events: list[Any] = []
    wf.run(image=frame, on_step=events.append)
    plain = best_of(lambda: wf.run(image=frame), repeats, max(inner // 4, 5))
    events.clear()
    with_events = best_of(lambda: wf.run(image=frame, on_step=events.append), repeats, max(inner // 4, 5))
    print(f"run, 50 steps x 1 image, on_step kept:  {with_events * 1e3:8.3f} ms per run vs {plain * 1e3:.3f} ms "
          f"without: {(with_events - plain) / 50 * 1e6:+6.2f} us per step (two events per step)")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {platform.processor() or platform.machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--roboflow",
        action="store_true",
        help="the same chains in Roboflow's engine too (run with the Roboflow venv's python)",
    )
    args = parser.parse_args()
    repeats, inner = (3, 20) if args.quick else (7, 100)
    if args.roboflow:
        roboflow_main(repeats)
        return
    registry = load_registry(builtins=False, entry_points=False, env=False, blocks=[PassBlock, BatchPassBlock])

    d10 = chain(10, "bench/pass@v1")
    compile_s = best_of(lambda: compile_workflow(d10, registry=registry), repeats, inner)
    print(f"compile, 10-step chain:                 {compile_s * 1e3:8.3f} ms   (target < 5 ms)")

    frame = np.zeros((8, 8, 3), np.uint8)
    for block_type, label in (("bench/pass@v1", "per-element"), ("bench/batch_pass@v1", "batch-aware")):
        for n_steps, batch in ((10, 1), (10, 8), (50, 8)):
            wf = Workflow.from_definition(chain(n_steps, block_type), registry=registry)
            images = [frame] * batch if batch > 1 else frame
            wf.run(image=images)  # warm-up (creates the block instances)
            full = best_of(lambda: wf.run(image=images), repeats, max(inner // 4, 5))
            per_step_image = full / (n_steps * batch)
            print(
                f"run, {label:11s} {n_steps:2d} steps x {batch} image(s): {full * 1e3:8.3f} ms per run, "
                f"{per_step_image * 1e6:6.2f} us per step per image   (target < 50 us)"
            )
    print("(whole run time divided by steps x images: includes input decoding and the trivial blocks)")

    step_events_and_platform(registry, frame, repeats, inner)


def roboflow_main(repeats: int) -> None:
    """Per step per image overhead of one chain in three set-ups, measured in one process.

    - depthgraph's engine with depthgraph's pass-through blocks;
    - Roboflow's engine with a pass-through block written for Roboflow (its own cost);
    - Roboflow's engine with depthgraph's pass-through blocks through the plugin (what a
      depthgraph block costs inside Roboflow: its engine plus the plugin's conversions).
    """
    import os
    import types

    from roboflow_workflows.execution_engine.core import ExecutionEngine
    from roboflow_workflows.execution_engine.entities.base import OutputDefinition as RfOutput
    from roboflow_workflows.execution_engine.entities.types import (
        FLOAT_KIND as RF_FLOAT_KIND,
        IMAGE_KIND as RF_IMAGE_KIND,
        Selector as RfSelector,
    )
    from roboflow_workflows.prototypes.block import WorkflowBlock as RfBlock
    from roboflow_workflows.prototypes.block import WorkflowBlockManifest

    from depthgraph.roboflow.blocks import generate

    class NativePassManifest(WorkflowBlockManifest):
        type: Literal["bench/native_pass@v1"]
        image: RfSelector(kind=[RF_IMAGE_KIND])  # type: ignore[valid-type]
        value: Union[RfSelector(kind=[RF_FLOAT_KIND]), float] = 0.0  # type: ignore[valid-type]

        @classmethod
        def describe_outputs(cls) -> list[Any]:
            return [RfOutput(name="image", kind=[RF_IMAGE_KIND]), RfOutput(name="value", kind=[RF_FLOAT_KIND])]

        @classmethod
        def get_execution_engine_compatibility(cls) -> str:
            return ">=1.0.0,<2.0.0"

    class NativePassBlock(RfBlock):
        @classmethod
        def get_manifest(cls) -> type:
            return NativePassManifest

        def run(self, image: Any, value: float) -> dict[str, Any]:
            return {"image": image, "value": value}

    registry = load_registry(builtins=False, entry_points=False, env=False, blocks=[PassBlock, BatchPassBlock])
    generated = generate(registry)
    plugin = types.ModuleType("bench_engine_roboflow_plugin")
    plugin.load_blocks = lambda: [*generated.blocks, NativePassBlock]  # type: ignore[attr-defined]
    plugin.load_kinds = generated.kinds.declared  # type: ignore[attr-defined]
    sys.modules[plugin.__name__] = plugin
    os.environ["WORKFLOWS_PLUGINS"] = plugin.__name__

    frame = np.zeros((8, 8, 3), np.uint8)
    n_steps, batch = 10, 8
    images = [frame] * batch
    inner = 5
    setups = []
    dg = Workflow.from_definition(chain(n_steps, "bench/pass@v1"), registry=registry)
    setups.append(("depthgraph engine, depthgraph blocks", lambda: dg.run(image=images)))
    for block_type, label in (
        ("bench/native_pass@v1", "Roboflow engine, Roboflow block    "),
        ("bench/pass@v1", "Roboflow engine, depthgraph blocks "),
        ("bench/batch_pass@v1", "Roboflow engine, depthgraph batch  "),
    ):
        engine = ExecutionEngine.init(workflow_definition=chain(n_steps, block_type), init_parameters={})
        setups.append((label, lambda e=engine: e.run(runtime_parameters={"image": images, "v": 1.0})))
    compile_dg = best_of(lambda: compile_workflow(chain(n_steps, "bench/pass@v1"), registry=registry), repeats, inner)
    fresh = iter(range(10**9))  # Roboflow caches compiled definitions: give it a new one each time

    def roboflow_compile() -> None:
        definition = chain(n_steps, "bench/pass@v1")
        definition["inputs"][1]["default_value"] = float(next(fresh))
        ExecutionEngine.init(workflow_definition=definition, init_parameters={})

    compile_rf = best_of(roboflow_compile, repeats, inner)
    print(f"compile, {n_steps}-step chain: depthgraph {compile_dg * 1e3:8.2f} ms, "
          f"Roboflow (depthgraph blocks) {compile_rf * 1e3:8.2f} ms")
    baseline = None
    for label, run in setups:
        run()  # warm-up
        per = best_of(run, repeats, inner) / (n_steps * batch)
        baseline = baseline or per
        print(f"run, {n_steps} steps x {batch} images, {label}: {per * 1e6:8.1f} us per step per image ({per / baseline:5.1f}x)")
    print("(whole run time divided by steps x images: includes input decoding and the trivial blocks)")

    step_events_and_platform(registry, frame, repeats, inner)


if __name__ == "__main__":
    main()
