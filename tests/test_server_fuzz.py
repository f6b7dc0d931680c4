"""Property-based fuzzing (hypothesis) of workflow definitions and request bodies (issue 9).

Whatever is generated, the server answers with a result or a 4xx error in the JSON error shape,
never a 500, never a hang, and never writes outside its output root; the Python API compiles or
raises a ``WorkflowError``. The budget is fixed (``max_examples``, derandomized) so CI time is
stable; set ``DEPTHGRAPH_FUZZ_EXAMPLES`` to run longer. Block properties are generated from each
manifest's JSON schema (inside, on and past its declared bounds; issue 19). Inputs that once found a bug are kept as
``@example``s and as the regular tests at the bottom.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cli_helpers import b64, gradient_image
from depthgraph.engine.errors import WorkflowError
from depthgraph.engine.workflow import Workflow
from hardening_helpers import ERROR_KEYS, client, registry

EXAMPLES = int(os.environ.get("DEPTHGRAPH_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

#: Blocks cheap enough to fuzz (no model to load, no sleeping).
BLOCKS = ["depthgraph/depth_colormap@v1", "depthgraph/depth_stabilizer@v1",
          "depthgraph/detections_depth@v1", "depthgraph/point_cloud_projection@v1",
          "depthgraph/point_cloud_export@v1", "depthgraph/bounding_box_visualization@v1",
          "depthgraph/label_visualization@v1", "test_cli/fake_depth@v1"]

SMALL_PNG = b64(gradient_image(12, 9))
#: Fields that take data from an input or a step (the others are settings with defaults).
DATA_FIELDS = {"image", "images", "depth", "point_cloud", "predictions", "intrinsics",
               "confidence", "video_metadata", "scene"}
NAMES = st.sampled_from(["image", "image2", "p", "q", "depth", "x", "", "1bad", "a.b", "$inputs"])

json_scalars = (st.none() | st.booleans() | st.integers(-10**12, 10**12)
                | st.floats(allow_nan=False, allow_infinity=False, width=32)
                | st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)

image_values = st.sampled_from([
    {"type": "base64", "value": SMALL_PNG}, SMALL_PNG, {"type": "base64", "value": "bm90IGFu"},
    {"type": "base64", "value": SMALL_PNG[: len(SMALL_PNG) // 2]}, {"type": "url", "value": "x"},
    {"type": "file", "value": "/etc/passwd"}, {"type": "numpy_object", "value": [1, 2]},
    "/etc/passwd", "", 0, None, [], [SMALL_PNG, SMALL_PNG], {"value": SMALL_PNG},
    {"type": "base64", "value": base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()},
]) | json_values


def _outputs_of(block_type: str) -> list[str]:
    entry = registry().get(block_type)
    return [o.name for o in entry.manifest_class.describe_outputs()] if entry else []


def _fields_of(block_type: str) -> list[str]:
    entry = registry().get(block_type)
    return [f for f in entry.manifest_class.model_fields if f not in ("type", "name")]


def _mostly(draw: Any, good: Any, bad: Any, odds: int = 8) -> Any:
    """``good`` most of the time (the run goes deep), ``bad`` one time in ``odds``."""
    return draw(bad) if draw(st.integers(0, odds - 1)) == odds - 1 else draw(good)


@st.composite
def workflows(draw: Any) -> dict[str, Any]:
    """Definitions that are mostly valid (so they run) and sometimes slightly wrong."""
    inputs = []
    for index in range(draw(st.integers(1, 3))):
        first = st.just("WorkflowImage") if index == 0 else st.sampled_from(
            ["WorkflowImage", "WorkflowParameter"])
        kind = _mostly(draw, first, st.sampled_from(["InferenceImage", "Nonsense",
                                                     "WorkflowVideoMetadata"]))
        item: dict[str, Any] = {"type": kind,
                                "name": _mostly(draw, st.just(f"in{index}"), NAMES)}
        if kind == "WorkflowParameter" and draw(st.booleans()):
            item["default_value"] = draw(json_values)
        inputs.append(item)
    images = [f"$inputs.{i['name']}" for i in inputs if i["type"] == "WorkflowImage"]
    params = [f"$inputs.{i['name']}" for i in inputs if i["type"] != "WorkflowImage"]
    produced: list[str] = []
    steps = []
    for index in range(draw(st.integers(1, 3))):
        block = draw(st.sampled_from(BLOCKS))
        name = _mostly(draw, st.just(f"s{index}"), st.sampled_from(["s0", "", "a b"]))
        step: dict[str, Any] = {"type": block, "name": name}
        for field in _fields_of(block):
            if field in DATA_FIELDS:  # wired to an input or an earlier step's output
                pool = images if field in ("image", "images") else produced + params + images
                if pool and draw(st.integers(0, 4)) < 4:
                    step[field] = draw(st.sampled_from(pool))
                elif draw(st.booleans()):
                    step[field] = draw(json_values)
            elif draw(st.integers(0, 3)) == 3:  # a setting: mostly its default, else anything
                step[field] = draw(schema_values(block, field) | json_values | st.sampled_from(
                    params + ["/etc", "../../x", "clouds", "~/x", "$steps.", "$inputs."]))
        steps.append(step)
        produced += [f"$steps.{name}.{o}" for o in _outputs_of(block)]
    selectors = images + params + produced + [f"$steps.{s['name']}.*" for s in steps]
    outputs = [{"type": _mostly(draw, st.just("JsonField"), st.just("Bogus")), "name": f"o{i}",
                "selector": draw(st.sampled_from(selectors or ["$steps.none.x"]))}
               for i in range(draw(st.integers(1, 3)))]
    definition: dict[str, Any] = {"version": _mostly(draw, st.just("1.0"),
                                                     st.sampled_from(["1.1", "9", None])),
                                  "inputs": inputs, "steps": steps, "outputs": outputs}
    if draw(st.integers(0, 9)) == 9:
        definition[draw(st.text(max_size=5))] = draw(json_values)
    return definition


SETTING_VALUES = json_values | st.sampled_from(
    ["turbo", "gray", "nope", "depth", "inverse_depth", "fixed", "smoothed", "per_frame", "opengl",
     "CLASS", "TRACK", -1, 0, 0.5, 1, 99, 1e9, "/etc", "../x", "clouds", "~/x", "a/b"])

def _schema_branch_values(branch: dict[str, Any]) -> Any:
    """Values around what one schema branch accepts: inside, on and just past its bounds."""
    if "enum" in branch:
        return st.sampled_from(branch["enum"]) | st.text(max_size=8)
    kind = branch.get("type")
    if kind in ("number", "integer"):
        low = branch.get("minimum", branch.get("exclusiveMinimum", -1e6))
        high = branch.get("maximum", branch.get("exclusiveMaximum", 1e6))
        edges = [low, high, low - 1, high + 1, (low + high) / 2, 0, -1, 1e308, -1e308]
        if kind == "integer":
            return (st.integers(int(low), int(high)) | st.sampled_from(
                [int(e) for e in edges if abs(e) < 1e18] + [2**63, -(2**63)]))
        return (st.floats(float(low), float(high), allow_nan=False)
                | st.sampled_from(edges + [5e-324]))  # NaN/inf: test_hardening_properties
    if kind == "string":
        longest = int(branch.get("maxLength", 64))
        return st.text(max_size=longest + 2) | st.sampled_from(
            ["{:>1500000000}", "{0.__class__}", "x" * (longest + 1), "../x", "/etc"])
    if kind == "boolean":
        return st.booleans()
    return json_values


def schema_values(block_type: str, field: str) -> Any:
    """Values for a block property, generated from its manifest's JSON schema (so a block or a
    property added later is fuzzed at its own bounds without being listed here)."""
    entry = registry().get(block_type)
    if entry is None:
        return json_values
    prop = entry.manifest_class.model_json_schema().get("properties", {}).get(field, {})
    branches = [b for b in prop.get("anyOf", [prop]) if not b.get("reference")]
    if not branches:
        return json_values
    return st.one_of(*[_schema_branch_values(b) for b in branches])


#: Known-good pipelines: (block, {data field: source}) in order; s0 is always fake_depth.
CHAINS = [
    [("depthgraph/depth_colormap@v1", {"depth": "$steps.s0.depth", "image": "$inputs.image"})],
    [("depthgraph/point_cloud_projection@v1", {"depth": "$steps.s0.depth", "image": "$inputs.image"}),
     ("depthgraph/point_cloud_export@v1", {"point_cloud": "$steps.s1.point_cloud"})],
    [("depthgraph/depth_stabilizer@v1", {"depth": "$steps.s0.depth", "image": "$inputs.image"})],
    [("depthgraph/detections_depth@v1", {"predictions": "$inputs.dets", "depth": "$steps.s0.depth"}),
     ("depthgraph/bounding_box_visualization@v1", {"image": "$inputs.image",
                                                   "predictions": "$steps.s1.predictions"}),
     ("depthgraph/label_visualization@v1", {"image": "$steps.s2.image",
                                            "predictions": "$steps.s1.predictions"})],
]


@st.composite
def chain_bodies(draw: Any) -> dict[str, Any]:
    """A valid pipeline whose settings are fuzzed, literally or through runtime parameters."""
    chain = draw(st.sampled_from(CHAINS))
    inputs: list[dict[str, Any]] = [{"type": "WorkflowImage", "name": "image"}]
    runtime: dict[str, Any] = {"image": _mostly(draw, st.just({"type": "base64", "value": SMALL_PNG}),
                                                image_values, 6)}
    if any("$inputs.dets" in fields.values() for _, fields in chain):
        inputs.append({"type": "WorkflowParameter", "name": "dets"})
        box = st.fixed_dictionaries({"x": st.floats(-50, 50), "y": st.floats(-50, 50),
                                     "width": st.floats(0, 40), "height": st.floats(0, 40),
                                     "class": st.text(max_size=4), "confidence": st.floats(0, 1)})
        runtime["dets"] = _mostly(draw, st.fixed_dictionaries(
            {"image": st.just({"width": 12, "height": 9}), "predictions": st.lists(box, max_size=3)}),
            json_values, 4)
    steps: list[dict[str, Any]] = [{"type": "test_cli/fake_depth@v1", "name": "s0",
                                    "image": "$inputs.image"}]
    for index, (block, fields) in enumerate(chain, start=1):
        step: dict[str, Any] = {"type": block, "name": f"s{index}", **fields}
        for field in _fields_of(block):
            if field in fields or draw(st.integers(0, 9)) < 9:
                continue
            if draw(st.booleans()):  # through a parameter: only checked when the step runs
                name = f"p{index}_{field}"
                inputs.append({"type": "WorkflowParameter", "name": name})
                step[field] = f"$inputs.{name}"
                runtime[name] = draw(schema_values(block, field) | SETTING_VALUES)
            else:
                step[field] = draw(schema_values(block, field) | SETTING_VALUES)
        steps.append(step)
    outputs = [{"type": "JsonField", "name": f"o{s['name']}", "selector": f"$steps.{s['name']}.*"}
               for s in steps if draw(st.booleans())] or [
        {"type": "JsonField", "name": "last", "selector": f"$steps.{steps[-1]['name']}.*"}]
    body: dict[str, Any] = {"specification": {"version": "1.0", "inputs": inputs, "steps": steps,
                                              "outputs": outputs}, "inputs": runtime}
    if draw(st.booleans()):
        body["array_format"] = draw(st.sampled_from(["base64", "png16", "list"]))
    if draw(st.booleans()):
        body["include_points"] = True
    return body


@st.composite
def run_bodies(draw: Any) -> dict[str, Any]:
    definition = draw(workflows())
    inputs: dict[str, Any] = {}
    for item in definition["inputs"]:
        if draw(st.integers(0, 6)) == 6:
            continue
        name = item.get("name", "x")
        if item.get("type") == "WorkflowImage":
            inputs[name] = _mostly(draw, st.just({"type": "base64", "value": SMALL_PNG}),
                                   image_values, 3)
        else:
            inputs[name] = draw(json_values)
    body: dict[str, Any] = {"specification": definition, "inputs": inputs}
    for key, good, bad in [
            ("excluded_fields", st.lists(st.sampled_from(["o0", "o1", "zz"]), max_size=2), json_values),
            ("include_points", st.booleans(), json_values),
            ("array_format", st.sampled_from(["base64", "png16", "list"]), json_values),
            ("api_key", st.text(max_size=5), json_values)]:
        if draw(st.integers(0, 3)) == 3:
            body[key] = _mostly(draw, good, bad)
    return body


def _assert_answer(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:800])
    data = response.json()
    if response.status_code >= 400:
        assert set(data) >= ERROR_KEYS, data
        assert "Traceback" not in data["message"]
    else:
        assert isinstance(data["outputs"], list)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    base = tmp_path_factory.mktemp("fuzz")
    root = base / "root"
    with client(allow_sinks=True, output_root=str(root), request_timeout_s=20,
                max_response_bytes=4_000_000) as c:
        yield base, c


def _outside_root(base: Path) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in base.rglob("*")
                  if not str(p.relative_to(base)).startswith("root"))


@FUZZ
@given(body=chain_bodies() | run_bodies())
@example(body={"specification": {"version": "1.0", "inputs": [{"type": "WorkflowParameter",
                                                                "name": "p"}],
                                 "steps": [{"type": "depthgraph/depth_colormap@v1", "name": "s0",
                                            "depth": "$inputs.p"}],
                                 "outputs": [{"type": "JsonField", "name": "o",
                                              "selector": "$steps.s0.image"}]},
               "inputs": {"p": [[1.0, 2.0], [3.0]]}})
def test_run_never_500_and_never_writes_outside(sandbox, body):
    base, c = sandbox
    cwd = Path.cwd()
    before = set(p.name for p in cwd.iterdir())
    _assert_answer(c.post("/workflows/run", json=body))
    assert _outside_root(base) == []
    assert set(p.name for p in cwd.iterdir()) == before


@FUZZ
@given(definition=workflows() | json_values)
def test_validate_never_500(sandbox, definition):
    _, c = sandbox
    response = c.post("/workflows/validate", json=definition)
    if response.status_code == 200:
        assert response.json() == {"status": "ok"}
    else:
        _assert_answer(response)


@FUZZ
@given(definition=workflows())
def test_python_api_compiles_or_raises_workflow_error(definition):
    try:
        Workflow.from_definition(definition, registry())
    except WorkflowError:
        pass


# --- seeds that found bugs, kept as regular tests -----------------------------------------------


def test_seed_ragged_list_as_depth_map_is_400(sandbox):
    _, c = sandbox
    body = {"specification": {"version": "1.0",
                              "inputs": [{"type": "WorkflowParameter", "name": "p"}],
                              "steps": [{"type": "depthgraph/point_cloud_projection@v1",
                                         "name": "s0", "depth": "$inputs.p"}],
                              "outputs": [{"type": "JsonField", "name": "o",
                                           "selector": "$steps.s0.point_cloud"}]},
            "inputs": {"p": [[1.0, 2.0], [3.0]]}}
    response = c.post("/workflows/run", json=body)
    assert response.status_code == 400, response.text


def test_seed_dict_as_colormap_through_a_parameter_is_400(sandbox):
    # found by the fuzzer: a dict given for 'colormap' raised TypeError (unhashable) -> 500
    _, c = sandbox
    spec = {"version": "1.0",
            "inputs": [{"type": "WorkflowImage", "name": "image"},
                       {"type": "WorkflowParameter", "name": "cm"},
                       {"type": "WorkflowParameter", "name": "low"}],
            "steps": [{"type": "test_cli/fake_depth@v1", "name": "s0", "image": "$inputs.image"},
                      {"type": "depthgraph/depth_colormap@v1", "name": "s1",
                       "depth": "$steps.s0.depth", "colormap": "$inputs.cm",
                       "percentile_low": "$inputs.low"}],
            "outputs": [{"type": "JsonField", "name": "o", "selector": "$steps.s1.*"}]}
    for cm, low in [({"a": None}, 2.0), (["turbo"], 2.0), ("turbo", {"x": 1}), ("turbo", [1])]:
        body = {"specification": spec, "inputs": {"image": SMALL_PNG, "cm": cm, "low": low}}
        response = c.post("/workflows/run", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["blocks_errors"][0]["step"] == "s1"
