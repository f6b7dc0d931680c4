"""``depthgraph/multiview_depth@v1``: all images of the batch as views of ONE scene.

The block is batch-aware: it receives every image of the run, runs Depth Anything 3 once on
all of them together (``model.predict_scene``) and returns per-view outputs plus one
:class:`SceneValue` shared by every element (the batch-level ``scene`` kind). torch is imported
only when the model loads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depthgraph.engine.block import WorkflowBlock
from depthgraph.blocks.depth_estimation import check_images
from depthgraph.blocks.depth_utils import colorize_depth
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import DepthMap
from depthgraph.manifests.depth_estimation import SCENE_MODEL_VERSIONS as MODEL_VERSIONS
from depthgraph.manifests.multiview import REFERENCE_STRATEGIES, MultiViewDepthManifest
from depthgraph.models.loading import get_model


class SceneValue:
    """The value of the ``scene`` kind: one model pass over all views of a scene.

    ``prediction`` is the model's ``ScenePrediction``; ``view_ids`` the parent ids of the input
    images, in view order.
    """

    def __init__(self, prediction: Any, view_ids: list[str], model_version: str) -> None:
        self.prediction = prediction
        self.view_ids = list(view_ids)
        self.model_version = model_version

    def __len__(self) -> int:
        return len(self.view_ids)

    def model_dump(self) -> dict[str, Any]:
        """A JSON-able summary (what a workflow output of kind ``scene`` serialises to)."""
        from depthgraph.models.depth_anything_v3.scene import pose_summary

        p = self.prediction
        return {
            "type": "scene",
            "model_version": self.model_version,
            "num_views": len(self.view_ids),
            "view_ids": self.view_ids,
            "reference_view": int(p.reference_view),
            "processed_size": list(p.processed_size),
            "intrinsics": [np.asarray(v.intrinsics).tolist() for v in p.views],
            "extrinsics": [np.asarray(v.extrinsics).tolist() for v in p.views],
            **pose_summary(p),
        }


def _reference(value: Any, count: int) -> Any:
    if isinstance(value, bool):
        raise StepInputError(f"property 'reference': expected a strategy or a view index, got {value!r}")
    if isinstance(value, (int, np.integer)):
        if not 0 <= int(value) < count:
            raise StepInputError(f"property 'reference': view index {int(value)} is out of range for {count} view(s)")
        return int(value)
    if value not in REFERENCE_STRATEGIES:
        raise StepInputError(
            f"property 'reference': expected one of {list(REFERENCE_STRATEGIES)} or a view index, got {value!r}"
        )
    return value


class MultiViewDepthBlock(WorkflowBlock):
    """One DA3 pass over the whole batch as one scene; see the manifest for outputs."""

    manifest_class = MultiViewDepthManifest

    def run(  # type: ignore[override]
        self,
        images: Any,
        model_version: str = "depth-anything-v3/small",
        reference: Any = "saddle_balanced",
        colormap: str = "turbo",
        extrinsics: Any = None,
        intrinsics: Any = None,
        align_to_input_scale: bool = True,
        units: Any = None,
        **_: Any,
    ) -> list[dict[str, Any]]:
        if model_version not in MODEL_VERSIONS:
            raise StepInputError(
                f"property 'model_version': expected one of {list(MODEL_VERSIONS)}, got {model_version!r}"
            )
        views = check_images(images)
        if not views:
            return []
        bgrs = [image.numpy_image for image in views]
        model = get_model(model_version, backend="torch")  # the exported graphs are one-view
        if extrinsics is None and intrinsics is None:
            if units is not None:
                raise StepInputError("property 'units': describes the extrinsics' translations; give 'extrinsics' and 'intrinsics' too")
            ref = _reference(reference, len(views))
            prediction = model.predict_scene(bgrs, reference=ref)
        else:
            prediction = _predict_with_cameras(
                model, bgrs, extrinsics, intrinsics, bool(align_to_input_scale), units
            )  # fmt: skip
        scene = SceneValue(prediction, [image.parent_id for image in views], model_version)
        results = []
        for s, (image, view) in enumerate(zip(views, prediction.views)):
            depth = DepthMap(values=view.depth, unit=prediction.unit, source=prediction.depth_source,
                             parent_id=image.parent_id)  # fmt: skip
            results.append({
                "image": image.derive(colorize_depth(depth.values, colormap), suffix="depth"),
                "depth": depth,
                "confidence": np.asarray(view.confidence, dtype=np.float32),
                "intrinsics": np.asarray(view.intrinsics, dtype=np.float32),
                "extrinsics": np.asarray(view.extrinsics, dtype=np.float32),
                "is_reference": s == prediction.reference_view,
                "scene": scene,
            })  # fmt: skip
        return results


def _predict_with_cameras(model: Any, bgrs: list, extrinsics: Any, intrinsics: Any, align: bool, units: Any) -> Any:
    """``predict_scene`` with known cameras; input mistakes become errors naming the property."""
    from depthgraph.models.depth_anything_v3.pose_input import CameraInputError, check_cameras

    try:
        check_cameras(extrinsics, intrinsics, len(bgrs))
    except CameraInputError as exc:
        text = str(exc)
        prop = "intrinsics" if text.startswith("intrinsics") else "extrinsics"
        raise StepInputError(f"property '{prop}': {text}") from None
    try:
        return model.predict_scene(bgrs, extrinsics, intrinsics, align_to_input_scale=align, units=units)
    except CameraInputError as exc:
        raise StepInputError(f"property 'extrinsics': {exc}") from None
    except ValueError as exc:
        if "units" in str(exc):
            raise StepInputError(f"property 'units': {exc}") from None
        raise
