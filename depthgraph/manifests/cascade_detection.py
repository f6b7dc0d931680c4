"""Manifest of ``depthgraph/opencv_cascade_detection@v1``: classic cascade object detection."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import ConfigDict, Field, model_validator

from depthgraph.engine.kinds import IMAGE_KIND, OBJECT_DETECTION_PREDICTION_KIND
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector

CascadeName = Literal["frontal_face", "profile_face", "full_body", "upper_body", "eyes"]


class CascadeDetectionManifest(BlockManifest):
    """Detect faces, bodies or eyes with a bundled cascade classifier (nothing to download)."""

    model_config = ConfigDict(
        json_schema_extra={
            "name": "Cascade Detection",
            "version": "v1",
            "short_description": "Faces, bodies or eyes with a classic cascade classifier.",
            "long_description": (
                "Runs a boosted Haar cascade over an image pyramid with "
                "cv2.CascadeClassifier and the cascades bundled with opencv-python: frontal "
                "face, profile face, full body, upper body or eyes. Nothing is downloaded."
            ),
            "license": "Apache-2.0",
            "block_type": "model",
            "ui_manifest": {"section": "model", "icon": "far fa-user"},
        }
    )

    type: Literal["depthgraph/opencv_cascade_detection@v1"]
    image: Selector(kind=[IMAGE_KIND]) = Field(  # type: ignore[valid-type]
        description="The image to search.", examples=["$inputs.image"]
    )
    cascade: CascadeName = Field(default="frontal_face", description="What to detect.")
    scale_factor: float = Field(
        default=1.1, ge=1.05, le=2.0,
        description="Scale step between pyramid levels (at least 1.05: each level costs a pass over the image).",
    )
    min_neighbors: int = Field(
        default=4, ge=0, le=100, description="Overlapping hits needed to keep a detection."
    )
    min_size: int = Field(default=30, ge=8, le=100_000, description="Smallest object side in pixels.")
    max_size: Optional[int] = Field(
        default=None, ge=8, le=100_000, description="Largest object side in pixels (default: image size)."
    )

    @model_validator(mode="after")
    def _sizes(self) -> "CascadeDetectionManifest":
        if self.max_size is not None and self.max_size < self.min_size:
            raise ValueError(f"max_size ({self.max_size}) must be >= min_size ({self.min_size})")
        return self

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(
                name="predictions",
                kind=[OBJECT_DETECTION_PREDICTION_KIND],
                description="supervision.Detections with class names.",
            )
        ]
