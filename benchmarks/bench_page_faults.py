"""Page faults and kernel time per DA3 pass with and without depthgraph's glibc malloc tuning.

Starts one process per setting, alternating (``--rounds`` of each). In every process the model
(recipe weights) runs ``--passes`` times after two warm-up passes, each run bracketed by fp32
matmul samples, and the process reports medians: page faults, system CPU time and wall time per
pass, and the share of the matmul peak (spec FLOPs / latency / mean of the bracketing samples).

    python benchmarks/bench_page_faults.py [--variant small] [--rounds 3] [--passes 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, statistics, sys, time
import numpy as np, torch
from depthgraph.models.depth_anything_v3 import AutoModel
from depthgraph import malloc_tuning

variant, weights, passes, gflop = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
model = AutoModel.from_pretrained(f"depth-anything-v3/{variant}", weights=weights, device="cpu")
image = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
a = torch.randn(2048, 2048)

def matmul_gflops():
    t = time.perf_counter()
    torch.nn.functional.linear(a, a)
    return 2 * 2048**3 / (time.perf_counter() - t) / 1e9

model(image); model(image)
faults, system, wall, shares = [], [], [], []
before_peak = matmul_gflops()
for _ in range(passes):
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    model(image)
    dt = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    after_peak = matmul_gflops()
    faults.append(r1.ru_minflt - r0.ru_minflt)
    system.append(r1.ru_stime - r0.ru_stime)
    wall.append(dt)
    shares.append(gflop / dt / ((before_peak + after_peak) / 2))
    before_peak = after_peak
print(json.dumps({
    "tuned": malloc_tuning.status()["retain_freed_memory"],
    "faults": statistics.median(faults),
    "system_ms": 1000 * statistics.median(system),
    "wall_ms": 1000 * statistics.median(wall),
    "share": statistics.median(shares),
    "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""

SPEC_GFLOP = {"small": 74.2, "base": 286.6}  # spec FLOPs of the depth path at 378x504


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=["small", "base"], default="small")
    parser.add_argument("--rounds", type=int, default=3, help="processes per setting")
    parser.add_argument("--passes", type=int, default=8, help="timed passes per process")
    args = parser.parse_args()

    from depthgraph.models.depth_anything_v3.recipe import weights_folder_name, write_recipe_checkpoint

    with tempfile.TemporaryDirectory(prefix="depthgraph-faults-") as tmp:
        folder = os.path.join(tmp, weights_folder_name(args.variant))
        write_recipe_checkpoint(args.variant, folder)
        weights = os.path.join(folder, "model.safetensors")
        results: dict[str, list[dict]] = {"tuned": [], "untuned": []}
        for _ in range(args.rounds):
            for setting in ("untuned", "tuned"):
                env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
                env["DEPTHGRAPH_MALLOC_TUNING"] = "1" if setting == "tuned" else "0"
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, args.variant, weights, str(args.passes),
                     str(SPEC_GFLOP[args.variant])],
                    capture_output=True, text=True, env=env, check=True,
                )  # fmt: skip
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results[setting].append(r)
                print(f"{setting:8s} faults/pass {r['faults']:8.0f}  system {r['system_ms']:5.1f} ms/pass  "
                      f"wall {r['wall_ms']:6.0f} ms  share of matmul peak {100 * r['share']:5.1f}%  "
                      f"peak RSS {r['rss_mib']:5.0f} MiB", flush=True)  # fmt: skip
    print()
    for setting, rows in results.items():
        shares = [100 * r["share"] for r in rows]
        print(f"{setting:8s} median over {len(rows)} processes: faults/pass "
              f"{statistics.median(r['faults'] for r in rows):.0f}, system "
              f"{statistics.median(r['system_ms'] for r in rows):.1f} ms/pass, share "
              f"{statistics.median(shares):.1f}% ({min(shares):.1f}-{max(shares):.1f}%)")  # fmt: skip


if __name__ == "__main__":
    main()
