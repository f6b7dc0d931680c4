"""``depthgraph/metric_alignment@v1``: a relative depth scaled to metres by a metric depth.

Per image (``mode="per_image"``) or over the whole batch (``mode="batch"``):

1. usable pixels: finite and > 0 in both depths, valid in both (:meth:`DepthMap.valid_mask`),
   sky in neither, and, given a confidence map, at or above its ``min_confidence_percentile``;
2. ``scale = median(metric / relative)`` over them (the ratio is scale-only: DA3's relative depth
   is depth up to one unknown factor, not up to scale and shift);
3. agreement: the fraction of usable pixels with ``|scale * relative - metric| <= tolerance *
   metric``, and the median of that relative difference.

The output depth is ``scale * relative`` in metres, keeping the relative depth's masks (and
the metric one's sky where the relative one has none).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depthgraph.engine.block import WorkflowBlock
from depthgraph.blocks.depth_utils import as_depth_map
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import DepthMap
from depthgraph.manifests.metric_alignment import MetricAlignmentManifest


def _relative(value: Any, index: int) -> DepthMap:
    if isinstance(value, DepthMap):
        return value
    return DepthMap(values=as_depth_map(value, f"depth [index {index}]"))


def _metric(value: Any, index: int) -> DepthMap:
    where = f"property 'metric_depth' [index {index}]"
    if not isinstance(value, DepthMap):
        raise StepInputError(
            f"{where}: expected a metric depth map (e.g. from depth-anything-v3/metric-large), "
            f"got {type(value).__name__} without a unit"
        )
    if not value.is_metric:
        raise StepInputError(
            f"{where}: the depth is relative (no unit); use a metric model such as "
            "depth-anything-v3/metric-large"
        )
    return value


def usable_pixels(
    relative: DepthMap, metric: DepthMap, confidence: np.ndarray | None, percentile: float
) -> np.ndarray:
    """bool (H, W): the pixels the ratio is taken over (see the module docstring)."""
    r, m = relative.values, metric.values
    keep = relative.valid_mask() & metric.valid_mask() & (r > 0) & (m > 0) & np.isfinite(m)
    for sky in (relative.sky, metric.sky):
        if sky is not None:
            keep &= ~sky
    if confidence is not None and percentile > 0 and keep.any():
        conf = np.asarray(confidence, dtype=np.float32)
        finite = keep & np.isfinite(conf)
        if finite.any():
            keep = finite & (conf >= np.percentile(conf[finite], percentile))
    return keep


def fit_scale(relative: np.ndarray, metric: np.ndarray, tolerance: float) -> tuple[float, float, float]:
    """(scale, agreement, median relative error) for paired positive samples."""
    ratio = metric.astype(np.float64) / relative.astype(np.float64)
    scale = float(np.median(ratio))
    err = np.abs(scale * relative - metric) / metric
    return scale, float(np.mean(err <= tolerance)), float(np.median(err))


class MetricAlignmentBlock(WorkflowBlock):
    """See the module docstring; outputs depth (m), scale, agreement, median error, pixels used."""

    manifest_class = MetricAlignmentManifest

    def run(  # type: ignore[override]
        self,
        depth: list[Any],
        metric_depth: list[Any],
        confidence: list[Any] | None = None,
        min_confidence_percentile: float = 0.0,
        mode: str = "per_image",
        agreement_tolerance: float = 0.1,
        min_pixels: int = 100,
        **_: Any,
    ) -> list[dict[str, Any]]:
        if len(depth) != len(metric_depth):
            raise StepInputError(
                f"property 'metric_depth': {len(metric_depth)} metric depths for {len(depth)} depths"
            )
        confs = list(confidence) if confidence is not None else [None] * len(depth)
        rels = [_relative(v, i) for i, v in enumerate(depth)]
        mets = [_metric(v, i) for i, v in enumerate(metric_depth)]
        masks = []
        for i, (r, m, c) in enumerate(zip(rels, mets, confs)):
            if r.shape != m.shape:
                raise StepInputError(
                    f"property 'metric_depth' [index {i}]: size {m.shape} differs from the depth's {r.shape} "
                    "(both must come from the same image)"
                )
            if c is not None and np.shape(c) != r.shape:
                raise StepInputError(f"property 'confidence' [index {i}]: shape {np.shape(c)} differs from {r.shape}")
            masks.append(usable_pixels(r, m, c, min_confidence_percentile))
        groups = [list(range(len(rels)))] if mode == "batch" else [[i] for i in range(len(rels))]
        results: list[dict[str, Any] | None] = [None] * len(rels)
        for group in groups:
            rel_px = np.concatenate([rels[i].values[masks[i]] for i in group]) if group else np.empty(0)
            met_px = np.concatenate([mets[i].values[masks[i]] for i in group]) if group else np.empty(0)
            if rel_px.size < min_pixels:
                which = f"image {group[0]}" if len(group) == 1 else f"the batch of {len(group)} images"
                raise StepInputError(
                    f"{which}: only {rel_px.size} usable pixels (valid, finite, positive, not sky in both "
                    f"depths), fewer than min_pixels={min_pixels}"
                )
            scale, agreement, median_err = fit_scale(rel_px, met_px, agreement_tolerance)
            for i in group:
                r, m = rels[i], mets[i]
                source = f"aligned to {m.source or 'a metric depth'} (scale {scale:.4g})"
                aligned = r.replace(
                    values=r.values * np.float32(scale), unit="m", source=source,
                    sky=r.sky if r.sky is not None else m.sky,
                )  # fmt: skip
                results[i] = {
                    "depth": aligned,
                    "scale": scale,
                    "agreement": agreement,
                    "median_relative_error": median_err,
                    "pixels_used": int(masks[i].sum()) if len(group) == 1 else int(rel_px.size),
                }
        return results  # type: ignore[return-value]
