"""``depthgraph/depth_colormap@v1``: a depth map as a colour picture, optionally over the photo."""

from __future__ import annotations

from typing import Any

from depthgraph.blocks.base import WorkflowBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.blocks.depth_utils import as_depth_map, blend_over, colorize_depth
from depthgraph.engine.values import WorkflowImageData
from depthgraph.manifests.colormap import DepthColormapManifest


class DepthColormapBlock(WorkflowBlock):
    """Colour-maps ``depth``; with ``image``, blends over it at the image's size."""

    manifest_class = DepthColormapManifest

    def run(  # type: ignore[override]
        self,
        depth: Any,
        colormap: str = "turbo",
        mode: str = "inverse_depth",
        percentile_low: float = 2.0,
        percentile_high: float = 98.0,
        image: WorkflowImageData | None = None,
        alpha: float = 0.6,
        **_: Any,
    ) -> dict[str, Any]:
        depth_map = as_depth_map(depth, "depth")
        picture = colorize_depth(depth_map, colormap, mode, (percentile_low, percentile_high))
        if image is None:
            return {"image": WorkflowImageData(numpy_image=picture)}
        if not isinstance(image, WorkflowImageData):
            raise StepInputError(f"property 'image': expected an image, got {type(image).__name__}")
        try:
            weight = float(alpha)
        except (TypeError, ValueError):
            raise StepInputError(
                f"property 'alpha': expected a number in [0, 1], got {alpha!r}"
            ) from None
        if not 0.0 <= weight <= 1.0:
            raise StepInputError(f"property 'alpha': expected a number in [0, 1], got {weight}")
        blended = blend_over(picture, image.numpy_image, weight)
        return {"image": image.derive(blended, suffix="depth-colormap")}
