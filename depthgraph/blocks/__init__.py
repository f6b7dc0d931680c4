"""Built-in blocks: a plugin module like any other.

The registry imports this module by name (``depthgraph.engine.registry.BUILTIN_PLUGIN``) and
calls ``load_blocks()``, exactly as it does for a plugin named in ``DEPTHGRAPH_PLUGINS``.
"""

from __future__ import annotations

from depthgraph.engine.block import WorkflowBlock


def load_blocks() -> list[type[WorkflowBlock]]:
    """Every built-in block class (imports no torch)."""
    from depthgraph.blocks.cascade_detection import CascadeDetectionBlock
    from depthgraph.blocks.colormap import DepthColormapBlock
    from depthgraph.blocks.depth_estimation import DepthEstimationBlock
    from depthgraph.blocks.depth_stabilizer import DepthStabilizerBlock
    from depthgraph.blocks.detections_depth import DetectionsDepthBlock
    from depthgraph.blocks.metric_alignment import MetricAlignmentBlock
    from depthgraph.blocks.multiview_depth import MultiViewDepthBlock
    from depthgraph.blocks.point_cloud import PointCloudExportBlock, PointCloudProjectionBlock
    from depthgraph.blocks.scene_point_cloud import ScenePointCloudBlock
    from depthgraph.blocks.visualization import (
        BoundingBoxVisualizationBlock,
        LabelVisualizationBlock,
    )

    return [
        DepthEstimationBlock,
        DepthColormapBlock,
        DepthStabilizerBlock,
        PointCloudProjectionBlock,
        PointCloudExportBlock,
        MultiViewDepthBlock,
        ScenePointCloudBlock,
        DetectionsDepthBlock,
        MetricAlignmentBlock,
        CascadeDetectionBlock,
        BoundingBoxVisualizationBlock,
        LabelVisualizationBlock,
    ]
