"""describe() and the whole-definition JSON schema; no torch on the describe/validate paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from depthgraph.engine.describe import definition_schema, describe
from engine_helpers import add_chain, definition, image_input, make_registry, output, param

REG = make_registry()
REPO = Path(__file__).resolve().parents[1]


def test_describe_lists_blocks_with_schema_outputs_aliases_and_metadata():
    d = describe(REG)
    json.dumps(d)  # JSON-able
    blocks = {b["identifier"]: b for b in d["blocks"]}
    add = blocks["test/add@v1"]
    assert add["aliases"] == ["legacy/add@v1"]
    assert add["block_metadata"] == {"name": "Add", "block_type": "transformation"}
    assert add["human_friendly_block_name"] == "Add"
    assert add["outputs_manifest"] == [{"name": "result", "kind": [{"name": "float", "description": "A floating point number.", "docs": ""}], "description": ""}]
    value_schema = add["block_schema"]["properties"]["value"]["anyOf"][0]
    assert value_schema["reference"] is True and [k["name"] for k in value_schema["kind"]] == ["float", "integer"]
    assert blocks["test/batch_mean@v1"]["batch_parameters"] == ["images"]
    assert blocks["test/count@v1"]["input_kinds"] == {"predictions": ["object_detection_prediction"]}
    assert {k["name"] for k in d["kinds"]} >= {"image", "depth_map", "point_cloud", "*"}


def test_kinds_connections_list_accepting_properties():
    conns = describe(REG)["kinds_connections"]
    image_props = {(c["manifest_type_identifier"], c["property_name"]) for c in conns["image"]}
    assert ("test/image_info@v1", "image") in image_props and ("test/batch_mean@v1", "images") in image_props
    assert ("test/add@v1", "value") not in image_props
    assert ("test/fail@v1", "value") in image_props  # accepts '*': listed under every kind
    assert ("test/count@v1", "predictions") in {(c["manifest_type_identifier"], c["property_name"]) for c in conns["object_detection_prediction"]}


def _full_definition() -> dict:
    return definition(
        [image_input(), {"type": "InferenceParameter", "name": "s", "default_value": 2.0, "kind": ["float"]}],
        [
            {"type": "test/image_info@v1", "name": "info", "image": "$inputs.image", "label": "x"},
            {"type": "legacy/add@v1", "name": "a", "value": "$steps.info.mean", "amount": 3},
            {"type": "test/sum@v1", "name": "s", "values": ["$steps.a.result", 1.0]},
            {"type": "test/count@v1", "name": "c", "predictions": "$inputs.s", "minConfidence": 0.2},
            {"type": "test/batch_mean@v1", "name": "bm", "image": "$inputs.image"},
            {"type": "test/batch_mean@v1", "name": "bm2", "images": "$inputs.image"},
        ],
        [output("all", "$steps.info.*"), {"type": "JsonField", "name": "t", "selector": "$steps.s.total", "coordinates_system": "own"}],
    )


def test_definition_schema_validates_good_and_rejects_bad_definitions():
    jsonschema = pytest.importorskip("jsonschema")
    schema = definition_schema(REG)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for good in (_full_definition(), add_chain(5)):
        assert list(validator.iter_errors(good)) == []
    bad_cases = [
        {"steps": [{"type": "test/add@v1", "name": "a"}]},  # missing required 'value'
        {"steps": [{"type": "test/nope@v1", "name": "a"}]},  # unknown type
        {"steps": [{"type": "test/add@v1", "name": "a", "value": "$inputs"}]},  # malformed selector
        {"steps": [{"type": "test/add@v1", "name": "a", "value": 1, "colour": 2}]},  # unknown property
        {"inputs": [{"type": "WorkflowVideo", "name": "v"}]},
        {"outputs": [{"type": "JsonField", "name": "o"}]},  # no selector
        {"stepz": []},
        {"steps": [{"type": "test/batch_mean@v1", "name": "bm"}]},  # neither 'images' nor 'image'
    ]
    for bad in bad_cases:
        assert list(validator.iter_errors(bad)), bad


def test_describe_and_validate_do_not_import_torch_in_a_fresh_process():
    code = textwrap.dedent(
        """
        import json, sys
        import depthgraph
        from depthgraph.engine.describe import describe
        from depthgraph.engine.compiler import validate_definition, compile_workflow
        from depthgraph.engine.workflow import Workflow
        d = describe()
        schema_ok = "definition_schema" in d
        wf = json.load(open(sys.argv[1])) if len(sys.argv) > 1 else None
        errors = validate_definition(wf) if wf else []
        if wf:
            Workflow.from_definition(wf)
        print(json.dumps({"torch": "torch" in sys.modules, "blocks": len(d["blocks"]), "errors": [str(e) for e in errors], "schema": schema_ok}))
        """
    )
    examples = sorted((REPO / "examples" / "workflows").glob("*.json"))
    args = [str(examples[0])] if examples else []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DEPTHGRAPH_PLUGINS", None)
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["torch"] is False
    assert report["schema"] is True
    assert report["errors"] == []


def test_definition_schema_of_loaded_blocks_accepts_the_example_workflows():
    jsonschema = pytest.importorskip("jsonschema")
    examples = sorted((REPO / "examples" / "workflows").glob("*.json"))
    if not examples:
        pytest.skip("no example workflows")
    validator = jsonschema.Draft202012Validator(definition_schema())
    for path in examples:
        errors = [e.message for e in validator.iter_errors(json.loads(path.read_text()))]
        assert errors == [], path.name
