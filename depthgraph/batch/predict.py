"""The workflow ``depthgraph predict`` runs, so the quick path goes through the same engine as
``depthgraph run``."""

from __future__ import annotations

from typing import Any


def build_predict_definition(model: str = "small", colormap: str = "turbo",
                             point_cloud: bool = False) -> dict[str, Any]:
    """The workflow ``depthgraph predict`` runs: depth + colour map (+ coloured point cloud).

    Outputs: ``depth`` (depth_map: 16-bit PNG + .npy), ``depth_color`` (image),
    ``intrinsics`` (3x3, in results.json) and, with ``point_cloud``, ``point_cloud`` (PLY).
    """
    steps: list[dict[str, Any]] = [
        {"type": "depthgraph/depth_estimation@v1", "name": "depth", "images": "$inputs.image",
         "model_version": f"depth-anything-v3/{model}", "colormap": colormap},
        {"type": "depthgraph/depth_colormap@v1", "name": "colormap",
         "depth": "$steps.depth.depth", "colormap": colormap},
    ]
    outputs = [
        {"type": "JsonField", "name": "depth", "selector": "$steps.depth.depth"},
        {"type": "JsonField", "name": "depth_color", "selector": "$steps.colormap.image"},
        {"type": "JsonField", "name": "intrinsics", "selector": "$steps.depth.intrinsics"},
    ]
    if point_cloud:
        steps.append({"type": "depthgraph/point_cloud_projection@v1", "name": "cloud",
                      "depth": "$steps.depth.depth", "image": "$inputs.image",
                      "intrinsics": "$steps.depth.intrinsics"})
        outputs.append({"type": "JsonField", "name": "point_cloud",
                        "selector": "$steps.cloud.point_cloud"})
    return {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": steps, "outputs": outputs}

