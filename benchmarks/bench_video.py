"""Video pipeline: end-to-end frames/s against the model alone, and memory on long clips.

Run: ``python benchmarks/bench_video.py`` (``--quick`` for a shorter run).

1. **Throughput.** A 640x480 H.264 clip (the example photos panned) runs with
   ``depthgraph.video.run_video`` through (a) a depth-only workflow (the depth block; its colour-mapped
   depth to MP4, intrinsics to JSON Lines) and (b) ``examples/workflows/video_depth_stable.json``
   (depth -> stabiliser -> two colour maps, two MP4s); the same frames, decoded beforehand, go
   through ``model.predict`` alone in the same batches. Rounds alternate (model, a, b, model,
   a, b...) and each pipeline's ratio to the model run of its round is reported, with medians.
   Target: (a) reaches at least 90 % of the model-only rate (decoding and encoding are hidden);
   (b) adds the stabiliser's and colour maps' own work, which runs between model batches.
   Without real weights the model runs on deterministic recipe weights (same cost).
   ``--process-res`` sets the model's working size (default 504, the model's own).
2. **Memory.** A pass-through workflow (every frame decoded, handed through the engine and
   encoded to MP4) over a 10-second and a 2-minute 640x480 clip at 30 fps, each in a fresh
   process; the peak resident memory of the two is compared. Target: within 10 %.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 640, 480
DEPTH_ONLY = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
              "steps": [{"type": "depthgraph/depth_estimation@v1", "name": "depth", "images": "$inputs.image"}],
              "outputs": [{"type": "JsonField", "name": "depth_colour", "selector": "$steps.depth.image"},
                          {"type": "JsonField", "name": "intrinsics", "selector": "$steps.depth.intrinsics"}]}
PASS_THROUGH = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}], "steps": [],
                "outputs": [{"type": "JsonField", "name": "frame", "selector": "$inputs.image"}]}


def make_clip(path: Path, frames: int, fps: int = 30) -> Path:
    """A 640x480 H.264 clip panning across the example photos (repeats as needed)."""
    import av
    import cv2

    photos = [cv2.imread(str(REPO / "examples" / "images" / f"{n}.jpg")) for n in ("coffee", "chelsea", "astronaut")]
    photos = [cv2.resize(p, (WIDTH * 5 // 4, HEIGHT * 5 // 4)) for p in photos]
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=Fraction(fps))
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": "23"}
    span = photos[0].shape[1] - WIDTH
    for i in range(frames):
        photo = photos[(i // (fps * 4)) % len(photos)]
        x = int(span * (i % (fps * 4)) / (fps * 4))
        frame = np.ascontiguousarray(photo[:HEIGHT, x:x + WIDTH])
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def _weights(tmp: Path) -> None:
    """Use real DA3-SMALL weights when present, else write recipe weights (same compute)."""
    from depthgraph.weights_store import WEIGHTS_DIR_ENV

    try:
        from depthgraph.models.loading import get_model

        get_model("depth-anything-v3/small")
        print("weights: DA3-SMALL from the local weights directory")
        return
    except Exception:  # noqa: BLE001 - no real weights here
        pass
    from depthgraph.models.depth_anything_v3.recipe import write_recipe_checkpoint

    write_recipe_checkpoint("small", tmp / "weights" / "DA3-SMALL")
    os.environ[WEIGHTS_DIR_ENV] = str(tmp / "weights")
    print("weights: recipe weights (deterministic, same network and cost)")


def throughput(tmp: Path, frames: int, batch: int, rounds: int, process_res: int) -> None:
    import cv2

    from depthgraph.models import loading as depth_estimation
    from depthgraph.engine.workflow import Workflow
    from depthgraph.models.depth_anything_v3 import AutoModel
    from depthgraph.video import run_video

    _weights(tmp)
    depth_estimation.clear_model_cache()
    model = AutoModel.from_pretrained("depth-anything-v3/small", process_res=process_res)
    # the depth block's cache, so that the workflow runs this very model (same process_res)
    depth_estimation.put_model("depth-anything-v3/small", model)
    clip = make_clip(tmp / "bench640.mp4", frames)
    capture = cv2.VideoCapture(str(clip))
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame)
    capture.release()
    workflows = {"depth only": Workflow.from_definition(DEPTH_ONLY),
                 "stable example": Workflow.from_definition(
                     REPO / "examples" / "workflows" / "video_depth_stable.json")}
    model.predict(decoded[:batch])  # warm-up
    for workflow in workflows.values():
        run_video(workflow, decoded[:batch], batch_size=batch)

    cpu: dict[str, list[float]] = {}

    def model_only() -> float:
        start, cpu0 = time.perf_counter(), time.process_time()
        for offset in range(0, len(decoded), batch):
            model.predict(decoded[offset:offset + batch])
        cpu.setdefault("model alone", []).append((time.process_time() - cpu0) / len(decoded))
        return len(decoded) / (time.perf_counter() - start)

    def pipeline(workflow, index: int, name: str) -> float:
        start, cpu0 = time.perf_counter(), time.process_time()
        summary = run_video(workflow, clip, batch_size=batch, output_dir=tmp / f"out{index}")
        assert summary.stats.frames_processed == len(decoded)
        cpu.setdefault(name, []).append((time.process_time() - cpu0) / len(decoded))
        return len(decoded) / (time.perf_counter() - start)

    ratios: dict[str, list[float]] = {name: [] for name in workflows}
    print(f"\nthroughput: {len(decoded)} frames {WIDTH}x{HEIGHT}, batch {batch}, process_res {process_res}")
    for index in range(rounds):
        m = model_only()
        line = f"  round {index + 1}: model alone {m:6.2f} frames/s"
        for name, workflow in workflows.items():
            p = pipeline(workflow, index, name)
            ratios[name].append(p / m)
            line += f" | {name} {p:6.2f} frames/s ({p / m:6.1%})"
        print(line)
    for name, values in ratios.items():
        median = statistics.median(values)
        verdict = f" (target >= 90 %: {'met' if median >= 0.9 else 'NOT met'})" if name == "depth only" else ""
        print(f"  median ratio {name} pipeline / model alone: {median:.1%} "
              f"(rounds: {', '.join(f'{v:.0%}' for v in values)}){verdict}")
    base = statistics.median(cpu["model alone"])
    print("  CPU seconds per frame (all threads; less sensitive to a busy machine than wall time): "
          + ", ".join(f"{n} {statistics.median(v):.2f} ({statistics.median(v) / base - 1:+.1%})"
                      for n, v in cpu.items()))


def _child_peak(clip: Path, out: Path) -> dict:
    ran = subprocess.run([sys.executable, __file__, "--memory-child", str(clip), str(out)],
                         capture_output=True, text=True, check=True)
    return json.loads(ran.stdout.strip().splitlines()[-1])


def _peak_rss_kib() -> int:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    exec from the parent (which holds the model), VmHWM belongs to this process image alone."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(clip: str, out: str) -> None:
    from depthgraph.engine.workflow import Workflow
    from depthgraph.video import run_video

    workflow = Workflow.from_definition(PASS_THROUGH)
    start = time.perf_counter()
    summary = run_video(workflow, clip, output_dir=out, batch_size=4)
    seconds = time.perf_counter() - start
    peak_kib = _peak_rss_kib()
    print(json.dumps({"frames": summary.stats.frames_processed, "peak_mib": peak_kib / 1024,
                      "fps": summary.stats.frames_processed / seconds}))


def memory(tmp: Path, long_seconds: int) -> None:
    print(f"\nmemory: pass-through workflow, {WIDTH}x{HEIGHT} at 30 fps, MP4 + JSON Lines out")
    results = {}
    for seconds in (10, long_seconds):
        clip = make_clip(tmp / f"mem{seconds}.mp4", 30 * seconds)
        results[seconds] = _child_peak(clip, tmp / f"mem_out{seconds}")
        r = results[seconds]
        print(f"  {seconds:4d} s clip: {r['frames']} frames, peak RSS {r['peak_mib']:.1f} MiB, "
              f"{r['fps']:.0f} frames/s")
    short, long = results[10]["peak_mib"], results[long_seconds]["peak_mib"]
    growth = long / short - 1
    print(f"  peak memory {long_seconds} s vs 10 s: {growth:+.1%} (target within 10 %: "
          f"{'met' if abs(growth) <= 0.10 else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer frames and rounds, a 1-minute long clip")
    parser.add_argument("--frames", type=int, default=None, help="frames of the throughput clip")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--process-res", type=int, default=504)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", nargs=2, metavar=("CLIP", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    import torch

    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPU(s), "
          f"{platform.processor() or platform.machine()}")
    from depthgraph.video.sinks import h264_available

    print(f"MP4 codec: {'H.264 (PyAV)' if h264_available() else 'mp4v (OpenCV)'}")
    frames = args.frames or (8 if args.quick else 24)
    rounds = args.rounds or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="bench-video-") as name:
        tmp = Path(name)
        if not args.skip_throughput:
            throughput(tmp, frames, args.batch, rounds, args.process_res)
        if not args.skip_memory:
            memory(tmp, 60 if args.quick else 120)


if __name__ == "__main__":
    main()
