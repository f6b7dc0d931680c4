"""Runtime values that flow between blocks (numpy only, no torch).

- ``image``: :class:`WorkflowImageData`, a BGR uint8 HxWx3 array plus the id of the image it came
  from (``parent_id``), so that derived images (a colour-mapped depth, an annotated picture) can be
  traced back to the input they belong to.
- ``video_metadata``: :class:`VideoMetadata`, also carried by every frame's image
  (``WorkflowImageData.video_metadata``) so that blocks can tell frames of one video apart.
- ``point_cloud``: :class:`PointCloud` (points, colours, frame and unit).
- ``object_detection_prediction``: ``supervision.Detections`` (imported where used).
- ``depth_map``: :class:`DepthMap` (values, unit, validity and sky masks).
- ``numpy_array`` / ``camera_intrinsics``: plain numpy arrays.
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


#: The unit of a depth that has none: larger = farther, in no unit (DA3 small/base, mono-large).
RELATIVE = "relative"
#: Length units a metric depth may carry, with their size in metres (for conversions and labels).
LENGTH_UNITS_IN_METRES: dict[str, float] = {
    "m": 1.0,
    "cm": 0.01,
    "mm": 0.001,
    "km": 1000.0,
    "ft": 0.3048,
    "in": 0.0254,
}


def check_unit(unit: object, what: str) -> str:
    """``unit`` if it is :data:`RELATIVE` or a length unit, else a ValueError naming ``what``."""
    if not isinstance(unit, str) or (unit != RELATIVE and unit not in LENGTH_UNITS_IN_METRES):
        raise ValueError(
            f"{what} unit must be {RELATIVE!r} or one of {sorted(LENGTH_UNITS_IN_METRES)}; got {unit!r}"
        )
    return unit  # type: ignore[return-value]


@dataclass(frozen=True)
class PointCloud:
    """Points in a camera frame.

    - ``points``: float32 (N, 3)
    - ``colors``: uint8 (N, 3) RGB, or None when no image gave colours
    - ``pixels``: int32 (N, 2) as (x, y) = (column, row) of the depth-map pixel each point came from
    - ``frame``: ``"opencv"`` (x right, y down, z forward) or ``"opengl"`` (x right, y up, z back)
    - ``parent_id``: the input image the cloud belongs to, when known
    - ``unit``: what the coordinates are in, as a :class:`DepthMap`'s unit: :data:`RELATIVE`
      (no unit) or a length unit of :data:`LENGTH_UNITS_IN_METRES`; the unit of the depth the
      cloud was made from
    """

    points: np.ndarray
    colors: np.ndarray | None = None
    pixels: np.ndarray | None = None
    frame: str = "opencv"
    parent_id: str | None = None
    unit: str = RELATIVE

    def __post_init__(self) -> None:
        check_unit(self.unit, "PointCloud")
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
            "unit": self.unit,
            "has_colors": self.colors is not None,
            "bounds_min": pts.min(axis=0).tolist() if len(pts) else None,
            "bounds_max": pts.max(axis=0).tolist() if len(pts) else None,
        }


@dataclass(frozen=True)
class DepthMap:
    """A depth map: float32 (H, W), larger = farther, with the facts that belong to it.

    - ``values``: float32 (H, W), read-only. NaN where the network gave no data (outside a
      centre crop); finite elsewhere.
    - ``unit``: :data:`RELATIVE` (no unit: only order and ratios mean something) or a length unit
      from :data:`LENGTH_UNITS_IN_METRES` (``"m"`` for metric models; the caller's unit when a
      scene is aligned to given cameras).
    - ``valid``: bool (H, W) or None (= every finite pixel): True where the depth is meaningful;
      False on sky and outside a crop. Statistics, point clouds and alignment use these pixels.
    - ``sky``: bool (H, W) or None (the model has no sky branch).
    - ``source``: a short free text saying where the scale came from, e.g.
      ``"DA3METRIC-LARGE, focal from DA3-SMALL"`` or ``"aligned to given cameras"``; empty for
      relative depth.
    - ``parent_id``: the input image this depth belongs to, when known.

    ``np.asarray(depth_map)`` gives ``values``, so array code keeps working; code that shows or
    writes a depth reads ``unit`` (never call a relative depth metres).
    """

    values: np.ndarray
    unit: str = RELATIVE
    valid: np.ndarray | None = None
    sky: np.ndarray | None = None
    source: str = ""
    parent_id: str | None = None

    def __post_init__(self) -> None:
        vals = np.asarray(self.values, dtype=np.float32)
        if vals.ndim != 2:
            raise ValueError(f"DepthMap expects a (H, W) array; got shape {vals.shape}")
        object.__setattr__(self, "values", _readonly(vals))
        check_unit(self.unit, "DepthMap")
        for name in ("valid", "sky"):
            mask = getattr(self, name)
            if mask is None:
                continue
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != vals.shape:
                raise ValueError(f"DepthMap {name} mask {mask.shape} does not match depth {vals.shape}")
            object.__setattr__(self, name, _readonly(mask))

    @property
    def is_metric(self) -> bool:
        return self.unit != RELATIVE

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape  # type: ignore[return-value]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    def valid_mask(self) -> np.ndarray:
        """bool (H, W): ``valid`` where given, else every finite pixel."""
        finite = np.isfinite(self.values)
        return finite if self.valid is None else (finite & self.valid)

    def masked_values(self) -> np.ndarray:
        """float32 (H, W): ``values`` with NaN wherever :meth:`valid_mask` is False (read-only)."""
        if self.valid is None:
            return self.values
        return _readonly(np.where(self.valid, self.values, np.float32(np.nan)).astype(np.float32))

    def in_metres(self) -> np.ndarray:
        """The values converted to metres; refuses a relative depth."""
        if not self.is_metric:
            raise ValueError("a relative depth has no unit: it cannot be given in metres")
        return self.values * np.float32(LENGTH_UNITS_IN_METRES[self.unit])

    def replace(self, **changes: Any) -> "DepthMap":
        """A copy with some fields changed (``values``, ``unit``, masks, ``source``)."""
        fields = {
            "values": self.values, "unit": self.unit, "valid": self.valid, "sky": self.sky,
            "source": self.source, "parent_id": self.parent_id,
        }
        fields.update(changes)
        return DepthMap(**fields)

    def summary(self) -> dict[str, Any]:
        """What a writer or a JSON answer says about the depth besides its pixels."""
        out: dict[str, Any] = {"unit": self.unit, "metric": self.is_metric}
        if self.source:
            out["source"] = self.source
        if self.sky is not None:
            out["sky_fraction"] = float(self.sky.mean()) if self.sky.size else 0.0
        return out
