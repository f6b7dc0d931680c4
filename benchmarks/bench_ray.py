"""Images per second for one workflow: a single process versus Ray Data with 1 and 2 actors.

The workflow is model-bound: DA3-small depth (recipe weights, written to a temporary folder, so
no download) on N photo-sized images, results written as ``depthgraph run`` writes them. Three
runs in the same process, one after the other (the figures to compare are the ratios of this
one run; the machine may be shared):

- ``single``: ``depthgraph.batch.run_jobs`` in this process, batch size B, model loaded beforehand;
  run before and again after the Ray runs, and the mean of the two is the reference.
- ``ray x1``: one actor with all of this machine's CPUs (as many torch threads as the single
  process), batch size B.
- ``ray x2``: two actors with half the CPUs each.

For the Ray runs it prints the end-to-end rate (actor start and model load included), the
steady rate (each configuration runs twice, on K and on N images, with fresh actors:
(T_N - T_K) / (N - K) is the time per image once running) and the start-up time, and Ray's
overhead per image: steady seconds per image of ``ray x1`` over the single process's, minus one.

    python benchmarks/bench_ray.py [--images 32] [--batch-size 8] [--size 640x480]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def make_images(folder: Path, count: int, width: int, height: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        small = rng.integers(0, 256, size=(height // 16, width // 16, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"photo{i:04d}.jpg"), cv2.resize(small, (width, height)))


WORKFLOW = {
    "version": "1.0",
    "inputs": [{"type": "WorkflowImage", "name": "image"}],
    "steps": [{"type": "roboflow_core/depth_estimation@v1", "name": "depth", "images": "$inputs.image"},
              {"type": "depthgraph/depth_colormap@v1", "name": "colour", "depth": "$steps.depth.depth"}],
    "outputs": [{"type": "JsonField", "name": "depth", "selector": "$steps.depth.depth"},
                {"type": "JsonField", "name": "colour", "selector": "$steps.colour.image"},
                {"type": "JsonField", "name": "intrinsics", "selector": "$steps.depth.intrinsics"}],
}


def run_single(images: Path, out: Path, batch: int) -> float:
    from depthgraph.batch import plan_jobs, run_jobs
    from depthgraph.engine.workflow import Workflow

    workflow = Workflow.from_definition(WORKFLOW)
    jobs = plan_jobs(workflow, [str(images)])
    run_jobs(workflow, jobs[:1], {}, out / "warmup", 1)  # model loaded, first pass done
    start = time.perf_counter()
    summary = run_jobs(workflow, jobs, {}, out / "single", batch)
    seconds = time.perf_counter() - start
    assert summary.failed == 0, [i.error for i in summary.items if i.error]
    return seconds


def run_ray(images: Path, out: Path, batch: int, actors: int, cpus: float) -> float:
    """Seconds for one Ray run (fresh actors: start-up and model load included)."""
    from depthgraph.scale.ray import run_on_ray

    start = time.perf_counter()
    summary = run_on_ray(WORKFLOW, str(images), out, batch_size=batch, concurrency=actors,
                         num_cpus=cpus, read_cpus=0)
    seconds = time.perf_counter() - start
    assert summary.failed == 0 and summary.done == summary.planned, summary.rows[:2]
    return seconds


def ray_steady(root: Path, name: str, n: int, k: int, batch: int, actors: int,
               cpus: float) -> tuple[float, float, float]:
    """(end-to-end seconds for n images, steady seconds per image, start-up seconds).

    Two runs, of k and of n images: start-up (actors, model load) is paid by both, so
    (T_n - T_k) / (n - k) is the time per image once running."""
    small = run_ray(root / "few", root / f"{name}-few", batch, actors, cpus)
    full = run_ray(root / "images", root / name, batch, actors, cpus)
    per = (full - small) / (n - k)
    return full, per, small - per * k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the generated JPEGs")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    cpus = os.cpu_count() or 1

    from depthgraph.models.depth_anything_v3.recipe import weights_folder_name, write_recipe_checkpoint

    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        write_recipe_checkpoint("small", root / "weights" / weights_folder_name("small"))
        os.environ["DEPTHGRAPH_WEIGHTS_DIR"] = str(root / "weights")
        os.environ["DEPTHGRAPH_DEVICE"] = "cpu"
        make_images(root / "images", args.images, width, height)
        n, b = args.images, args.batch_size
        print(f"{n} images {width}x{height}, DA3-small + colour map, batch {b}, {cpus} CPUs, "
              f"torch threads in this process: {__import__('torch').get_num_threads()}")

        k = max(1, min(b, n // 2))  # the short run: one batch
        (root / "few").mkdir()
        for path in sorted((root / "images").iterdir())[:k]:
            shutil.copy(path, root / "few" / path.name)

        single = run_single(root / "images", root / "out", b)

        import ray

        ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 object_store_memory=256 * 1024 * 1024, log_to_driver=False)
        try:
            one = ray_steady(root, "ray1", n, k, b, 1, float(cpus))
            two = ray_steady(root, "ray2", n, k, b, 2, cpus / 2)
        finally:
            ray.shutdown()
        again = run_single(root / "images", root / "out-again", b)  # the machine may have changed
        print(f"single process, before / after the Ray runs: {single / n:.3f} / {again / n:.3f} s/img")

        single = (single + again) / 2
        single_per = single / n
        print(f"{'run':<10}{'end-to-end img/s':>18}{'steady img/s':>14}{'steady s/img':>14}"
              f"{'start-up s':>12}")
        print(f"{'single':<10}{n / single:>18.3f}{1 / single_per:>14.3f}{single_per:>14.3f}"
              f"{'(warm)':>12}")
        for name, (total, per, startup) in (("ray x1", one), ("ray x2", two)):
            print(f"{name:<10}{n / total:>18.3f}{1 / per:>14.3f}{per:>14.3f}{startup:>12.1f}")
        print(f"Ray overhead per image (ray x1 steady vs single, same threads): "
              f"{one[1] / single_per - 1:+.1%}")
        print(f"Ray overhead per image (ray x2 steady vs single, same cores, one torch thread "
              f"per actor): {two[1] / single_per - 1:+.1%}")
        print(f"ray x2 vs ray x1 steady throughput: {one[1] / two[1]:.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
