"""Manifest of ``depthgraph/detections_depth@v1``: how far away each detection is."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import ConfigDict, Field

from depthgraph.engine.kinds import (
    CAMERA_INTRINSICS_KIND,
    DEPTH_MAP_KIND,
    INSTANCE_SEGMENTATION_PREDICTION_KIND,
    LIST_OF_VALUES_KIND,
    NUMPY_ARRAY_KIND,
    OBJECT_DETECTION_PREDICTION_KIND,
)
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector


class DetectionsDepthManifest(BlockManifest):
    """Median (and min, max) depth of each detection, and its 3D position given intrinsics."""

    model_config = ConfigDict(
        json_schema_extra={
            "name": "Detections Depth",
            "version": "v1",
            "short_description": "Distance to each detected object.",
            "long_description": (
                "For each detection, the median depth over its mask when it has one, else over "
                "the central half of its box (robust to background), plus the min and max. With "
                "intrinsics, the 3D point (camera frame) at the box centre and that depth. Adds "
                "'depth', 'depth_min', 'depth_max' (and 'position_3d') to the detections' data."
            ),
            "license": "Apache-2.0",
            "block_type": "analytics",
            "ui_manifest": {"section": "analytics", "icon": "far fa-ruler"},
        }
    )

    type: Literal["depthgraph/detections_depth@v1"]
    predictions: Selector(  # type: ignore[valid-type]
        kind=[OBJECT_DETECTION_PREDICTION_KIND, INSTANCE_SEGMENTATION_PREDICTION_KIND]
    ) = Field(
        description="Detections (boxes, optional masks).", examples=["$steps.faces.predictions"]
    )
    depth: Selector(kind=[DEPTH_MAP_KIND, NUMPY_ARRAY_KIND]) = Field(  # type: ignore[valid-type]
        description="Depth map in the detections' pixel coordinates.",
        examples=["$steps.depth.depth"],
    )
    intrinsics: Optional[  # type: ignore[valid-type]
        Selector(kind=[CAMERA_INTRINSICS_KIND, NUMPY_ARRAY_KIND])
    ] = Field(default=None, description="3x3 intrinsics, to add each detection's 3D position.")

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(
                name="predictions",
                kind=[OBJECT_DETECTION_PREDICTION_KIND, INSTANCE_SEGMENTATION_PREDICTION_KIND],
                description="The same detections with depth fields in their data.",
            ),
            OutputDefinition(
                name="depths",
                kind=[LIST_OF_VALUES_KIND],
                description="Median depth per detection (None where no valid pixel).",
            ),
        ]
