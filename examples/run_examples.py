"""Run the three example workflows on the example photos, save what they give, print timings.

    python examples/run_examples.py                 # real weights from $DEPTHGRAPH_WEIGHTS_DIR
    python examples/run_examples.py --recipe        # deterministic recipe weights (no download)
    python examples/run_examples.py --recipe --repeat 3 --output-dir /tmp/examples_out

Recipe weights exercise the real network and loading path, but their depth is not meaningful:
use them for timings and plumbing, real weights for pictures worth looking at.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = [
    ("depth_colormap", "coffee"),
    ("point_cloud_ply", "chelsea"),
    ("face_distances", "astronaut"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", action="store_true", help="use recipe weights in a temp dir")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after a warm-up")
    parser.add_argument("--output-dir", type=Path, default=Path("depthgraph_outputs/examples"))
    args = parser.parse_args()

    if args.recipe:
        from depthgraph.models.depth_anything_v3.recipe import write_recipe_checkpoint

        root = Path(tempfile.mkdtemp(prefix="depthgraph-recipe-"))
        write_recipe_checkpoint("small", root / "DA3-SMALL")
        os.environ["DEPTHGRAPH_WEIGHTS_DIR"] = str(root)

    import cv2

    from depthgraph import Workflow

    args.output_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(args.output_dir)  # the point cloud example writes ./depthgraph_outputs/<file>.ply
    for workflow_name, image_name in EXAMPLES:
        workflow = Workflow.from_definition(HERE / "workflows" / f"{workflow_name}.json")
        photo = cv2.imread(str(HERE / "images" / f"{image_name}.jpg"))
        start = time.perf_counter()
        [result] = workflow.run(image=photo)
        first = time.perf_counter() - start
        times = []
        for _ in range(max(args.repeat, 1)):
            start = time.perf_counter()
            [result] = workflow.run(image=photo)
            times.append(time.perf_counter() - start)
        print(
            f"{workflow_name:16s} on {image_name:9s} {photo.shape[1]}x{photo.shape[0]}: "
            f"first run {first:.2f} s (model load included), "
            f"then median {statistics.median(times):.2f} s "
            f"over {len(times)} runs"
        )
        for key, value in result.items():
            if hasattr(value, "numpy_image"):
                path = Path(f"{workflow_name}_{key}.jpg")
                cv2.imwrite(str(path), value.numpy_image)
                print(f"    {key}: wrote {args.output_dir / path}")
            elif key == "depths":
                print(f"    depths: {[round(d, 3) if d is not None else None for d in value]}")
            elif key in ("file_path", "num_points"):
                print(f"    {key}: {value}")


if __name__ == "__main__":
    main()
