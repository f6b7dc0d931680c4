"""Benchmark multi-view DA3: one scene of S = 1, 2, 4, 8 views at 504 px (recipe weights).

Time: one ``network`` pass over the S views of one scene, all S interleaved round by round in
one process (ratios to S = 1 paired per round, so a slow spell of a shared machine hits every S
alike). Memory: for each S in a fresh process, the peak resident memory one pass adds on top of
the loaded model. The FLOP model
(da3-multiview spec section 3.6): everything but attention grows with S; the eight local blocks
attend within each view (8 * S * 4 N^2 D) and the four global blocks over all S*N tokens
(4 * 4 (S N)^2 D). Printed: time per scene, time per view, the time the FLOP count predicts at
the S = 1 rate and the ratio measured / predicted (target: within 10 %); the same S images run
as S independent images (the same work without the cross-view attention) and the scene's time
against the FLOP count at THAT rate (what the cross-view attention really costs); and peak
memory per view (target: linear in S, i.e. no (S N)^2 attention matrix).

    python benchmarks/bench_scene.py [--model small|base] [--views 1 2 4 8] [--runs 5] [--size 378x504]

With ``--poses``: the cost of known cameras instead (da3-poses). For each S >= 2, interleaved
round by round, one unposed network pass and one pose-conditioned pass over the same pixels,
plus the pieces the posed path adds: the camera encoder alone and the numpy work around the
network (intrinsics, normalisation, encoding, the similarity fit; RANSAC from S = 10).
Printed: medians and the posed / unposed ratio, paired per round.

    python benchmarks/bench_scene.py --poses [--model small|base] [--views 2 4 8 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def linear_gflop(network, h: int, w: int) -> float:
    """GFLOP of one view without the attention products (FlopCounterMode on an S = 1 pass)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    cfg = network.cfg
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        network(torch.zeros(1, 3, h, w))
    total = counter.get_total_flops()
    if any("attention" in str(op) for op in counter.get_flop_counts()["Global"]):
        tokens = 1 + (h // cfg.patch_size) * (w // cfg.patch_size)
        total -= cfg.depth * 4 * tokens**2 * cfg.embed_dim
    return total / 1e9


def attention_gflop(cfg, views: int, h: int, w: int) -> float:
    n = 1 + (h // cfg.patch_size) * (w // cfg.patch_size)
    d = cfg.embed_dim
    n_global = sum(1 for i in range(cfg.depth) if i >= cfg.special_start and i % 2 == 1)
    n_local = cfg.depth - n_global
    return (n_local * views * 4 * n * n * d + n_global * 4 * (views * n) ** 2 * d) / 1e9


def _model(name: str):
    from depthgraph.models.depth_anything_v3 import DA3Config
    from depthgraph.models.depth_anything_v3.model import DepthAnything3

    return DepthAnything3.from_config(DA3Config.for_variant(name), device="cpu")


def _pixels(views: int, h: int, w: int):
    import torch

    return torch.randn(1, views, 3, h, w, generator=torch.Generator().manual_seed(0))


def child_memory(model: str, views: int, h: int, w: int) -> dict:
    """In a fresh process: the peak resident memory one pass over S views adds to the model."""
    import torch

    da3 = _model(model)
    pixels = _pixels(views, h, w)
    base = max(peak_rss_mib(), rss_mib())
    with torch.inference_mode():
        da3.network(pixels)
    return {"views": views, "added_peak_mib": peak_rss_mib() - base}


def timings(model: str, views: list[int], rounds: int, h: int, w: int) -> dict[int, list[float]]:
    """In this process, interleaved: each round times one pass for every S in turn (after a
    warm-up round), so that a slow spell of a shared machine hits every S alike."""
    import torch

    da3 = _model(model)
    inputs = {s: _pixels(s, h, w) for s in views}
    times: dict = {s: [] for s in views}
    times.update({-s: [] for s in views if s > 1})  # -S: the same S images as independent images
    with torch.inference_mode():
        for r in range(rounds + 1):
            for s in views:
                t = time.perf_counter()
                da3.network(inputs[s])
                if r:
                    times[s].append(time.perf_counter() - t)
                if s > 1:
                    t = time.perf_counter()
                    da3.network(inputs[s][0])  # (S, 3, h, w): a batch of S single-view scenes
                    if r:
                        times[-s].append(time.perf_counter() - t)
    times["linear_gflop"] = linear_gflop(da3.network, h, w)  # type: ignore[index]
    return times


def _cameras(views: int):
    """A made-up arc of world-to-camera matrices and intrinsics (pixels of a 480x640 image)."""
    import numpy as np

    out = []
    for i in range(views):
        a = np.radians(50 * i / max(1, views - 1))
        r = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])  # camera-to-world
        c = np.array([3 * np.sin(a), 0.05 * i, 3 - 3 * np.cos(a)])
        e = np.eye(4)
        e[:3, :3], e[:3, 3] = r.T, -r.T @ c
        out.append(e)
    k = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    return np.stack(out), np.stack([k] * views)


POSE_TIMES = ("plain", "posed", "encoder", "numpy", "plain_cpu", "posed_cpu")


def pose_timings(model: str, views: list[int], rounds: int, h: int, w: int) -> dict:
    """Interleaved per round: unposed pass, posed pass, camera encoder alone, numpy pose work alone."""
    import torch

    from depthgraph.models.depth_anything_v3.pose_alignment import align_poses
    from depthgraph.models.depth_anything_v3.pose_conditioning import condition_on_cameras
    from depthgraph.models.depth_anything_v3.pose_input import check_cameras

    da3 = _model(model)
    net = da3.network
    inputs = {s: _pixels(s, h, w) for s in views}
    times: dict = {(s, what): [] for s in views for what in POSE_TIMES}

    def numpy_work(s):
        e, k = check_cameras(*_cameras(s), s)
        cond = condition_on_cameras(e, k, [(480, 640)] * s, [(h, w)] * s, [(0, 0)] * s, (h, w))
        return cond

    with torch.inference_mode():
        for r in range(rounds + 1):
            for s in views:
                cond = numpy_work(s)
                enc = torch.from_numpy(cond.encoding)[None]
                t, c = time.perf_counter(), time.process_time()
                net(inputs[s])
                t_plain, c_plain = time.perf_counter() - t, time.process_time() - c
                t, c = time.perf_counter(), time.process_time()
                out = net(inputs[s], None, "first", enc)
                t_posed, c_posed = time.perf_counter() - t, time.process_time() - c
                t_enc = t_np = float("inf")
                for _ in range(20):  # tiny pieces: the best of 20 calls (a loaded machine preempts them)
                    t = time.perf_counter()
                    net.cam_enc(enc)
                    t_enc = min(t_enc, time.perf_counter() - t)
                    t = time.perf_counter()
                    cond = numpy_work(s)
                    align_poses(cond.extrinsics, out.extrinsics[0].numpy())
                    t_np = min(t_np, time.perf_counter() - t)
                if r:
                    for what, v in (("plain", t_plain), ("posed", t_posed), ("encoder", t_enc), ("numpy", t_np),
                                    ("plain_cpu", c_plain), ("posed_cpu", c_posed)):
                        times[(s, what)].append(v)
    return times


def main_poses(args, h: int, w: int) -> None:
    import torch

    views = sorted(set(v for v in args.views if v >= 2)) or [2, 4, 8, 10]
    print(f"DA3-{args.model}: cost of known cameras, one scene of S views at {h}x{w}, fp32, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; {args.runs} interleaved rounds, medians "
          f"(ratio paired per round)", flush=True)  # fmt: skip
    times = pose_timings(args.model, views, args.runs, h, w)
    print()
    print("| S | unposed pass (s) | posed pass (s) | posed / unposed | best posed / best unposed | CPU s unposed "
          "| CPU s posed | CPU posed / unposed | camera encoder (ms) | numpy: inputs, encoding, fit (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def ratio(a, b):
        return statistics.median(y / x for x, y in zip(times[(s, a)], times[(s, b)]))

    for s in views:
        med = {w: statistics.median(times[(s, w)]) for w in POSE_TIMES}
        best = min(times[(s, "posed")]) / min(times[(s, "plain")])
        print(f"| {s} | {med['plain']:.2f} | {med['posed']:.2f} | {ratio('plain', 'posed'):.3f} | {best:.3f} | {med['plain_cpu']:.2f} "
              f"| {med['posed_cpu']:.2f} | {ratio('plain_cpu', 'posed_cpu'):.3f} | {med['encoder'] * 1e3:.2f} "
              f"| {med['numpy'] * 1e3:.2f} |")
    print()
    print("CPU s = process CPU time of the pass (all threads), steadier than wall time on a shared machine; "
          "encoder and numpy: median over rounds of the best of 20 calls; "
          "load average at the end: " + " ".join(f"{v:.1f}" for v in os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small", choices=["small", "base"])
    parser.add_argument("--views", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds")
    parser.add_argument("--size", default="378x504", help="network input HxW (504 px long side)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--poses", action="store_true", help="measure known cameras against the unposed pass")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    if args.poses:
        main_poses(args, h, w)
        return
    if args.child is not None:
        print(json.dumps(child_memory(args.model, args.child, h, w)))
        return

    import torch

    from depthgraph.models.depth_anything_v3 import DA3Config

    cfg = DA3Config.for_variant(args.model)
    views = sorted(set([1, *args.views]))
    n = 1 + (h // cfg.patch_size) * (w // cfg.patch_size)
    print(f"DA3-{args.model}, one scene of S views at {h}x{w} ({n} tokens per view), fp32, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; {args.runs} interleaved rounds (ratios to S=1 "
          f"paired per round, median); memory: one pass per S in a fresh process", flush=True)  # fmt: skip
    memory = {}
    for s in views:
        cmd = [sys.executable, __file__, "--model", args.model, "--size", args.size, "--child", str(s)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        memory[s] = json.loads(proc.stdout.strip().splitlines()[-1])["added_peak_mib"]
    times = timings(args.model, views, args.runs, h, w)
    lin = times.pop("linear_gflop")  # type: ignore[call-overload]
    gflop = {s: s * lin + attention_gflop(cfg, s, h, w) for s in views}
    print()
    print("| S | tokens per global block | GFLOP | time per scene (s) | per view (s) | FLOP-predicted / S=1 "
          "| measured / S=1 | measured / predicted | S independent images (s) | scene / FLOP-predicted at their rate "
          "| peak added (MiB) | per view (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst = worst_batch = 0.0
    for s in views:
        t = statistics.median(times[s])
        measured = statistics.median(a / b for a, b in zip(times[s], times[1]))
        predicted = gflop[s] / gflop[1]
        worst = max(worst, abs(measured / predicted - 1))
        if s > 1:  # the same S images run as S independent scenes: the same work minus the cross-view attention
            batch = statistics.median(times[-s])
            vs_batch = statistics.median(a / (b * gflop[s] / (s * gflop[1])) for a, b in zip(times[s], times[-s]))
            worst_batch = max(worst_batch, abs(vs_batch - 1))
            batch_cols = f"{batch:.2f} | {vs_batch:.3f}"
        else:
            batch_cols = f"{t:.2f} | 1.000"
        print(f"| {s} | {s * n} | {gflop[s]:.1f} | {t:.2f} | {t / s:.2f} | {predicted:.2f} | {measured:.2f} "
              f"| {measured / predicted:.3f} | {batch_cols} | {memory[s]:.0f} | {memory[s] / s:.0f} |")
    print()
    print(f"time vs the FLOP count at the S=1 rate: worst deviation {worst * 100:.1f} % (target <= 10 %)")
    print(f"time vs the FLOP count at the rate of S independent images: worst deviation {worst_batch * 100:.1f} %")
    print("peak added memory / (S x S=1's): " + ", ".join(f"S={s}: {memory[s] / (s * memory[1]):.2f}" for s in views)
          + " (linear in S: about 1 or below)")  # fmt: skip
    print("for scale, one (S N)^2 float32 score matrix per head: "
          + ", ".join(f"S={s}: {cfg.num_heads * (s * n) ** 2 * 4 / 2**20:.0f} MiB" for s in views))

if __name__ == "__main__":
    main()
