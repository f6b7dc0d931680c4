"""``depthgraph/depth_estimation@v1``: Depth Anything 3 over a batch of images.

The model comes from the model layer's cache (:func:`depthgraph.models.loading.get_model`), on
the device and backend ``DEPTHGRAPH_DEVICE`` / ``DEPTHGRAPH_BACKEND`` choose; torch is imported
only when it first loads (never when this module is imported).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.blocks.depth_utils import as_intrinsics, colorize_depth, normalize_depth
from depthgraph.engine.values import WorkflowImageData
from depthgraph.manifests.depth_estimation import (
    METRIC_MODEL_VERSIONS,
    MODEL_VERSIONS,
    DepthEstimationManifest,
)
from depthgraph.models.loading import get_model


def check_images(images: Any) -> list[WorkflowImageData]:
    """The ``images`` input as a list of images, or a StepInputError naming the bad element."""
    if isinstance(images, WorkflowImageData):
        images = [images]
    if not isinstance(images, (list, tuple)):
        raise StepInputError(
            f"property 'images': expected a list of images, got {type(images).__name__}"
        )
    for index, image in enumerate(images):
        if not isinstance(image, WorkflowImageData):
            raise StepInputError(
                f"property 'images' [index {index}]: expected an image, got {type(image).__name__}"
            )
    return list(images)


class DepthEstimationBlock(WorkflowBlock):
    """Runs DA3 on every image of the batch in one model call; see the manifest for outputs."""

    manifest_class = DepthEstimationManifest

    def run(  # type: ignore[override]
        self,
        images: Any,
        model_version: str = "depth-anything-v3/small",
        colormap: str = "turbo",
        fov: float | None = None,
        intrinsics: Any = None,
        **_: Any,
    ) -> list[dict[str, Any]]:
        if model_version not in MODEL_VERSIONS:
            raise StepInputError(
                f"property 'model_version': expected one of {list(MODEL_VERSIONS)}, "
                f"got {model_version!r}"
            )
        batch = check_images(images)
        if not batch:
            return []
        cameras = _camera_arguments(model_version, fov, intrinsics)
        model = get_model(model_version)
        try:
            predictions = model.predict([image.numpy_image for image in batch], **cameras)
        except ValueError as exc:  # a focal length that cannot be had, bad intrinsics
            raise StepInputError(f"model {model_version}: {exc}") from None
        results: list[dict[str, Any]] = []
        for image, prediction in zip(batch, predictions):
            depth = prediction.to_depth_map(parent_id=image.parent_id)
            results.append(
                {
                    "image": image.derive(colorize_depth(depth.values, colormap, sky=depth.sky), suffix="depth"),
                    "normalized_depth": normalize_depth(depth.values),
                    "depth": depth,
                    "confidence": _optional_array(prediction.confidence, np.float32),
                    "intrinsics": _optional_array(prediction.intrinsics, np.float32),
                    "sky": _optional_array(prediction.sky, bool),
                }
            )
        return results


def _optional_array(value: Any, dtype: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=dtype)


def _camera_arguments(model_version: str, fov: Any, intrinsics: Any) -> dict[str, Any]:
    """What the LARGE models take about the camera; small/base estimate their own (ignored)."""
    if model_version not in METRIC_MODEL_VERSIONS:
        return {}
    if fov is not None and intrinsics is not None:
        raise StepInputError("properties 'fov' and 'intrinsics': give one of them, not both")
    if intrinsics is not None:
        try:
            return {"intrinsics": as_intrinsics(intrinsics, "intrinsics")}
        except ValueError as exc:
            raise StepInputError(str(exc)) from None
    if fov is not None:
        if isinstance(fov, bool) or not isinstance(fov, (int, float)) or not 0 < float(fov) < 180:
            raise StepInputError(f"property 'fov': expected degrees in (0, 180), got {fov!r}")
        return {"fov": float(fov)}
    return {}
