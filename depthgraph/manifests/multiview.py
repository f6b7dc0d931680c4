"""Manifests of the scene blocks: ``depthgraph/multiview_depth@v1`` and
``depthgraph/scene_point_cloud@v1``.

A scene is ALL images of one workflow run (the batch), taken as views of one scene. Its
``scene`` output has the batch-level kind ``scene``: the engine keeps one value for the whole
batch, and a step fed only batch-level values (like the point-cloud step) runs once.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import AliasChoices, ConfigDict, Field

from depthgraph.engine.kinds import (
    BOOLEAN_KIND,
    CAMERA_INTRINSICS_KIND,
    DEPTH_MAP_KIND,
    FLOAT_KIND,
    IMAGE_KIND,
    INTEGER_KIND,
    NUMPY_ARRAY_KIND,
    POINT_CLOUD_KIND,
    SCENE_KIND,
    STRING_KIND,
)
from depthgraph.engine.manifest import BlockManifest, Integer, Number, OutputDefinition, Selector
from depthgraph.manifests.depth_estimation import ColormapName

#: How the reference view (the one whose camera token defines the world frame) is chosen.
REFERENCE_STRATEGIES = ("saddle_balanced", "first", "middle", "saddle_sim_range")


class MultiViewDepthManifest(BlockManifest):
    """Depth Anything 3 on all images of the batch as views of ONE scene, in one pass."""

    model_config = ConfigDict(
        json_schema_extra={
            "name": "Multi-View Depth (scene)",
            "version": "v1",
            "short_description": "All images of the batch as views of one scene: depth and camera poses.",
            "long_description": (
                "Runs Depth Anything 3 once on every image of the batch together, as views of one "
                "scene: depth that agrees across views, each view's intrinsics and its pose "
                "(world-to-camera extrinsics) in one shared world frame. Per view: depth, "
                "confidence, intrinsics, extrinsics, a colour-mapped picture. Once per batch: the "
                "'scene' (for Scene Point Cloud). Views of different sizes are centre-cropped to "
                "a common network size; pixels outside the crop get no depth (NaN)."
            ),
            "license": "Apache-2.0",
            "block_type": "model",
            "ui_manifest": {"section": "model", "icon": "far fa-cubes"},
        }
    )

    type: Literal["depthgraph/multiview_depth@v1"]
    images: Selector(kind=[IMAGE_KIND]) = Field(  # type: ignore[valid-type]
        validation_alias=AliasChoices("images", "image"),
        description="The views of the scene: every image of the batch (alias: image).",
        examples=["$inputs.image"],
    )
    model_version: Union[  # type: ignore[valid-type]
        Literal["depth-anything-v3/small", "depth-anything-v3/base"], Selector(kind=[STRING_KIND])
    ] = Field(default="depth-anything-v3/small", description="Which Depth Anything 3 variant to run.")
    reference: Union[  # type: ignore[valid-type]
        Literal["saddle_balanced", "first", "middle", "saddle_sim_range"], Integer(ge=0, le=1024), Selector(kind=[STRING_KIND, INTEGER_KIND])
    ] = Field(
        default="saddle_balanced",
        description=(
            "Reference view: a strategy (chosen from the images when there are 3 or more views; "
            "otherwise view 0) or a view index."
        ),
    )
    colormap: ColormapName = Field(default="turbo", description="Colour map of the 'image' output.")
    extrinsics: Optional[Selector(kind=[NUMPY_ARRAY_KIND])] = Field(  # type: ignore[valid-type]
        default=None,
        description=(
            "Known cameras (optional, with intrinsics): one world-to-camera matrix per view, "
            "(S, 4, 4) or (S, 3, 4), OpenCV axes (x right, y down, z forward), in batch order. "
            "The network is conditioned on them and the scene comes back in their frame; "
            "view 0 defines the network's frame and 'reference' is ignored."
        ),
        examples=["$inputs.extrinsics"],
    )
    intrinsics: Optional[Selector(kind=[NUMPY_ARRAY_KIND, CAMERA_INTRINSICS_KIND])] = Field(  # type: ignore[valid-type]
        default=None,
        description="Known cameras (with extrinsics): (S, 3, 3) pinhole intrinsics in pixels of each input image.",
        examples=["$inputs.intrinsics"],
    )
    align_to_input_scale: bool = Field(
        default=True,
        description=(
            "With known cameras: return depth and cameras in the cameras' frame and unit (depth "
            "divided by the fitted scale). Off: the network's frame and unit."
        ),
    )
    units: Optional[Literal["m", "cm", "mm", "km", "ft", "in"]] = Field(
        default=None,
        description="What the extrinsics' translations are in, so the depth carries that unit (needs extrinsics).",
    )

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="image", kind=[IMAGE_KIND], description="Colour-mapped depth per view."),
            OutputDefinition(name="depth", kind=[DEPTH_MAP_KIND], description="Depth per view at its size (NaN outside the crop)."),
            OutputDefinition(name="confidence", kind=[NUMPY_ARRAY_KIND], description="float32 HxW confidence per view."),
            OutputDefinition(name="intrinsics", kind=[CAMERA_INTRINSICS_KIND], description="3x3 intrinsics at the view's size."),
            OutputDefinition(name="extrinsics", kind=[NUMPY_ARRAY_KIND], description="3x4 world-to-camera of the view."),
            OutputDefinition(name="is_reference", kind=[BOOLEAN_KIND], description="Whether this view is the reference view."),
            OutputDefinition(name="scene", kind=[SCENE_KIND], description="The whole scene (one value per batch)."),
        ]

    @classmethod
    def batch_parameters(cls) -> list[str]:
        return ["images"]


class ScenePointCloudManifest(BlockManifest):
    """Fuse the views of a scene into one coloured world-frame point cloud."""

    model_config = ConfigDict(
        json_schema_extra={
            "name": "Scene Point Cloud",
            "version": "v1",
            "short_description": "Fuse a scene's views into one coloured 3D point cloud.",
            "long_description": (
                "The official Depth Anything 3 fusion: pixels whose confidence reaches one "
                "threshold for all views (default: the 40th percentile, at least 1.05, at most "
                "the 90th) are lifted with each view's intrinsics and moved into the shared world "
                "frame with its pose. frame 'world' keeps the network's world frame (OpenCV axes); "
                "'display' is the official GLB frame (view 0's camera, y up, z backwards, "
                "median-centred). Runs once per scene; feed it to Point Cloud Export for a PLY."
            ),
            "license": "Apache-2.0",
            "block_type": "transformation",
            "ui_manifest": {"section": "transformation", "icon": "far fa-cube"},
        }
    )

    type: Literal["depthgraph/scene_point_cloud@v1"]
    scene: Selector(kind=[SCENE_KIND]) = Field(  # type: ignore[valid-type]
        description="The scene from Multi-View Depth.", examples=["$steps.scene.scene"]
    )
    conf_threshold: Optional[Union[Number(ge=0.0, le=1e6), Selector(kind=[FLOAT_KIND])]] = Field(  # type: ignore[valid-type]
        default=None, description="Keep pixels with confidence >= this (default: the official percentile rule)."
    )
    max_points: int = Field(default=1_000_000, ge=1, le=50_000_000, description="Cap on points (seeded random subset above it).")
    frame: Literal["world", "display"] = Field(default="world", description="Coordinate frame of the points.")

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="point_cloud", kind=[POINT_CLOUD_KIND], description="The fused cloud (one per scene)."),
            OutputDefinition(name="num_points", kind=[INTEGER_KIND], description="Its size."),
        ]
