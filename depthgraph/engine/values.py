"""Runtime values that flow between blocks (numpy only, no torch).

- ``image``: :class:`WorkflowImageData`, a BGR uint8 HxWx3 array plus the id of the image it came
  from (``parent_id``), so that derived images (a colour-mapped depth, an annotated picture) can be
  traced back to the input they belong to.
- ``video_metadata``: :class:`VideoMetadata`, also carried by every frame's image
  (``WorkflowImageData.video_metadata``) so that blocks can tell frames of one video apart.
- ``point_cloud``: :class:`PointCloud`.
- ``object_detection_prediction``: ``supervision.Detections`` (imported where used).
- ``depth_map`` / ``numpy_array`` / ``camera_intrinsics``: plain numpy arrays.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _readonly(array: np.ndarray) -> np.ndarray:
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


@dataclass(frozen=True)
class VideoMetadata:
    """Where a frame sits in a video (as Roboflow's ``VideoMetadata``).

    - ``video_identifier``: unique per video run (two runs of one file get two identifiers)
    - ``frame_number``: 0-based index of the frame in the source (skipped frames still count)
    - ``frame_timestamp``: seconds from the start of the video (``frame_number / fps`` for files,
      the wall clock since the first frame for live sources)
    - ``fps``: the source's frame rate (frames per second; 0.0 when unknown)
    - ``comes_from_video_file``: False for cameras and streams
    """

    video_identifier: str
    frame_number: int
    frame_timestamp: float
    fps: float = 0.0
    comes_from_video_file: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_identifier": self.video_identifier,
            "frame_number": self.frame_number,
            "frame_timestamp": self.frame_timestamp,
            "fps": self.fps,
            "comes_from_video_file": self.comes_from_video_file,
        }


@dataclass(frozen=True)
class WorkflowImageData:
    """An image in a workflow. ``numpy_image`` is BGR uint8 HxWx3 and read-only.

    ``parent_id`` names the input image this one belongs to (an input image is its own parent);
    ``image_id`` names this image itself; ``file_name`` is kept when the image came from a file;
    ``video_metadata`` is set on frames of a video (and kept by :meth:`derive`).
    """

    numpy_image: np.ndarray
    parent_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    image_id: str | None = None
    file_name: str | None = None
    video_metadata: VideoMetadata | None = None

    def __post_init__(self) -> None:
        img = self.numpy_image
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(
                "WorkflowImageData expects a BGR uint8 array of shape (H, W, 3); got "
                f"{getattr(img, 'dtype', type(img).__name__)} {getattr(img, 'shape', '')}"
            )
        object.__setattr__(self, "numpy_image", _readonly(img))
        if self.image_id is None:
            object.__setattr__(self, "image_id", self.parent_id)

    @property
    def height(self) -> int:
        return int(self.numpy_image.shape[0])

    @property
    def width(self) -> int:
        return int(self.numpy_image.shape[1])

    def derive(self, numpy_image: np.ndarray, suffix: str = "derived") -> "WorkflowImageData":
        """A new image computed from this one: same parent, new image id."""
        return WorkflowImageData(
            numpy_image=numpy_image,
            parent_id=self.parent_id,
            image_id=f"{self.parent_id}-{suffix}",
            file_name=self.file_name,
            video_metadata=self.video_metadata,
        )


@dataclass(frozen=True)
class PointCloud:
    """Points in a camera frame.

    - ``points``: float32 (N, 3)
    - ``colors``: uint8 (N, 3) RGB, or None when no image gave colours
    - ``pixels``: int32 (N, 2) as (x, y) = (column, row) of the depth-map pixel each point came from
    - ``frame``: ``"opencv"`` (x right, y down, z forward) or ``"opengl"`` (x right, y up, z back)
    - ``parent_id``: the input image the cloud belongs to, when known
    """

    points: np.ndarray
    colors: np.ndarray | None = None
    pixels: np.ndarray | None = None
    frame: str = "opencv"
    parent_id: str | None = None

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float32).reshape(-1, 3)
        object.__setattr__(self, "points", pts)
        if self.colors is not None:
            cols = np.asarray(self.colors, dtype=np.uint8).reshape(-1, 3)
            if len(cols) != len(pts):
                raise ValueError(f"PointCloud: {len(cols)} colours for {len(pts)} points")
            object.__setattr__(self, "colors", cols)
        if self.pixels is not None:
            pix = np.asarray(self.pixels, dtype=np.int32).reshape(-1, 2)
            if len(pix) != len(pts):
                raise ValueError(f"PointCloud: {len(pix)} pixel coordinates for {len(pts)} points")
            object.__setattr__(self, "pixels", pix)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def summary(self) -> dict[str, Any]:
        pts = self.points
        return {
            "num_points": len(self),
            "frame": self.frame,
            "has_colors": self.colors is not None,
            "bounds_min": pts.min(axis=0).tolist() if len(pts) else None,
            "bounds_max": pts.max(axis=0).tolist() if len(pts) else None,
        }
