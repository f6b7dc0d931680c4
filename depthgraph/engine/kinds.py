"""Kinds: what flows along an edge of a workflow.

A kind is a name plus a description. Selectors in manifests declare the kinds they accept; outputs
declare the kinds they give; the compiler checks that the two intersect (``*`` matches anything).
Plugins may add kinds through ``load_kinds()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    """``batch_level``: a value of this kind describes the whole batch (one value per run, e.g.
    a scene made of all the batch's images), not one element; see the executor."""

    name: str
    description: str = ""
    docs: str = ""
    batch_level: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "description": self.description, "docs": self.docs}
        if self.batch_level:
            out["batch_level"] = True
        return out


WILDCARD_KIND = Kind("*", "Anything: matches every kind.")
IMAGE_KIND = Kind(
    "image",
    "An image: numpy BGR uint8 HxWx3 inside a WorkflowImageData wrapper that keeps the parent id.",
)
DEPTH_MAP_KIND = Kind("depth_map", "A depth map (DepthMap): float32 HxW values, larger = farther, with its unit (relative or a length) and validity mask.")
NUMPY_ARRAY_KIND = Kind("numpy_array", "A numpy array.")
CAMERA_INTRINSICS_KIND = Kind(
    "camera_intrinsics", "Pinhole intrinsics, a 3x3 float matrix [[fx,0,cx],[0,fy,cy],[0,0,1]]."
)
POINT_CLOUD_KIND = Kind(
    "point_cloud", "A point cloud: Nx3 float32 points, optional Nx3 uint8 colours, pixel coordinates."
)
OBJECT_DETECTION_PREDICTION_KIND = Kind(
    "object_detection_prediction", "Object detections as a supervision.Detections."
)
INSTANCE_SEGMENTATION_PREDICTION_KIND = Kind(
    "instance_segmentation_prediction",
    "Instance segmentation as a supervision.Detections with masks.",
)
FLOAT_KIND = Kind("float", "A floating point number.")
INTEGER_KIND = Kind("integer", "An integer.")
STRING_KIND = Kind("string", "A string.")
BOOLEAN_KIND = Kind("boolean", "A boolean.")
DICTIONARY_KIND = Kind("dictionary", "A JSON-like dictionary.")
LIST_OF_VALUES_KIND = Kind("list_of_values", "A list of values.")
VIDEO_METADATA_KIND = Kind(
    "video_metadata",
    "Where a frame sits in a video: a VideoMetadata (video id, frame number, frame timestamp, fps).",
)
SCENE_KIND = Kind(
    "scene",
    "Several views of one scene (all images of the batch) with per-view depth, confidence, "
    "intrinsics and world-to-camera extrinsics in one shared frame. Batch-level: one value per run.",
    batch_level=True,
)

BUILTIN_KINDS: tuple[Kind, ...] = (
    WILDCARD_KIND,
    IMAGE_KIND,
    DEPTH_MAP_KIND,
    NUMPY_ARRAY_KIND,
    CAMERA_INTRINSICS_KIND,
    POINT_CLOUD_KIND,
    OBJECT_DETECTION_PREDICTION_KIND,
    INSTANCE_SEGMENTATION_PREDICTION_KIND,
    FLOAT_KIND,
    INTEGER_KIND,
    STRING_KIND,
    BOOLEAN_KIND,
    DICTIONARY_KIND,
    LIST_OF_VALUES_KIND,
    VIDEO_METADATA_KIND,
    SCENE_KIND,
)


def kinds_match(accepted: list[str] | tuple[str, ...], given: list[str] | tuple[str, ...]) -> bool:
    """True when a property accepting ``accepted`` kinds may take a source giving ``given`` kinds."""
    if "*" in accepted or "*" in given:
        return True
    return bool(set(accepted) & set(given))
