"""``depthgraph/depth_estimation@v1``: Depth Anything 3 over a batch of images.

The model is loaded lazily, on the first run, once per process per (variant, device), behind a
lock; torch is imported only then (never when this module is imported).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.blocks.depth_utils import colorize_depth, normalize_depth
from depthgraph.engine.values import DepthMap, WorkflowImageData
from depthgraph.manifests.depth_estimation import MODEL_VERSIONS, DepthEstimationManifest

#: Environment variable choosing the device ("cpu", "cuda", "cuda:1"...); unset means automatic.
DEVICE_ENV = "DEPTHGRAPH_DEVICE"

_MODEL_CACHE: dict[tuple[str, str], Any] = {}
_MODEL_LOCK = threading.Lock()


def get_model(model_version: str, device: str | None = None) -> Any:
    """The DA3 model for ``model_version`` on ``device``, loaded once per process and cached."""
    device = device or os.environ.get(DEVICE_ENV) or None
    key = (model_version, device or "auto")
    with _MODEL_LOCK:
        model = _MODEL_CACHE.get(key)
        if model is None:
            from depthgraph.models.depth_anything_v3 import AutoModel  # imports torch

            model = AutoModel.from_pretrained(model_version, device=device)
            _MODEL_CACHE[key] = model
        return model


def clear_model_cache() -> None:
    """Forget every loaded model (tests; freeing memory)."""
    with _MODEL_LOCK:
        _MODEL_CACHE.clear()


def loaded_models() -> list[tuple[str, str]]:
    """The (model_version, device) keys currently cached."""
    with _MODEL_LOCK:
        return list(_MODEL_CACHE)


def _check_images(images: Any) -> list[WorkflowImageData]:
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
        **_: Any,
    ) -> list[dict[str, Any]]:
        if model_version not in MODEL_VERSIONS:
            raise StepInputError(
                f"property 'model_version': expected one of {list(MODEL_VERSIONS)}, "
                f"got {model_version!r}"
            )
        batch = _check_images(images)
        if not batch:
            return []
        model = get_model(model_version)
        predictions = model.predict([image.numpy_image for image in batch])
        results: list[dict[str, Any]] = []
        for image, prediction in zip(batch, predictions):
            depth = DepthMap(values=prediction.depth, parent_id=image.parent_id)
            results.append(
                {
                    "image": image.derive(colorize_depth(depth.values, colormap), suffix="depth"),
                    "normalized_depth": normalize_depth(depth.values),
                    "depth": depth,
                    "confidence": np.asarray(prediction.confidence, dtype=np.float32),
                    "intrinsics": np.asarray(prediction.intrinsics, dtype=np.float32),
                }
            )
        return results
