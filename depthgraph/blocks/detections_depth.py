"""``depthgraph/detections_depth@v1``: median depth (and 3D position) of each detection."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.blocks.depth_utils import as_depth_map, as_intrinsics
from depthgraph.geometry import back_project
from depthgraph.manifests.detections_depth import DetectionsDepthManifest


def central_box_region(xyxy: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """Pixel index bounds (r0, r1, c0, c1) of the central half of a box, clipped to the image.

    The central half keeps the box centre and half its width and height. A zero-area box gives its
    centre pixel; a box outside the image gives an empty range.
    """
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return 0, 0, 0, 0
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    hw, hh = abs(x2 - x1) / 4.0, abs(y2 - y1) / 4.0
    c0, r0 = math.floor(cx - hw), math.floor(cy - hh)
    c1 = max(c0 + 1, math.ceil(cx + hw))
    r1 = max(r0 + 1, math.ceil(cy + hh))
    return max(r0, 0), min(r1, height), max(c0, 0), min(c1, width)


def _mask_values(mask: np.ndarray, depth: np.ndarray) -> np.ndarray:
    import cv2

    mask = np.asarray(mask).astype(bool)
    if mask.shape != depth.shape:
        mask = cv2.resize(
            mask.astype(np.uint8), (depth.shape[1], depth.shape[0]), interpolation=cv2.INTER_NEAREST
        ).astype(bool)
    return depth[mask]


def detection_depth_stats(
    depth: np.ndarray, xyxy: np.ndarray, mask: np.ndarray | None
) -> tuple[float, float, float]:
    """(median, min, max) of the finite depths under the mask, else the box's central half.

    NaN for all three when no finite depth lies there.
    """
    if mask is not None:
        values = _mask_values(mask, depth)
    else:
        r0, r1, c0, c1 = central_box_region(xyxy, *depth.shape)
        values = depth[r0:r1, c0:c1].ravel() if r1 > r0 and c1 > c0 else depth[:0, :0].ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    return float(np.median(values)), float(values.min()), float(values.max())


class DetectionsDepthBlock(WorkflowBlock):
    """Adds ``depth``, ``depth_min``, ``depth_max``, ``depth_unit`` (and ``position_3d``) to each
    detection; the unit is the depth map's (``relative`` unless the depth is metric)."""

    manifest_class = DetectionsDepthManifest

    def run(  # type: ignore[override]
        self, predictions: Any, depth: Any, intrinsics: Any = None, **_: Any
    ) -> dict[str, Any]:
        import supervision as sv

        if not isinstance(predictions, sv.Detections):
            raise StepInputError(
                "property 'predictions': expected detections (supervision.Detections), got "
                f"{type(predictions).__name__}"
            )
        given = as_depth_map(depth, "depth")
        depth_map = given.masked_values()  # pixels outside the valid mask (sky, crop) count as no data
        matrix = as_intrinsics(intrinsics, "intrinsics") if intrinsics is not None else None
        count = len(predictions)
        stats = np.full((count, 3), np.nan, dtype=np.float64)
        for index in range(count):
            mask = predictions.mask[index] if predictions.mask is not None else None
            stats[index] = detection_depth_stats(depth_map, predictions.xyxy[index], mask)

        result = copy.deepcopy(predictions)
        result.data["depth"] = stats[:, 0].copy()
        result.data["depth_min"] = stats[:, 1].copy()
        result.data["depth_max"] = stats[:, 2].copy()
        result.data["depth_unit"] = np.full(count, given.unit, dtype=object)
        if matrix is not None:
            xyxy = np.asarray(predictions.xyxy, dtype=np.float64).reshape(-1, 4)
            centre_u = (xyxy[:, 0] + xyxy[:, 2]) / 2.0
            centre_v = (xyxy[:, 1] + xyxy[:, 3]) / 2.0
            position = back_project(centre_u, centre_v, stats[:, 0], matrix)
            result.data["position_3d"] = position.reshape(count, 3)
        depths = [None if math.isnan(value) else float(value) for value in stats[:, 0]]
        return {"predictions": result, "depths": depths}
