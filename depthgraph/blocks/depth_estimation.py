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
from depthgraph.blocks.depth_utils import colorize_depth, normalize_depth
from depthgraph.engine.values import DepthMap, WorkflowImageData
from depthgraph.manifests.depth_estimation import MODEL_VERSIONS, DepthEstimationManifest
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
