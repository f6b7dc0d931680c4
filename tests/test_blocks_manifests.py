"""Block manifests: identifiers, aliases, kinds, and literal values rejected at validation."""

from __future__ import annotations

import json
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
    assert {
        "depthgraph/depth_estimation@v1",
        "depthgraph/depth_colormap@v1",
        "depthgraph/point_cloud_projection@v1",
        "depthgraph/point_cloud_export@v1",
        "depthgraph/detections_depth@v1",
        "depthgraph/opencv_cascade_detection@v1",
        "depthgraph/bounding_box_visualization@v1",
        "depthgraph/label_visualization@v1",
    } <= identifiers
    assert all(i.startswith("depthgraph/") and i.endswith("@v1") for i in identifiers)
    for block in load_blocks():
        manifest = block.manifest_class
        assert manifest.block_metadata()["block_type"] in {
            "model", "visualization", "sink", "transformation", "analytics", "detection"
        }
        assert manifest.output_names(), block
        schema = manifest.model_json_schema()
        # the schema describes this block: its type, its step name, and every field it declares
        type_schema = schema["properties"]["type"]
        assert manifest.identifier() in type_schema.get("enum", [type_schema.get("const")])
        assert {"type", "name"} <= set(schema["required"])
        assert set(manifest.model_fields) <= set(schema["properties"]), block
        # selector fields carry their kinds, as Roboflow's schema does
        for field, kinds in manifest.selector_kinds().items():
            field_schema = json.dumps(schema["properties"][field])
            assert all(f'"name": "{kind}"' in field_schema for kind in kinds if kind != "*"), field


def test_depth_estimation_contract() -> None:
    m = DepthEstimationManifest
    assert m.aliases() == ["roboflow_core/depth_estimation@v1"]
    assert m.batch_parameters() == ["images"]
    assert m.output_names() == ["image", "normalized_depth", "depth", "confidence", "intrinsics", "sky"]
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
    # the error's location names the property (pydantic repeats the whole input in its message,
    # so a substring check of str(error) would pass for any property of the payload)
    # model-level checks (one property against another) have no location: their own message
    # (not the input dump) must name it
    errors = caught.value.errors()
    named = [bad_property in ".".join(str(p) for p in e["loc"]) or bad_property in e["msg"] for e in errors]
    assert errors and all(named), errors
    # and the same payload without the bad value is valid: the failure is about that property
    good = {k: v for k, v in payload.items() if bad_property not in k}
    if bad_property == "images":
        good["images"] = "$inputs.image"
    if bad_property == "percentile":
        good = {k: v for k, v in payload.items() if not k.startswith("percentile")}
    if bad_property == "max_size":
        good.pop("min_size", None)
    manifest.model_validate(good)
