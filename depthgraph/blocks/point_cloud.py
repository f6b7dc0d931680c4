"""``depthgraph/point_cloud_projection@v1`` and ``depthgraph/point_cloud_export@v1``.

Projection is pinhole unprojection with z-depth, in the OpenCV camera frame (x right, y down,
z forward) unless told ``opengl`` (:func:`depthgraph.geometry.back_project`); the points are in
the depth's unit (``relative`` for a bare array). Export writes binary little-endian PLY
(:mod:`depthgraph.ply`, whose header names the unit) into the configured directory and nowhere
else.
"""

from __future__ import annotations

import math
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from depthgraph import output_root
from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.blocks.depth_utils import as_depth_map, as_float_map, as_intrinsics
from depthgraph.engine.values import PointCloud, WorkflowImageData
from depthgraph.geometry import back_project
from depthgraph.manifests.point_cloud import (
    PointCloudExportManifest,
    PointCloudProjectionManifest,
    check_file_prefix,
)
from depthgraph.ply import write_ply


# --- camera --------------------------------------------------------------------------------------


def _number(value: Any, prop: str) -> float:
    """``value`` as a finite float, or a ValueError naming ``prop``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StepInputError(f"property '{prop}': expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise StepInputError(f"property '{prop}': expected a finite number, got {number}")
    return number


def camera_matrix(
    height: int,
    width: int,
    intrinsics: Any = None,
    fx: float | None = None,
    fy: float | None = None,
    cx: float | None = None,
    cy: float | None = None,
    fov_degrees: float = 60.0,
) -> np.ndarray:
    """The 3x3 pinhole matrix at the depth map's size, from the first source given.

    Order: ``intrinsics``; else ``fx``/``fy`` (one alone serves for both) with ``cx``/``cy``
    defaulting to the image centre; else the horizontal ``fov_degrees`` with square pixels.
    """
    if intrinsics is not None:
        return as_intrinsics(intrinsics, "intrinsics")
    centre_x = (width - 1) / 2.0 if cx is None else _number(cx, "cx")
    centre_y = (height - 1) / 2.0 if cy is None else _number(cy, "cy")
    if fx is not None or fy is not None:
        focal_x = _number(fx, "fx") if fx is not None else _number(fy, "fy")
        focal_y = _number(fy, "fy") if fy is not None else focal_x
        if not (focal_x > 0 and focal_y > 0):
            raise StepInputError(
                f"properties 'fx'/'fy': focal lengths must be positive, got {fx}, {fy}"
            )
    else:
        fov = _number(fov_degrees, "fov_degrees")
        if not 0.0 < fov < 180.0:
            raise StepInputError(f"property 'fov_degrees': expected a value in (0, 180), got {fov}")
        focal_x = focal_y = (width / 2.0) / math.tan(math.radians(fov) / 2.0)
    return np.array(
        [[focal_x, 0.0, centre_x], [0.0, focal_y, centre_y], [0.0, 0.0, 1.0]], dtype=np.float64
    )


# --- masks ---------------------------------------------------------------------------------------


def edge_mask(depth: np.ndarray, threshold: float) -> np.ndarray:
    """True where a 4-neighbour's depth differs by more than ``threshold`` relative to this one."""
    d = depth.astype(np.float64)
    finite = np.isfinite(d)
    filled = np.where(finite, d, 0.0)
    padded = np.pad(filled, 1, mode="edge")
    padded_ok = np.pad(finite, 1, mode="edge")
    jump = np.zeros(d.shape, dtype=np.float64)
    h, w = d.shape
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        neighbour = padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        ok = padded_ok[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        jump = np.maximum(jump, np.where(ok, np.abs(filled - neighbour), 0.0))
    scale = np.maximum(np.abs(filled), 1e-12)
    return finite & (jump / scale > threshold)


def _colours_for(image: WorkflowImageData, height: int, width: int) -> np.ndarray:
    """The image's RGB colours at the depth map's size."""
    import cv2

    bgr = image.numpy_image
    if bgr.shape[:2] != (height, width):
        bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    return bgr[:, :, ::-1]


def unproject(
    depth: np.ndarray,
    matrix: np.ndarray,
    keep: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) in the OpenCV frame and their pixels (N, 2) = (u, v) where ``keep`` is True."""
    v, u = np.nonzero(keep)
    points = back_project(u, v, depth[v, u], matrix).astype(np.float32)
    return points, np.stack([u, v], axis=1).astype(np.int32)


class PointCloudProjectionBlock(WorkflowBlock):
    """Depth map (+ camera, + optional image colours) -> :class:`PointCloud`."""

    manifest_class = PointCloudProjectionManifest

    def run(  # type: ignore[override]
        self,
        depth: Any,
        image: WorkflowImageData | None = None,
        intrinsics: Any = None,
        fx: float | None = None,
        fy: float | None = None,
        cx: float | None = None,
        cy: float | None = None,
        fov_degrees: float = 60.0,
        stride: int = 1,
        max_points: int | None = None,
        confidence: Any = None,
        min_confidence_percentile: float = 0.0,
        remove_edges: bool = True,
        edge_threshold: float = 0.05,
        depth_scale: float = 1.0,
        coordinate_frame: str = "opencv",
        include_sky: bool = False,
        **_: Any,
    ) -> dict[str, Any]:
        given = as_depth_map(depth, "depth")
        if given.is_metric and depth_scale != 1.0:
            # the points would be in "metres times depth_scale", a unit nothing could name
            raise StepInputError(
                f"property 'depth_scale': the depth is in {given.unit}, so its points are too; "
                f"scaling it by {depth_scale} would leave them in no known unit (leave "
                "depth_scale at 1 for a metric depth)"
            )
        depth_map = given.values * np.float32(depth_scale)
        height, width = depth_map.shape
        matrix = camera_matrix(height, width, intrinsics, fx, fy, cx, cy, fov_degrees)

        keep = given.valid_mask()  # sky and pixels outside a crop are not valid
        if include_sky and given.sky is not None:
            keep = keep | given.sky
        keep &= np.isfinite(depth_map) & (depth_map > 0)
        if remove_edges:
            keep &= ~edge_mask(depth_map, float(edge_threshold))
        if confidence is not None:
            conf = as_float_map(confidence, "confidence", "a confidence map")
            if conf.shape != depth_map.shape:
                raise StepInputError(
                    f"property 'confidence': shape {conf.shape} differs from the depth map's "
                    f"{depth_map.shape}"
                )
            if min_confidence_percentile > 0 and keep.any():
                cut = np.percentile(conf[keep & np.isfinite(conf)], min_confidence_percentile)
                keep &= conf >= cut
        if stride > 1:
            grid = np.zeros_like(keep)
            grid[::stride, ::stride] = True
            keep &= grid

        points, pixels = unproject(depth_map, matrix, keep)
        if max_points is not None and len(points) > max_points:
            spaced = np.round(np.linspace(0, len(points) - 1, max_points)).astype(np.int64)
            index = np.unique(spaced)
            points, pixels = points[index], pixels[index]

        colours = None
        parent_id = None
        if image is not None:
            if not isinstance(image, WorkflowImageData):
                raise StepInputError(f"property 'image': expected an image, got {type(image).__name__}")
            rgb = _colours_for(image, height, width)
            colours = rgb[pixels[:, 1], pixels[:, 0]]
            parent_id = image.parent_id
        if coordinate_frame == "opengl":
            points = points * np.array([1.0, -1.0, -1.0], dtype=np.float32)
        elif coordinate_frame != "opencv":
            raise StepInputError(
                "property 'coordinate_frame': expected 'opencv' or 'opengl', "
                f"got {coordinate_frame!r}"
            )
        cloud = PointCloud(
            points=points,
            colors=colours,
            pixels=pixels,
            frame=coordinate_frame,
            parent_id=parent_id,
            unit=given.unit,  # z is the depth (times depth_scale, 1 for a metric depth)
        )
        return {"point_cloud": cloud, "num_points": len(cloud)}


# --- export --------------------------------------------------------------------------------------

_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_\-]")


def safe_file_stem(text: str) -> str:
    """``text`` reduced to letters, digits, '_' and '-' (at most 80 characters)."""
    stem = _UNSAFE_CHARS.sub("_", str(text))[:80]
    return stem or "cloud"


def export_path(output_directory: str, file_prefix: str, image_id: str) -> Path:
    """Where a cloud goes: ``<output_directory>/<prefix>_<id>.ply``, checked to stay inside."""
    check_file_prefix(file_prefix)
    # the output root (server --output-root, CLI -o) confines the folder; see depthgraph.output_root
    directory = output_root.output_directory(output_directory)
    return output_root.output_file(directory, f"{file_prefix}_{safe_file_stem(image_id)}.ply",
                                   prop="file_prefix")


class PointCloudExportBlock(WorkflowBlock):
    """Writes each cloud to ``<output_directory>/<file_prefix>_<image id>.ply``."""

    manifest_class = PointCloudExportManifest

    def run(  # type: ignore[override]
        self,
        point_cloud: Any,
        output_directory: str = "./depthgraph_outputs",
        file_prefix: str = "point_cloud",
        **_: Any,
    ) -> dict[str, Any]:
        if not isinstance(point_cloud, PointCloud):
            raise StepInputError(
                f"property 'point_cloud': expected a point cloud, got {type(point_cloud).__name__}"
            )
        try:
            path = export_path(
                output_directory, file_prefix, point_cloud.parent_id or uuid.uuid4().hex[:12]
            )
        except ValueError as error:
            raise StepInputError(str(error)) from None
        except OSError as error:
            raise StepInputError(
                f"property 'output_directory': cannot create {output_directory!r}: {error}"
            ) from None
        write_ply(path, point_cloud)
        return {"file_path": output_root.shown_path(path), "num_points": len(point_cloud)}
