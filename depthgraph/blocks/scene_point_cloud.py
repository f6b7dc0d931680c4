"""``depthgraph/scene_point_cloud@v1``: a scene's views fused into one world-frame cloud.

Fed only the batch-level ``scene``, the step runs once per run; its cloud is one value for the
whole batch, so a Point Cloud Export after it writes one PLY (named after the scene). The cloud
is in the scene's unit (``ScenePrediction.unit``): ``relative`` unless the scene was aligned to
given cameras whose ``units`` were named. All views of a scene share that one unit, so the
fusion never mixes units.
"""

from __future__ import annotations

import math
from typing import Any

from depthgraph.engine.block import WorkflowBlock
from depthgraph.blocks.multiview_depth import SceneValue
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import PointCloud
from depthgraph.manifests.multiview import ScenePointCloudManifest


class ScenePointCloudBlock(WorkflowBlock):
    """The official DA3 fusion of all views (see ``ScenePrediction.point_cloud``)."""

    manifest_class = ScenePointCloudManifest

    def run(  # type: ignore[override]
        self,
        scene: Any,
        conf_threshold: float | None = None,
        max_points: int = 1_000_000,
        frame: str = "world",
        **_: Any,
    ) -> dict[str, Any]:
        if not isinstance(scene, SceneValue):
            raise StepInputError(f"property 'scene': expected a scene, got {type(scene).__name__}")
        if conf_threshold is not None:
            try:
                conf_threshold = float(conf_threshold)
            except (TypeError, ValueError):
                raise StepInputError(f"property 'conf_threshold': expected a number, got {conf_threshold!r}") from None
            if not math.isfinite(conf_threshold):
                raise StepInputError(f"property 'conf_threshold': expected a finite number, got {conf_threshold}")
        if frame not in ("world", "display"):
            raise StepInputError(f"property 'frame': expected 'world' or 'display', got {frame!r}")
        cloud = scene.prediction.point_cloud(conf_threshold=conf_threshold, max_points=int(max_points))
        points = cloud.display_points() if frame == "display" else cloud.points
        fused = PointCloud(
            points=points,
            colors=cloud.colors,
            pixels=cloud.pixels,
            frame="opengl" if frame == "display" else "world",
            parent_id="scene_" + "_".join(scene.view_ids)[:60] if scene.view_ids else "scene",
            # the scene's depth unit: relative, or the caller's when cameras with units were given
            unit=scene.prediction.unit,
        )
        return {"point_cloud": fused, "num_points": len(fused)}
