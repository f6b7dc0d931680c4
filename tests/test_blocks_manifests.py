"""Block manifests: identifiers, aliases, kinds, and literal values rejected at validation."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from depthgraph.blocks import load_blocks
from depthgraph.manifests.cascade_detection import CascadeDetectionManifest
from depthgraph.manifests.colormap import DepthColormapManifest
from depthgraph.manifests.depth_estimation import DepthEstimationManifest
from depthgraph.manifests.point_cloud import PointCloudExportManifest, PointCloudProjectionManifest
from depthgraph.manifests.visualization import LabelVisualizationManifest


def test_every_block_is_listed_and_bound_to_its_manifest() -> None:
    identifiers = {block.identifier() for block in load_blocks()}
    assert identifiers == {
        "depthgraph/depth_estimation@v1",
        "depthgraph/depth_colormap@v1",
        "depthgraph/point_cloud_projection@v1",
        "depthgraph/point_cloud_export@v1",
        "depthgraph/detections_depth@v1",
        "depthgraph/opencv_cascade_detection@v1",
        "depthgraph/bounding_box_visualization@v1",
        "depthgraph/label_visualization@v1",
    }
    for block in load_blocks():
        manifest = block.manifest_class
        assert manifest.block_metadata()["block_type"] in {
            "model", "visualization", "sink", "transformation", "analytics", "detection"
        }
        assert manifest.output_names(), block
        manifest.model_json_schema()


def test_depth_estimation_contract() -> None:
    m = DepthEstimationManifest
    assert m.aliases() == ["roboflow_core/depth_estimation@v1"]
    assert m.batch_parameters() == ["images"]
    assert m.output_names() == ["image", "normalized_depth", "depth", "confidence", "intrinsics"]
    assert m.selector_kinds()["images"] == ["image"]
    parsed = m.model_validate(
        {"type": "roboflow_core/depth_estimation@v1", "name": "d", "image": "$inputs.image"}
    )
    assert parsed.images == "$inputs.image" and parsed.model_version == "depth-anything-v3/small"
    selected = m.model_validate(
        {"type": "depthgraph/depth_estimation@v1", "name": "d", "images": "$inputs.i", "model_version": "$inputs.v"}
    )
    assert selected.model_version == "$inputs.v"


def test_no_torch_when_listing_describing_and_validating_blocks() -> None:
    code = (
        "import sys\n"
        "from depthgraph.blocks import load_blocks\n"
        "for b in load_blocks():\n"
        "    b.manifest_class.model_json_schema()\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(
    "manifest, fields, bad_property",
    [
        (DepthEstimationManifest, {"images": "$inputs.image", "model_version": "depth-anything-v2/small"}, "model_version"),
        (DepthEstimationManifest, {"images": "$inputs.image", "colormap": "rainbow"}, "colormap"),
        (DepthEstimationManifest, {"images": "inputs.image"}, "images"),
        (DepthColormapManifest, {"depth": "$steps.d.depth", "colormap": "rainbow"}, "colormap"),
        (DepthColormapManifest, {"depth": "$steps.d.depth", "mode": "disparity"}, "mode"),
        (DepthColormapManifest, {"depth": "$steps.d.depth", "percentile_low": 99, "percentile_high": 1}, "percentile"),
        (DepthColormapManifest, {"depth": "$steps.d.depth", "alpha": 2.0}, "alpha"),
        (PointCloudProjectionManifest, {"depth": "$steps.d.depth", "fov_degrees": 0}, "fov_degrees"),
        (PointCloudProjectionManifest, {"depth": "$steps.d.depth", "stride": 0}, "stride"),
        (PointCloudProjectionManifest, {"depth": "$steps.d.depth", "max_points": 0}, "max_points"),
        (PointCloudProjectionManifest, {"depth": "$steps.d.depth", "coordinate_frame": "unity"}, "coordinate_frame"),
        (PointCloudProjectionManifest, {"depth": "$steps.d.depth", "min_confidence_percentile": 101}, "min_confidence_percentile"),
        (PointCloudProjectionManifest, {"depth": "$steps.d.depth", "fx": -1.0}, "fx"),
        (PointCloudExportManifest, {"point_cloud": "$steps.c.point_cloud", "file_prefix": "../up"}, "file_prefix"),
        (PointCloudExportManifest, {"point_cloud": "$steps.c.point_cloud", "file_prefix": "/etc/x"}, "file_prefix"),
        (PointCloudExportManifest, {"point_cloud": "$steps.c.point_cloud", "file_prefix": "a..b"}, "file_prefix"),
        (CascadeDetectionManifest, {"image": "$inputs.image", "cascade": "cat"}, "cascade"),
        (CascadeDetectionManifest, {"image": "$inputs.image", "scale_factor": 1.0}, "scale_factor"),
        (CascadeDetectionManifest, {"image": "$inputs.image", "min_size": 50, "max_size": 20}, "max_size"),
        (LabelVisualizationManifest, {"image": "$inputs.image", "predictions": "$steps.f.predictions", "data_format": "{:.2q}"}, "data_format"),
        (LabelVisualizationManifest, {"image": "$inputs.image", "predictions": "$steps.f.predictions", "text": "Depth!"}, "text"),
    ],
)
def test_bad_literals_fail_validation_naming_the_property(manifest, fields: dict, bad_property: str) -> None:
    payload = {"type": manifest.identifier(), "name": "step", **fields}
    with pytest.raises(ValidationError) as caught:
        manifest.model_validate(payload)
    assert bad_property in str(caught.value)
