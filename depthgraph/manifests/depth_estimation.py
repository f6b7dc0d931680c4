"""Manifest of ``depthgraph/depth_estimation@v1`` (alias ``roboflow_core/depth_estimation@v1``)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import AliasChoices, ConfigDict, Field

from depthgraph.engine.kinds import (
    CAMERA_INTRINSICS_KIND,
    DEPTH_MAP_KIND,
    FLOAT_KIND,
    IMAGE_KIND,
    NUMPY_ARRAY_KIND,
    STRING_KIND,
)
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector

#: Model versions the block knows (the DA3 variants this package implements).
MODEL_VERSIONS = (
    "depth-anything-v3/small",
    "depth-anything-v3/base",
    "depth-anything-v3/metric-large",
    "depth-anything-v3/mono-large",
)
#: The model versions that take several views of one scene (the LARGE checkpoints have no
#: cross-view attention and no camera: single images only).
SCENE_MODEL_VERSIONS = ("depth-anything-v3/small", "depth-anything-v3/base")
#: The model versions whose depth can be in metres (given a focal length).
METRIC_MODEL_VERSIONS = ("depth-anything-v3/metric-large",)
ModelVersion = Literal[
    "depth-anything-v3/small",
    "depth-anything-v3/base",
    "depth-anything-v3/metric-large",
    "depth-anything-v3/mono-large",
]
#: A horizontal field of view in degrees, bounded where declared.
FieldOfView = Annotated[float, Field(gt=0.0, lt=180.0)]
#: Colour maps the block's ``image`` output may use (OpenCV's, plus a grey ramp).
ColormapName = Literal["turbo", "inferno", "magma", "plasma", "viridis", "jet", "bone", "gray"]


class DepthEstimationManifest(BlockManifest):
    """Monocular depth with Depth Anything 3: a depth map, its confidence and the camera."""

    model_config = ConfigDict(
        json_schema_extra={
            "name": "Depth Estimation",
            "version": "v1",
            "short_description": "Depth Anything 3: depth map, confidence and camera intrinsics.",
            "long_description": (
                "Runs Depth Anything 3 on each image (whole batches at once, on CPU or GPU). "
                "Outputs the raw depth (larger = farther), a per-image normalised depth "
                "(1 = nearest, 0 = farthest, as Roboflow's block), the model's confidence, the "
                "estimated pinhole intrinsics at the image size and a colour-mapped picture. "
                "depth-anything-v3/metric-large gives depth in metres: its focal length comes "
                "from 'intrinsics' or 'fov' when given, else from DA3-SMALL's camera estimate "
                "(one extra small pass). metric-large and mono-large also output a sky mask and "
                "have no confidence (that output is None for them)."
            ),
            "license": "Apache-2.0",
            "block_type": "model",
            "ui_manifest": {"section": "model", "icon": "far fa-mountain"},
        }
    )

    type: Literal["depthgraph/depth_estimation@v1", "roboflow_core/depth_estimation@v1"]
    images: Selector(kind=[IMAGE_KIND]) = Field(  # type: ignore[valid-type]
        validation_alias=AliasChoices("images", "image"),
        description="The images to estimate depth for (alias: image).",
        examples=["$inputs.image"],
    )
    model_version: Union[  # type: ignore[valid-type]
        ModelVersion, Selector(kind=[STRING_KIND])
    ] = Field(
        default="depth-anything-v3/small",
        description=(
            "Which Depth Anything 3 variant to run: small/base (relative depth and a camera), "
            "metric-large (depth in metres) or mono-large (relative depth, single images)."
        ),
        examples=["depth-anything-v3/small", "depth-anything-v3/metric-large", "$inputs.model_version"],
    )
    fov: Union[Optional[FieldOfView], Selector(kind=[FLOAT_KIND])] = Field(  # type: ignore[valid-type]
        default=None,
        description=(
            "metric-large: the camera's horizontal field of view in degrees (gives the focal "
            "length that turns its output into metres). Ignored by the other models."
        ),
        examples=[60.0, "$inputs.fov"],
    )
    intrinsics: Optional[Selector(kind=[CAMERA_INTRINSICS_KIND])] = Field(  # type: ignore[valid-type]
        default=None,
        description="metric-large: the camera's 3x3 intrinsics in pixels of the input image (instead of fov).",
        examples=["$inputs.intrinsics"],
    )
    colormap: ColormapName = Field(
        default="turbo",
        description="Colour map of the 'image' output (near objects get the hot end).",
    )

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="image", kind=[IMAGE_KIND], description="Colour-mapped depth."),
            OutputDefinition(
                name="normalized_depth",
                kind=[NUMPY_ARRAY_KIND],
                description="float32 HxW per image: 1.0 = nearest, 0.0 = farthest.",
            ),
            OutputDefinition(
                name="depth", kind=[DEPTH_MAP_KIND],
                description="Raw DA3 depth, larger = farther; it carries its unit (metres for metric-large).",
            ),
            OutputDefinition(
                name="confidence", kind=[NUMPY_ARRAY_KIND], description="float32 HxW confidence."
            ),
            OutputDefinition(
                name="intrinsics",
                kind=[CAMERA_INTRINSICS_KIND],
                description="3x3 pinhole intrinsics at the input image size (for metric-large: the ones used).",
            ),
            OutputDefinition(
                name="sky", kind=[NUMPY_ARRAY_KIND],
                description="bool HxW sky mask (metric-large, mono-large); None for small/base.",
            ),
        ]

    @classmethod
    def batch_parameters(cls) -> list[str]:
        return ["images"]
