"""Manifests of the point cloud blocks.

``depthgraph/point_cloud_projection@v1`` and ``depthgraph/point_cloud_export@v1``.
"""

from __future__ import annotations

import re
from typing import Literal, Optional, Union

from pydantic import ConfigDict, Field, field_validator

from depthgraph.engine.kinds import (
    CAMERA_INTRINSICS_KIND,
    DEPTH_MAP_KIND,
    FLOAT_KIND,
    IMAGE_KIND,
    INTEGER_KIND,
    NUMPY_ARRAY_KIND,
    POINT_CLOUD_KIND,
    STRING_KIND,
)
from depthgraph.engine.manifest import BlockManifest, Number, OutputDefinition, Selector

#: A file-name prefix: letters, digits, '_', '-', '.'; no separators, no '..'.
FILE_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


def check_file_prefix(prefix: str) -> str:
    """``prefix`` if it is a safe file-name prefix, else a ValueError saying why."""
    if not isinstance(prefix, str) or not prefix:
        raise ValueError("file_prefix must be a non-empty string")
    if "/" in prefix or "\\" in prefix or ":" in prefix:
        raise ValueError(f"file_prefix must not contain path separators, got {prefix!r}")
    if ".." in prefix:
        raise ValueError(f"file_prefix must not contain '..', got {prefix!r}")
    if not FILE_PREFIX_PATTERN.match(prefix):
        raise ValueError(
            f"file_prefix may hold only letters, digits, '_', '-' and '.' (1 to 64), got {prefix!r}"
        )
    return prefix


#: A focal length in pixels: from a thousandth of a pixel to ten million pixels.
Focal = Optional[Union[Number(ge=1e-3, le=1e7), Selector(kind=[FLOAT_KIND])]]  # type: ignore[valid-type]
#: A principal point coordinate in pixels (it may lie outside the image, within reason).
Principal = Optional[Union[Number(ge=-1e7, le=1e7), Selector(kind=[FLOAT_KIND])]]  # type: ignore[valid-type]


class PointCloudProjectionManifest(BlockManifest):
    """Unproject a depth map through a pinhole camera into a 3D point cloud."""

    model_config = ConfigDict(
        json_schema_extra={
            "name": "Point Cloud Projection",
            "version": "v1",
            "short_description": "Depth map + camera -> coloured 3D point cloud.",
            "long_description": (
                "Pinhole unprojection with z-depth: X = (u - cx) Z / fx, Y = (v - cy) Z / fy. "
                "The camera comes from an intrinsics matrix (at the depth map's size), explicit "
                "fx, fy, cx, cy, or a horizontal field of view. Points can be thinned with a "
                "stride and a deterministic cap, filtered by confidence percentile, and flying "
                "pixels at depth discontinuities removed."
            ),
            "license": "Apache-2.0",
            "block_type": "transformation",
            "ui_manifest": {"section": "transformation", "icon": "far fa-cube"},
        }
    )

    type: Literal["depthgraph/point_cloud_projection@v1"]
    depth: Selector(kind=[DEPTH_MAP_KIND, NUMPY_ARRAY_KIND]) = Field(  # type: ignore[valid-type]
        description="Depth map (HxW) with z-depth, larger = farther.",
        examples=["$steps.depth.depth"],
    )
    image: Optional[Selector(kind=[IMAGE_KIND])] = Field(  # type: ignore[valid-type]
        default=None, description="Optional image giving the points their colours."
    )
    intrinsics: Optional[  # type: ignore[valid-type]
        Selector(kind=[CAMERA_INTRINSICS_KIND, NUMPY_ARRAY_KIND])
    ] = Field(default=None, description="3x3 intrinsics at the depth map's size.")
    fx: Focal = Field(default=None, description="Focal length x in pixels (with fy).")
    fy: Focal = Field(default=None, description="Focal length y in pixels (with fx).")
    cx: Principal = Field(default=None, description="Principal point x (default: centre).")
    cy: Principal = Field(default=None, description="Principal point y (default: centre).")
    fov_degrees: Union[Number(gt=0.0, lt=180.0), Selector(kind=[FLOAT_KIND])] = Field(  # type: ignore[valid-type]
        default=60.0, description="Horizontal field of view used when no other camera is given."
    )
    stride: int = Field(default=1, ge=1, le=64, description="Take every stride-th pixel.")
    max_points: Optional[int] = Field(
        default=None, ge=1, le=50_000_000, description="Cap on points, evenly spaced (deterministic)."
    )
    confidence: Optional[Selector(kind=[NUMPY_ARRAY_KIND])] = Field(  # type: ignore[valid-type]
        default=None, description="Confidence map (HxW) used with min_confidence_percentile."
    )
    min_confidence_percentile: float = Field(
        default=0.0, ge=0.0, le=100.0, description="Drop points below this confidence percentile."
    )
    remove_edges: bool = Field(
        default=True, description="Drop flying pixels at depth discontinuities."
    )
    edge_threshold: float = Field(
        default=0.05,
        gt=0.0,
        le=1e6,
        description="Relative depth jump to a 4-neighbour that marks a pixel as an edge.",
    )
    depth_scale: float = Field(
        default=1.0, ge=1e-6, le=1e6, allow_inf_nan=False,
        description="Multiplier applied to a relative depth (a metric depth keeps 1: its points are in its unit).",
    )
    coordinate_frame: Literal["opencv", "opengl"] = Field(
        default="opencv",
        description="opencv: x right, y down, z forward; opengl: x right, y up, z backward.",
    )
    include_sky: bool = Field(
        default=False,
        description=(
            "Keep the pixels the depth marks as sky (metric-large, mono-large give them one "
            "far fill value, not a real distance); left out by default."
        ),
    )

    @field_validator("fov_degrees")
    @classmethod
    def _fov_range(cls, value: object) -> object:
        if isinstance(value, (int, float)) and not 0.0 < float(value) < 180.0:
            raise ValueError(f"fov_degrees must be within (0, 180), got {value}")
        return value

    @field_validator("fx", "fy")
    @classmethod
    def _positive_focal(cls, value: object) -> object:
        if isinstance(value, (int, float)) and float(value) <= 0.0:
            raise ValueError(f"focal lengths must be positive, got {value}")
        return value

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="point_cloud", kind=[POINT_CLOUD_KIND], description="The cloud, in the depth's unit."),
            OutputDefinition(name="num_points", kind=[INTEGER_KIND], description="Its size."),
        ]


class PointCloudExportManifest(BlockManifest):
    """Write a point cloud as a binary little-endian PLY file inside an output directory."""

    model_config = ConfigDict(
        json_schema_extra={
            "name": "Point Cloud Export (PLY)",
            "version": "v1",
            "short_description": "Save a point cloud as binary PLY.",
            "long_description": (
                "Writes float x, y, z and uchar red, green, blue as binary little-endian PLY into "
                "output_directory, named <file_prefix>_<image id>.ply. The prefix may not hold "
                "separators or '..', and the file never lands outside the directory."
            ),
            "license": "Apache-2.0",
            "block_type": "sink",
            "ui_manifest": {"section": "sink", "icon": "far fa-file-export"},
        }
    )

    type: Literal["depthgraph/point_cloud_export@v1"]
    point_cloud: Selector(kind=[POINT_CLOUD_KIND]) = Field(  # type: ignore[valid-type]
        description="The cloud to write.", examples=["$steps.cloud.point_cloud"]
    )
    output_directory: str = Field(
        default="./depthgraph_outputs",
        min_length=1,
        max_length=1024,
        description="Directory the files go to (created when missing).",
    )
    file_prefix: str = Field(default="point_cloud", min_length=1, max_length=64, description="Start of the file name.")

    @field_validator("file_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        return check_file_prefix(value)

    @field_validator("output_directory")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("output_directory must not contain NUL characters")
        return value

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="file_path", kind=[STRING_KIND], description="The PLY written."),
            OutputDefinition(name="num_points", kind=[INTEGER_KIND], description="Points written."),
        ]
