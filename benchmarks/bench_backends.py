"""torch vs ONNX Runtime vs OpenVINO on DA3 small/base (recipe weights; real ones have the same
shapes and cost), CPU, float32, the same threads for all.

For each variant: one 640x480 image through ``model.predict`` (the same pre- and post-processing
around each backend), the backends ALTERNATING within every round so that all of them see the
same machine load, medians over the rounds, ratios against torch, and effective GFLOP/s against
the fp32 matmul peak sampled in the same rounds. Then ONNX Runtime's dynamic INT8 quantisation
(``quantize_dynamic``, QInt8 weights) as a labelled experiment: its speed and its deviation from
the fp32 graph on these recipe weights (random-like weights, so this says nothing about the
accuracy on real images). File sizes of the fp32, fp16-weights and INT8 files.

    python benchmarks/bench_backends.py [--variants small base] [--rounds 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_model import executed_gflop, peak_sample  # noqa: E402 - the sibling benchmark's tools

from depthgraph.models.depth_anything_v3 import AutoModel  # noqa: E402
from depthgraph.models.depth_anything_v3.recipe import weights_folder_name, write_recipe_checkpoint  # noqa: E402


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPU(s)"


@contextlib.contextmanager
def quiet_stdout():
    """Silence file descriptors 1 and 2 (also what native code writes) and the root logger."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            root.setLevel(level)


def rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.float64) - b) / np.abs(b.astype(np.float64))


class Int8Model:
    """The INT8 graph behind the same pre/post as the others (for timing and deviation)."""

    def __init__(self, fp32_model, path: Path, threads: int) -> None:
        from depthgraph.models.depth_anything_v3.runtime import ExportedDepthModel

        self.inner = ExportedDepthModel(path, backend="onnxruntime", model_id=fp32_model.model_id,
                                        process_res=fp32_model.process_res, threads=threads)

    def predict(self, image):
        return self.inner.predict(image)


def bench_variant(variant: str, root: Path, rounds: int, threads: int, image: np.ndarray) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    write_recipe_checkpoint(variant, root / weights_folder_name(variant))
    model_id = f"depth-anything-v3/{variant}"
    models = {"torch": AutoModel.from_pretrained(model_id, device="cpu")}
    t = time.perf_counter()
    models["onnxruntime"] = AutoModel.from_pretrained(model_id, backend="onnxruntime")
    print(f"\n== DA3-{variant} ==  export + ONNX Runtime session {time.perf_counter() - t:.1f} s")
    try:
        models["openvino"] = AutoModel.from_pretrained(model_id, backend="openvino")
    except Exception as exc:  # noqa: BLE001 - not installed: leave it out
        print(f"openvino: skipped ({exc})")
    fp32_path = models["onnxruntime"].path
    int8_path = fp32_path.with_name(fp32_path.stem + "-int8-dynamic.onnx")
    with quiet_stdout():  # the quantiser prints the graph's input description
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)
    models["ort-int8 (experiment)"] = Int8Model(models["onnxruntime"], int8_path, threads)
    fp16_path = fp32_path.with_name(fp32_path.stem + "-fp16.onnx")
    models["torch"].export_onnx(fp16_path, fp16=True)

    outputs = {name: m.predict(image)[0] for name, m in models.items()}  # also the warm-up
    h, w = outputs["torch"].processed_size
    gflop = executed_gflop(models["torch"], h, w)
    times: dict[str, list[float]] = {name: [] for name in models}
    peaks = [peak_sample()]
    for _ in range(rounds):
        for name, m in models.items():
            t = time.perf_counter()
            m.predict(image)
            times[name].append(time.perf_counter() - t)
        peaks.append(peak_sample())
    peak = statistics.median(peaks)
    base = statistics.median(times["torch"])
    print(f"input 640x480 -> network {h}x{w}, {gflop:.1f} GFLOP executed; fp32 matmul peak "
          f"{peak:.1f} GFLOP/s (median of {len(peaks)} samples between rounds)")
    print(f"{'backend':24} {'median s':>9} {'min s':>7} {'vs torch':>9} {'GFLOP/s':>8} {'% peak':>7} "
          f"{'depth max rel':>14} {'median rel':>11}")
    ref = outputs["torch"].depth
    for name in models:
        med = statistics.median(times[name])
        err = rel(outputs[name].depth, ref)
        print(f"{name:24} {med:9.3f} {min(times[name]):7.3f} {base / med:8.2f}x {gflop / med:8.1f} "
              f"{100 * gflop / med / peak:6.1f}% {err.max():14.2e} {np.median(err):11.2e}")
    int8_err = rel(outputs["ort-int8 (experiment)"].depth, outputs["onnxruntime"].depth)
    print(f"INT8 dynamic quantisation vs the fp32 graph on RECIPE weights (no accuracy claim): depth "
          f"max rel {int8_err.max():.2e}, median {np.median(int8_err):.2e}")
    for label, path in (("fp32", fp32_path), ("fp16 weights", fp16_path), ("int8 dynamic", int8_path)):
        print(f"file {label:13} {path.stat().st_size / 1e6:8.1f} MB  {path.name}")
    models.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["small", "base"], choices=["small", "base"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import onnxruntime

    try:
        import openvino

        ov_version = openvino.__version__
    except ImportError:
        ov_version = "not installed"
    print(f"CPU: {cpu_name()}; {args.threads} threads for every backend; load average "
          f"{os.getloadavg()[0]:.1f} at start (other processes share this machine)")
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, openvino {ov_version}")
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    import cv2

    image = cv2.resize(small, (640, 480), interpolation=cv2.INTER_LINEAR)
    with tempfile.TemporaryDirectory(prefix="depthgraph-bench-backends-") as tmp:
        os.environ["DEPTHGRAPH_WEIGHTS_DIR"] = tmp
        for variant in args.variants:
            bench_variant(variant, Path(tmp), args.rounds, args.threads, image)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
