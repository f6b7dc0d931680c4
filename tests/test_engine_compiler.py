"""Compiler stages and every compilation error: each names the right step and property."""

from __future__ import annotations

import json

import pytest

from depthgraph.engine.compiler import compile_workflow, validate_definition
from depthgraph.engine.errors import (
    CycleError,
    DefinitionParsingError,
    DuplicateNameError,
    InvalidSelectorError,
    KindMismatchError,
    ReferenceNotFoundError,
    UnknownBlockTypeError,
    WorkflowCompilationError,
)
from engine_helpers import add_chain, definition, image_input, make_registry, output, param

REG = make_registry()


def compile_(d):
    return compile_workflow(d, registry=REG)


def errors_of(d):
    return validate_definition(d, registry=REG)


def one_error(d, cls):
    with pytest.raises(cls) as info:
        compile_(d)
    return info.value


# --- loading and parsing -------------------------------------------------------------------------


def test_compiles_from_dict_json_string_and_path(tmp_path):
    d = add_chain(3)
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(d))
    for source in (d, json.dumps(d), str(path), path):
        compiled = compile_(source)
        assert [s.name for s in compiled.steps] == ["add_0", "add_1", "add_2"]
        assert compiled.generations == [["add_0"], ["add_1"], ["add_2"]]


def test_missing_file_and_bad_json_are_named(tmp_path):
    err = one_error(str(tmp_path / "nope.json"), DefinitionParsingError)
    assert "nope.json" in str(err) and "does not exist" in str(err)
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "1.0",\n "inputs": [}')
    err = one_error(bad, DefinitionParsingError)
    assert "bad.json" in str(err) and "line 2" in str(err)


def test_roboflow_aliases_for_inputs_and_coordinates_system():
    d = definition(
        [{"type": "InferenceImage", "name": "image"}, {"type": "InferenceParameter", "name": "x", "default_value": 2}],
        [{"type": "test/image_info@v1", "name": "info", "image": "$inputs.image"}],
        [{"type": "JsonField", "name": "w", "selector": "$steps.info.width", "coordinates_system": "parent"}],
    )
    compiled = compile_(d)
    assert compiled.image_inputs == ["image"] and list(compiled.parameters) == ["x"]
    # accepted for Roboflow definitions; depthgraph has no crops, so it changes nothing
    d["outputs"][0]["coordinates_system"] = "own"
    assert compile_(d).outputs[0] == compiled.outputs[0]


def test_block_alias_identifier_compiles():
    d = add_chain(1)
    d["steps"][0]["type"] = "legacy/add@v1"
    compiled = compile_(d)
    assert compiled.steps[0].identifier == "test/add@v1"
    assert compiled.steps[0].block_type == "legacy/add@v1"


def test_bad_input_type_and_unknown_top_level_key():
    d = add_chain(1)
    d["inputs"].append({"type": "WorkflowVideo", "name": "v"})
    d["stepz"] = []
    errs = errors_of(d)
    assert all(isinstance(e, DefinitionParsingError) for e in errs)
    props = {e.property for e in errs}
    assert props == {"inputs[1].type", "stepz"}
    assert any("WorkflowVideo" in str(e) and "WorkflowImage" in str(e) for e in errs)


def test_bad_input_name_is_located():
    d = add_chain(1)
    d["inputs"].append({"type": "WorkflowImage", "name": "bad name!"})
    err = one_error(d, DefinitionParsingError)
    assert err.property == "inputs[1].name" and "bad name!" in str(err)


def test_missing_required_property_names_step_and_property():
    d = definition([], [{"type": "test/image_info@v1", "name": "info"}], [])
    err = one_error(d, DefinitionParsingError)
    assert (err.step, err.property, err.block_type) == ("info", "image", "test/image_info@v1")
    assert "required" in str(err)


def test_wrong_literal_type_and_unknown_property_name_the_property():
    d = add_chain(1)
    d["steps"][0]["amount"] = "lots"
    d["steps"][0]["colour"] = "red"
    errs = errors_of(d)
    by_prop = {e.property: e for e in errs}
    assert set(by_prop) == {"amount", "colour"}
    assert all(e.step == "add_0" for e in errs)
    assert "accepts: value, amount" in str(by_prop["colour"])


def test_alias_property_named_as_written():
    base = definition(
        [param("d", kind=["object_detection_prediction"])],
        [{"type": "test/count@v1", "name": "c", "predictions": "$inputs.d"}],
        [],
    )
    ok = json.loads(json.dumps(base))
    ok["steps"][0]["minConfidence"] = 0.3
    assert compile_(ok).steps[0].constants["min_confidence"] == 0.3
    bad = json.loads(json.dumps(base))
    bad["steps"][0]["minConfidence"] = "high"
    assert one_error(bad, DefinitionParsingError).property == "minConfidence"
    bad_by_name = json.loads(json.dumps(base))
    bad_by_name["steps"][0]["min_confidence"] = "high"
    assert one_error(bad_by_name, DefinitionParsingError).property == "min_confidence"


def test_unknown_block_type_suggests_close_identifiers():
    d = add_chain(1)
    d["steps"][0]["type"] = "test/ad@v1"
    err = one_error(d, UnknownBlockTypeError)
    assert err.step == "add_0" and err.property == "type"
    assert "test/add@v1" in str(err)
    d["steps"][0]["type"] = "image_infoo@v1"  # namespace forgotten
    assert "test/image_info@v1" in str(one_error(d, UnknownBlockTypeError))


def test_step_without_name_or_type():
    d = definition([], [{"type": "test/const@v1"}, {"name": "x"}], [])
    errs = errors_of(d)
    assert [e.property for e in errs] == ["name", "type"]
    assert errs[1].step == "x"


# --- names -----------------------------------------------------------------------------------------


def test_duplicate_names_in_each_namespace():
    d = definition(
        [param("x", 1.0), param("x", 2.0)],
        [{"type": "test/const@v1", "name": "c"}, {"type": "test/const@v1", "name": "c"}],
        [output("o", "$steps.c.value"), output("o", "$inputs.x")],
    )
    errs = [e for e in errors_of(d) if isinstance(e, DuplicateNameError)]
    assert len(errs) == 3
    messages = " | ".join(str(e) for e in errs)
    assert "input name 'x'" in messages and "step name 'c'" in messages and "output name 'o'" in messages
    assert any(e.step == "c" for e in errs)


def test_input_and_step_may_share_a_name():
    d = definition([param("a", 1.0, kind=["float"])], [{"type": "test/add@v1", "name": "a", "value": "$inputs.a"}], [output("a", "$steps.a.result")])
    assert compile_(d).steps[0].name == "a"


# --- selectors and references -----------------------------------------------------------------


@pytest.mark.parametrize(
    "selector, fragment",
    [("$inputs.nope", "names no input"), ("$steps.ghost.result", "names no step"), ("$steps.add_0.nothing", "has no output 'nothing'")],
)
def test_unknown_references(selector, fragment):
    d = add_chain(2)
    d["steps"][1]["value"] = selector
    err = one_error(d, ReferenceNotFoundError)
    assert (err.step, err.property) == ("add_1", "value")
    assert fragment in str(err) and selector in str(err)


@pytest.mark.parametrize("selector", ["$inputs", "$steps.add_0", "$input.x", "$steps.add_0.result.extra"])
def test_malformed_selectors(selector):
    d = add_chain(2)
    d["steps"][1]["value"] = selector
    err = one_error(d, InvalidSelectorError)
    assert (err.step, err.property) == ("add_1", "value")
    assert selector in str(err)


def test_wildcard_selector_refused_inside_steps():
    d = add_chain(2)
    d["steps"][1]["value"] = "$steps.add_0.*"
    err = one_error(d, InvalidSelectorError)
    assert (err.step, err.property) == ("add_1", "value") and "outputs only" in str(err)


def test_selector_where_none_is_accepted():
    d = definition([image_input(), param("lbl", "x")], [{"type": "test/image_info@v1", "name": "info", "image": "$inputs.image", "label": "$inputs.lbl"}], [])
    err = one_error(d, InvalidSelectorError)
    assert (err.step, err.property) == ("info", "label") and "does not accept a selector" in str(err)


def test_selectors_inside_lists_are_checked():
    d = definition(
        [param("x", 1.0, kind=["float"])],
        [{"type": "test/sum@v1", "name": "s", "values": ["$inputs.x", 2.0, "$inputs.y"]}],
        [output("t", "$steps.s.total")],
    )
    err = one_error(d, ReferenceNotFoundError)
    assert (err.step, err.property) == ("s", "values") and "$inputs.y" in str(err)


def test_output_selector_errors_name_the_output():
    d = add_chain(1)
    d["outputs"] = [output("bad", "$steps.add_0"), output("missing", "$steps.nope.result"), output("wild_input", "$inputs.*")]
    errs = errors_of(d)
    assert [type(e) for e in errs] == [InvalidSelectorError, ReferenceNotFoundError, InvalidSelectorError]
    assert "'bad'" in str(errs[0]) and "'missing'" in str(errs[1]) and "'wild_input'" in str(errs[2])
    assert all(e.property == "selector" for e in errs)


# --- kinds -------------------------------------------------------------------------------------------


def test_kind_mismatch_lists_accepted_and_given_kinds():
    d = definition(
        [image_input()],
        [{"type": "test/add@v1", "name": "a", "value": "$inputs.image"}],
        [],
    )
    err = one_error(d, KindMismatchError)
    assert (err.step, err.property) == ("a", "value")
    assert "[float, integer]" in str(err) and "[image]" in str(err)


def test_kind_mismatch_between_steps():
    d = definition(
        [image_input()],
        [
            {"type": "test/image_info@v1", "name": "info", "image": "$inputs.image"},
            {"type": "test/add@v1", "name": "a", "value": "$steps.info.label"},
        ],
        [],
    )
    err = one_error(d, KindMismatchError)
    assert (err.step, err.property) == ("a", "value") and "[string]" in str(err)


def test_wildcard_kinds_match_anything():
    d = definition(
        [param("anything")],  # no kind declared: '*'
        [
            {"type": "test/add@v1", "name": "a", "value": "$inputs.anything"},
            {"type": "test/fail@v1", "name": "f", "value": "$steps.a.result"},  # accepts '*'
        ],
        [],
    )
    assert [s.name for s in compile_(d).steps] == ["a", "f"]


def test_parameter_kind_objects_are_accepted():
    d = add_chain(1)
    d["inputs"][0]["kind"] = [{"name": "float", "description": "a float"}]
    assert compile_(d).parameters["x"].kind_names == ["float"]


# --- cycles and order -------------------------------------------------------------------------


def test_cycle_lists_the_steps():
    d = add_chain(3)
    d["steps"][0]["value"] = "$steps.add_2.result"
    err = one_error(d, CycleError)
    # the loop in order, back to where it started, then every step on it
    assert err.raw_message.startswith("steps form a cycle: ")
    loop = err.raw_message.split(": ", 1)[1].split(" (")[0].split(" -> ")
    assert len(loop) == 4 and loop[0] == loop[-1] and sorted(loop[:3]) == ["add_0", "add_1", "add_2"]
    assert "(steps on it: add_0, add_1, add_2)" in str(err)
    assert err.step == "add_0"
    assert [(x.step, x.message) for x in err.details] == [(n, "on a cycle") for n in ("add_0", "add_1", "add_2")]


def test_self_reference_is_a_cycle():
    d = add_chain(1)
    d["steps"][0]["value"] = "$steps.add_0.result"
    err = one_error(d, CycleError)
    assert "steps form a cycle: add_0 -> add_0 (steps on it: add_0)" in str(err)
    assert err.step == "add_0"


def test_execution_order_is_topological_with_definition_order_inside_a_generation():
    d = definition(
        [param("x", 1.0, kind=["float"])],
        [
            {"type": "test/add@v1", "name": "late", "value": "$steps.b.result"},
            {"type": "test/add@v1", "name": "b", "value": "$inputs.x"},
            {"type": "test/add@v1", "name": "a", "value": "$inputs.x"},
        ],
        [],
    )
    compiled = compile_(d)
    assert compiled.generations == [["b", "a"], ["late"]]
    assert ("$steps.b", "$steps.late") in compiled.graph.edges


# --- validate_definition collects everything --------------------------------------------------


def test_validate_definition_returns_all_errors_and_compile_raises_first_with_details():
    d = definition(
        [image_input()],
        [
            {"type": "test/nope@v1", "name": "u"},
            {"type": "test/add@v1", "name": "a", "value": "$inputs.missing"},
            {"type": "test/add@v1", "name": "b", "value": "$inputs.image"},
        ],
        [output("o", "$steps.zzz.result")],
    )
    errs = errors_of(d)
    assert [type(e) for e in errs] == [UnknownBlockTypeError, ReferenceNotFoundError, KindMismatchError, ReferenceNotFoundError]
    assert [e.step for e in errs[:3]] == ["u", "a", "b"]
    with pytest.raises(WorkflowCompilationError) as info:
        compile_(d)
    assert isinstance(info.value, UnknownBlockTypeError)
    assert len(info.value.to_dict()["blocks_errors"]) == 4


def test_valid_definition_has_no_errors_and_references_to_unparsed_steps_do_not_cascade():
    assert errors_of(add_chain(4)) == []
    d = add_chain(2)
    d["steps"][0]["amount"] = "bad"
    errs = errors_of(d)
    assert len(errs) == 1 and errs[0].step == "add_0"


def test_non_object_definition_pieces():
    errs = errors_of({"version": 1, "inputs": {}, "steps": ["x"], "outputs": [3]})
    props = [e.property for e in errs]
    assert props == ["version", "inputs", "outputs[0]", "steps[0]"]


def test_alias_choices_keys_are_accepted_and_named_as_written():
    d = definition([image_input(), param("p", 1.0)], [{"type": "test/batch_mean@v1", "name": "bm", "image": "$inputs.image"}], [])
    assert compile_(d).steps[0].bindings[0].name == "images"
    d["steps"][0]["image"] = "$inputs.p"
    d["inputs"][1]["kind"] = ["string"]
    err = one_error(d, KindMismatchError)
    assert (err.step, err.property) == ("bm", "image")
    del d["steps"][0]["image"]
    assert one_error(d, DefinitionParsingError).property == "images"


def test_step_name_must_be_selectable():
    d = definition([], [{"type": "test/const@v1", "name": "my.step"}], [])
    err = one_error(d, DefinitionParsingError)
    assert (err.step, err.property) == ("my.step", "name") and "selectors" in str(err)
