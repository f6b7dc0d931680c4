"""Values crossing between Roboflow's engine and depthgraph's blocks, both ways.

- Images: Roboflow's ``WorkflowImageData`` (lazy, may hold base64, a tensor, crop origins) <->
  depthgraph's (BGR uint8 HxWx3, read-only, ``parent_id``). Going in, the parent id and the video
  metadata travel along. Coming out, an image derived from an input image (same ``parent_id``)
  gets that input's whole Roboflow metadata (parent and root-ancestor origins, video metadata)
  through ``WorkflowImageData.copy_and_replace``, so depth outputs line up with Roboflow's crops.
  Arrays handed to Roboflow are writeable (Roboflow's visualisations may draw in place).
- ``sv.Detections``: the same object both ways; detections a depthgraph block creates get the
  data keys Roboflow's blocks and serialisers expect (``detection_id``, ``parent_id``, parent
  and root origins, ``image_dimensions``, ``prediction_type``) from the image they were found on.
- Video metadata: Roboflow's ``VideoMetadata`` (timestamp a datetime) <-> depthgraph's (seconds).
- ``Batch`` -> list for depthgraph's batch-aware blocks.
- Everything else (numpy arrays, point clouds, numbers, strings) passes unchanged.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

import numpy as np
import supervision as sv
from roboflow_workflows.core_steps.common.utils import attach_parents_coordinates_to_sv_detections
from roboflow_workflows.execution_engine.constants import (
    DETECTION_ID_KEY,
    IMAGE_DIMENSIONS_KEY,
    PARENT_ID_KEY,
    PREDICTION_TYPE_KEY,
)
from roboflow_workflows.execution_engine.entities.base import Batch, ImageParentMetadata
from roboflow_workflows.execution_engine.entities.base import VideoMetadata as RoboflowVideoMetadata
from roboflow_workflows.execution_engine.entities.base import (
    WorkflowImageData as RoboflowImage,
)

from depthgraph.engine.values import VideoMetadata, WorkflowImageData


# --- video metadata ------------------------------------------------------------------------------


def video_metadata_to_depthgraph(metadata: RoboflowVideoMetadata) -> VideoMetadata:
    """Roboflow's video metadata as depthgraph's; the timestamp becomes seconds.

    Frames of a file with a known frame rate get ``frame_number / fps`` (as depthgraph's own
    video sources do); live frames get the POSIX time of their timestamp (only differences
    matter to blocks that smooth over time).
    """
    fps = float(metadata.fps or 0.0)
    from_file = bool(metadata.comes_from_video_file) if metadata.comes_from_video_file is not None else False
    if from_file and fps > 0:
        seconds = metadata.frame_number / fps
    else:
        stamp = metadata.frame_timestamp
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        seconds = stamp.timestamp()
    return VideoMetadata(
        video_identifier=str(metadata.video_identifier),
        frame_number=int(metadata.frame_number),
        frame_timestamp=float(seconds),
        fps=fps,
        comes_from_video_file=from_file,
    )


def video_metadata_to_roboflow(metadata: VideoMetadata) -> RoboflowVideoMetadata:
    """depthgraph's video metadata as Roboflow's (seconds become a UTC datetime)."""
    return RoboflowVideoMetadata(
        video_identifier=metadata.video_identifier,
        frame_number=metadata.frame_number,
        frame_timestamp=datetime.fromtimestamp(float(metadata.frame_timestamp), tz=timezone.utc),
        fps=float(metadata.fps) if metadata.fps else None,
        comes_from_video_file=metadata.comes_from_video_file,
    )


# --- images -------------------------------------------------------------------------------------


def _as_bgr(array: np.ndarray) -> np.ndarray:
    """Roboflow images are BGR HxWx3, or HxW for single-channel ones; depthgraph wants HxWx3."""
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 4:
        return np.ascontiguousarray(array[:, :, :3])
    return array


def image_to_depthgraph(image: RoboflowImage) -> WorkflowImageData:
    """A Roboflow image as depthgraph's (a read-only view of the same pixels when possible)."""
    parent_id = image.parent_metadata.parent_id
    own_video = getattr(image, "_video_metadata", None)  # not the placeholder Roboflow makes up
    return WorkflowImageData(
        numpy_image=_as_bgr(image.numpy_image),
        parent_id=parent_id,
        image_id=parent_id,
        video_metadata=video_metadata_to_depthgraph(own_video) if own_video is not None else None,
    )


def _writeable(array: np.ndarray) -> np.ndarray:
    return array if array.flags.writeable else array.copy()


def image_to_roboflow(
    image: WorkflowImageData, sources: dict[str, RoboflowImage] | None = None
) -> RoboflowImage:
    """depthgraph's image as Roboflow's; metadata from the input image of the same parent id."""
    pixels = _writeable(image.numpy_image)
    source = (sources or {}).get(image.parent_id)
    if source is not None:
        return RoboflowImage.copy_and_replace(origin_image_data=source, numpy_image=pixels)
    video = image.video_metadata
    return RoboflowImage(
        parent_metadata=ImageParentMetadata(parent_id=image.parent_id),
        numpy_image=pixels,
        video_metadata=video_metadata_to_roboflow(video) if video is not None else None,
    )


# --- detections ---------------------------------------------------------------------------------


def detections_to_roboflow(detections: sv.Detections, image: RoboflowImage | None) -> sv.Detections:
    """Detections with the data keys Roboflow expects; the input is never modified.

    Detections that already carry Roboflow's keys (they came from Roboflow) are returned as they
    are. ``image`` is the image the detections were found on (None: parent keys stay absent).
    """
    missing_id = DETECTION_ID_KEY not in detections.data
    missing_parent = image is not None and PARENT_ID_KEY not in detections.data
    missing_type = PREDICTION_TYPE_KEY not in detections.data
    missing_dims = image is not None and IMAGE_DIMENSIONS_KEY not in detections.data
    if not (missing_id or missing_parent or missing_type or missing_dims):
        return detections
    result = copy.deepcopy(detections)
    count = len(result)
    if missing_id:
        result.data[DETECTION_ID_KEY] = np.array([str(uuid.uuid4()) for _ in range(count)])
    if missing_type:
        kind = "instance-segmentation" if result.mask is not None else "object-detection"
        result.data[PREDICTION_TYPE_KEY] = np.array([kind] * count)
    if "class_name" not in result.data:
        names = [str(int(c)) for c in (result.class_id if result.class_id is not None else [0] * count)]
        result.data["class_name"] = np.array(names, dtype=str)
    if image is not None:
        height, width = image.numpy_image.shape[:2]
        if missing_dims:
            result.data[IMAGE_DIMENSIONS_KEY] = np.array([[height, width]] * count).reshape(-1, 2)
        if missing_parent:
            result = attach_parents_coordinates_to_sv_detections(result, image)
    return result


# --- whole calls --------------------------------------------------------------------------------


def images_in(values: Iterable[Any]) -> list[RoboflowImage]:
    """The Roboflow images among ``values`` (looking into Batches, lists and dicts)."""
    found: list[RoboflowImage] = []

    def visit(value: Any) -> None:
        if isinstance(value, RoboflowImage):
            found.append(value)
        elif isinstance(value, (Batch, list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for value in values:
        visit(value)
    return found


def value_to_depthgraph(value: Any) -> Any:
    """A resolved Roboflow input as depthgraph's blocks take it."""
    if isinstance(value, RoboflowImage):
        return image_to_depthgraph(value)
    if isinstance(value, RoboflowVideoMetadata):
        return video_metadata_to_depthgraph(value)
    if isinstance(value, Batch):
        return [value_to_depthgraph(item) for item in value]
    if isinstance(value, list):
        return [value_to_depthgraph(item) for item in value]
    if isinstance(value, tuple):
        return tuple(value_to_depthgraph(item) for item in value)
    if isinstance(value, dict):
        return {key: value_to_depthgraph(item) for key, item in value.items()}
    return value


def value_to_roboflow(
    value: Any, sources: dict[str, RoboflowImage], context: RoboflowImage | None
) -> Any:
    """A depthgraph block output as Roboflow's blocks and serialisers take it.

    ``sources``: input images by parent id; ``context``: the image of this batch element.
    """
    if isinstance(value, WorkflowImageData):
        return image_to_roboflow(value, sources)
    if isinstance(value, sv.Detections):
        return detections_to_roboflow(value, context)
    if isinstance(value, VideoMetadata):
        return video_metadata_to_roboflow(value)
    if isinstance(value, list):
        return [value_to_roboflow(item, sources, context) for item in value]
    if isinstance(value, tuple):
        return tuple(value_to_roboflow(item, sources, context) for item in value)
    if isinstance(value, dict):
        return {key: value_to_roboflow(item, sources, context) for key, item in value.items()}
    return value
