"""Every property a client sets is bounded where it is declared (issue 19, items 1, 2, 13).

The tests walk the block registry, so a block added later is covered without being listed here:

- every number and string a client can set has a bound in the manifest's JSON schema;
- every property, given extreme values (0, negative, tiny and huge floats, NaN and infinities,
  huge integers, long and format-bomb strings), literally and (where it takes a selector) as a
  runtime parameter, gets a result or a 4xx naming the step and the property, within a time and
  memory bound, through the real server app.

Blocks whose inputs can all be wired from an image, a stand-in depth step and detections are run;
the others (those needing a scene, or a Depth Anything network: ``model_version``) are validated
only, so the walk stays fast.
"""

from __future__ import annotations

import json
import math
import resource
import time
from typing import Any

import pytest

from cli_helpers import b64, gradient_image
from depthgraph.engine.registry import get_registry
from depthgraph.engine.manifest import unbounded_properties
from hardening_helpers import client, registry

STEP = "probe"
#: Values a hostile client tries on every property.
EXTREMES: list[Any] = [
    0, -1, 1e-320, -1e-320, 1e308, -1e308, 2**63, -(2**63), 10**30, math.nan, math.inf, -math.inf,
    True, "", "x" * 100_000, "{:>1500000000}", "{:9e9}", "%s" * 1000, "{0.__class__.__mro__}",
    "../../x", [0] * 1000, {"a": 1},
]
#: Where a block's data inputs come from, by kind (a stand-in depth step, the image, detections).
SOURCES = {
    "image": "$inputs.image",
    "video_metadata": "$inputs.image",
    "depth_map": "$steps.fake.depth",
    "numpy_array": "$steps.fake.depth",
    "point_cloud": "$steps.fake.cloud",
    "float": "$steps.fake.mean",
}
DETECTION_KINDS = {"object_detection_prediction", "instance_segmentation_prediction"}
DETECTIONS = {"image": {"width": 40, "height": 30},
              "predictions": [{"x": 20, "y": 15, "width": 10, "height": 8, "class": "a",
                               "confidence": 0.9}]}
TIME_PER_REQUEST_S = 10.0
MEMORY_GROWTH_MB = 400


def _manifests() -> list[Any]:
    return [entry.manifest_class for entry in get_registry().blocks.values()]


def _ids(manifests: list[Any]) -> list[str]:
    return [m.identifier() for m in manifests]


MANIFESTS = _manifests()


@pytest.mark.parametrize("manifest", MANIFESTS, ids=_ids(MANIFESTS))
def test_every_number_and_string_is_bounded_in_the_schema(manifest: Any) -> None:
    assert unbounded_properties(manifest) == [], (
        f"{manifest.identifier()}: bound these where they are declared (Number/Integer/Text or "
        f"Field(ge=, le=, max_length=))"
    )


def test_the_bound_check_sees_an_unbounded_property() -> None:
    from typing import Literal

    from pydantic import Field

    from depthgraph.engine.manifest import BlockManifest

    class Loose(BlockManifest):
        type: Literal["probe/loose@v1"]
        size: int = Field(default=1, ge=1)
        label: str = "x"
        ok: float = Field(default=1.0, ge=0.0, le=2.0)

    assert unbounded_properties(Loose) == ["size (integer)", "label (string)"]


def _wiring(manifest: Any) -> tuple[dict[str, str], bool]:
    """Selectors for the block's data fields, and whether the block can be run cheaply.

    A block that loads a network (``model_version``) or needs a data kind no cheap step gives
    (a scene, a metric depth) is validated only; its required data fields are then wired to a
    parameter.
    """
    runnable = "model_version" not in manifest.model_fields and "metric_depth" not in manifest.model_fields
    kinds = manifest.selector_kinds()
    wired: dict[str, str] = {}
    for field, info in manifest.model_fields.items():
        if field in ("type", "name") or field not in kinds:
            continue
        if DETECTION_KINDS & set(kinds[field]):
            source = "$inputs.dets"
        else:
            source = next((SOURCES[k] for k in kinds[field] if k in SOURCES), None)
        if source is not None and (info.is_required() or field in ("image", "depth")):
            wired[field] = source
        elif info.is_required():
            runnable = False
            wired[field] = "$inputs.p"
    return wired, runnable


def _workflow(manifest: Any, wired: dict[str, str], field: str, value: Any) -> dict[str, Any]:
    step = {"type": manifest.identifier(), "name": STEP, **wired, field: value}
    steps = [{"type": "test_cli/fake_depth@v1", "name": "fake", "image": "$inputs.image"}, step]
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"},
                   {"type": "WorkflowParameter", "name": "dets",
                    "kind": ["object_detection_prediction"]},
                   {"type": "WorkflowParameter", "name": "p", "default_value": 0}],
        "steps": steps,
        "outputs": [{"type": "JsonField", "name": "out", "selector": f"$steps.{STEP}.*"}],
    }


def _cases() -> list[tuple[Any, str]]:
    cases = []
    for manifest in MANIFESTS:
        for field in manifest.input_fields():
            cases.append((manifest, field))
    return cases


CASES = _cases()


def _post(app: Any, path: str, body: Any) -> Any:
    # NaN/infinity as the JSON extensions Python writes (the server must not choke on them either)
    return app.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def _check(response: Any, field: str, elapsed: float, what: str) -> None:
    assert elapsed < TIME_PER_REQUEST_S, f"{what}: {elapsed:.1f} s"
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        data = response.json()
        errors = data.get("blocks_errors") or []
        # the property itself, or a cross-property check that names it (low below high)
        named = [e for e in errors if e.get("step") == STEP
                 and (e.get("property") == field or f"{field} " in e.get("message", ""))]
        if not named:  # a body the JSON parser refuses (e.g. NaN) is not the step's business
            assert data.get("error_type") in ("InvalidJSON", "RequestValidationError",
                                              "InvalidRequestBody"), (what, data)
    elif response.status_code == 200 and "/run" in what:
        json.dumps(response.json())  # the answer is plain JSON


@pytest.mark.parametrize("manifest,field", CASES,
                         ids=[f"{m.identifier()}:{f}" for m, f in CASES])
def test_extreme_values_get_a_result_or_a_4xx_naming_step_and_property(
        manifest: Any, field: str, tmp_path: Any) -> None:
    registry()  # the test blocks (fake depth) are registered beside the built-in ones
    app = client(max_total_pixels=4_000_000, allow_sinks=True, output_root=str(tmp_path))
    wired, runnable = _wiring(manifest)
    image = {"type": "base64", "value": b64(gradient_image(40, 30))}
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    selectable = field in manifest.selector_kinds()
    for value in EXTREMES:
        spec = _workflow(manifest, wired, field, value)
        start = time.monotonic()
        if not runnable:
            response = _post(app, "/workflows/validate", spec)
            what = f"validate {field}={str(value)[:40]}"
        else:
            body = {"specification": spec, "inputs": {"image": image, "dets": DETECTIONS}}
            response = _post(app, "/workflows/run", body)
            what = f"run {field}={str(value)[:40]}"
        _check(response, field, time.monotonic() - start, what)
        if selectable and runnable and not isinstance(value, (list, dict)):
            spec = _workflow(manifest, wired, field, "$inputs.p")
            body = {"specification": spec,
                    "inputs": {"image": image, "dets": DETECTIONS, "p": value}}
            start = time.monotonic()
            response = _post(app, "/workflows/run", body)
            _check(response, field, time.monotonic() - start, f"run {field}=$inputs.p={value!s:.40}")
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - peak_before
    assert grown < MEMORY_GROWTH_MB, f"{manifest.identifier()}.{field}: peak memory +{grown} MB"


def test_a_format_bomb_is_refused_without_being_tried() -> None:
    from depthgraph.manifests.visualization import check_number_format

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for bomb in ["{:>1500000000}", "{:.900000000f}", "{:{}}", "{0.real}", "{!r:>99}"]:
        with pytest.raises(ValueError):
            check_number_format(bomb)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 50_000
    assert check_number_format("{:.1f} m").format(2.25) == "2.2 m"


def test_a_failed_cascade_run_does_not_break_the_next() -> None:
    from depthgraph.blocks import cascade_detection

    broken_calls = []

    def broken(*args: Any) -> Any:
        broken_calls.append(args)
        raise RuntimeError("cv2.error: Failed to allocate 13.7 GB")

    cascade_detection._DETECTORS["eyes"] = broken
    app = client()
    spec = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": [{"type": "depthgraph/opencv_cascade_detection@v1", "name": "c",
                       "image": "$inputs.image", "cascade": "eyes"}],
            "outputs": [{"type": "JsonField", "name": "p", "selector": "$steps.c.predictions"}]}
    image = {"type": "base64", "value": b64(gradient_image(64, 48))}
    first = app.post("/workflows/run", json={"specification": spec, "inputs": {"image": image}})
    assert first.status_code == 500 and broken_calls
    second = app.post("/workflows/run", json={"specification": spec, "inputs": {"image": image}})
    assert second.status_code == 200, second.text[:300]
    assert len(broken_calls) == 1


def test_docs_blocks_md_lists_the_bounds_the_manifests_declare() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "tools" / "block_bounds.py"
    spec = importlib.util.spec_from_file_location("block_bounds", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    assert "| `depthgraph/label_visualization@v1` | `data_format` |" in module.bounds_table()
    assert module.main(["--check"]) == 0, "run: python tools/block_bounds.py --write"


def test_a_cascade_pyramid_of_thousands_of_levels_is_refused() -> None:
    """Item 2: scale_factor 1.00003 with min_size 8 tried to allocate 13.7 GB."""
    spec = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": [{"type": "depthgraph/opencv_cascade_detection@v1", "name": "c",
                       "image": "$inputs.image", "scale_factor": 1.00003, "min_size": 8}],
            "outputs": [{"type": "JsonField", "name": "p", "selector": "$steps.c.predictions"}]}
    response = client().post("/workflows/validate", json=spec)
    assert response.status_code == 400
    assert [(e["step"], e["property"]) for e in response.json()["blocks_errors"]] == [
        ("c", "scale_factor")]
