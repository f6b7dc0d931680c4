"""Executor: batches, batch-aware and per-element blocks, parameters, outputs, block failures."""

from __future__ import annotations

import numpy as np
import pytest

from depthgraph.engine.errors import RuntimeInputError, StepExecutionError, WorkflowTimeoutError
from depthgraph.engine.values import WorkflowImageData
from depthgraph.engine.workflow import Workflow, run_workflow
from engine_helpers import (
    AddBlock,
    BatchMeanBlock,
    add_chain,
    definition,
    image,
    image_input,
    make_registry,
    output,
    param,
)

REG = make_registry()


def wf(d) -> Workflow:
    return Workflow.from_definition(d, registry=REG)


def image_workflow() -> dict:
    return definition(
        [image_input(), param("scale", 2.0, kind=["float"])],
        [
            {"type": "test/image_info@v1", "name": "info", "image": "$inputs.image", "label": "L"},
            {"type": "test/batch_mean@v1", "name": "bm", "images": "$inputs.image", "scale": "$inputs.scale"},
            {"type": "test/sum@v1", "name": "total", "values": ["$steps.info.mean", 1, "$steps.bm.mean"]},
        ],
        [
            output("info", "$steps.info.*"),
            output("bm", "$steps.bm.mean"),
            output("batch_size", "$steps.bm.batch_size"),
            output("total", "$steps.total.total"),
            output("image", "$inputs.image"),
            output("scale", "$inputs.scale"),
        ],
    )


def test_chain_runs_with_default_and_given_parameters():
    w = wf(add_chain(4))
    assert w.run() == [{"result": 4.0}]
    assert w.run(x=10) == [{"result": 14.0}]
    assert w.parameter_names == {"x": 0.0} and w.input_names == ["x"] and w.image_input_names == []
    assert w.output_kinds == {"result": ["float"]}


def test_batch_of_images_gives_one_dict_per_element_and_batch_block_is_called_once():
    BatchMeanBlock.calls.clear()
    w = wf(image_workflow())
    results = w.run(image=[image(10), image(20), image(30)], scale=3.0)
    assert len(results) == 3
    assert BatchMeanBlock.calls == [3]
    assert [r["bm"] for r in results] == [30.0, 60.0, 90.0]
    assert [r["batch_size"] for r in results] == [3, 3, 3]
    assert [r["total"] for r in results] == [10 + 1 + 30.0, 20 + 1 + 60.0, 30 + 1 + 90.0]
    assert results[1]["info"] == {"width": 6, "mean": 20.0, "label": "L"}
    assert all(r["scale"] == 3.0 for r in results)
    assert isinstance(results[2]["image"], WorkflowImageData)
    assert int(results[2]["image"].numpy_image[0, 0, 0]) == 30


def test_single_image_is_a_batch_of_one_and_default_parameter_applies():
    results = wf(image_workflow()).run(image=image(7))
    assert len(results) == 1 and results[0]["bm"] == 14.0 and results[0]["scale"] == 2.0


def test_per_element_block_called_once_per_element():
    d = definition(
        [image_input()],
        [{"type": "test/image_info@v1", "name": "info", "image": "$inputs.image"},
         {"type": "test/add@v1", "name": "a", "value": "$steps.info.mean"}],
        [output("r", "$steps.a.result")],
    )
    w = wf(d)
    before = AddBlock.calls
    assert [r["r"] for r in w.run(image=[image(1), image(2)])] == [2.0, 3.0]
    assert AddBlock.calls - before == 2


def test_batch_block_falls_back_to_per_element_when_a_scalar_field_varies():
    BatchMeanBlock.calls.clear()
    d = definition(
        [image_input()],
        [{"type": "test/image_info@v1", "name": "info", "image": "$inputs.image"},
         {"type": "test/batch_mean@v1", "name": "bm", "images": "$inputs.image", "scale": "$steps.info.mean"}],
        [output("bm", "$steps.bm.mean"), output("n", "$steps.bm.batch_size")],
    )
    results = wf(d).run(image=[image(2), image(3)])
    assert BatchMeanBlock.calls == [1, 1]
    assert [r["bm"] for r in results] == [4.0, 9.0] and [r["n"] for r in results] == [1, 1]


def test_two_image_inputs_single_one_broadcasts_and_sizes_must_agree():
    d = definition(
        [image_input("a"), image_input("b")],
        [{"type": "test/image_info@v1", "name": "ia", "image": "$inputs.a"},
         {"type": "test/image_info@v1", "name": "ib", "image": "$inputs.b"}],
        [output("a", "$steps.ia.mean"), output("b", "$steps.ib.mean")],
    )
    w = wf(d)
    assert w.run(a=[image(1), image(2)], b=image(9)) == [{"a": 1.0, "b": 9.0}, {"a": 2.0, "b": 9.0}]
    with pytest.raises(RuntimeInputError, match="same number of images"):
        w.run(a=[image(1), image(2)], b=[image(1), image(2), image(3)])


def test_compiled_workflow_runs_many_times_with_different_inputs():
    w = wf(image_workflow())
    for v in (5, 50, 100):
        assert w.run(image=image(v), scale=1.0)[0]["bm"] == float(v)


def test_run_workflow_and_run_inputs():
    assert run_workflow(add_chain(2), {"x": 1}, registry=REG) == [{"result": 3.0}]
    assert wf(add_chain(2)).run_inputs({"x": 5}) == [{"result": 7.0}]


def test_parameter_without_default_must_be_given():
    d = add_chain(1)
    del d["inputs"][0]["default_value"]
    w = wf(d)
    assert w.required_parameter_names == ["x"]
    with pytest.raises(RuntimeInputError, match="input 'x'.*missing parameter"):
        w.run()
    assert w.run(x=1.0) == [{"result": 2.0}]


def test_explicit_null_default_is_a_default():
    d = add_chain(1)
    d["inputs"][0]["default_value"] = None
    d["steps"][0]["value"] = 3.0
    assert wf(d).run() == [{"result": 4.0}]


def test_unknown_and_missing_inputs_are_named():
    w = wf(image_workflow())
    with pytest.raises(RuntimeInputError, match="input 'colour': unknown input"):
        w.run(image=image(), colour=1)
    with pytest.raises(RuntimeInputError, match="input 'image': missing image input"):
        w.run()
    with pytest.raises(RuntimeInputError, match=r"input 'image\[1\]'"):
        w.run(image=[image(), "/no/such/file.png"])


def test_wildcard_output_gives_all_declared_outputs():
    results = wf(image_workflow()).run(image=image(4))
    assert set(results[0]["info"]) == {"width", "mean", "label"}


def test_block_exception_becomes_step_execution_error_with_cause():
    d = definition([param("v", 1.5)], [{"type": "test/fail@v1", "name": "explode", "value": "$inputs.v"}], [output("o", "$steps.explode.out")])
    with pytest.raises(StepExecutionError) as info:
        wf(d).run()
    err = info.value
    assert (err.step, err.block_type) == ("explode", "test/fail@v1")
    assert "ValueError: boom on 1.5" in str(err)
    assert isinstance(err.__cause__, ValueError)
    assert err.to_dict()["blocks_errors"][0]["step"] == "explode"
    assert wf(add_chain(1)).run(x=1) == [{"result": 2.0}]  # the process carries on


@pytest.mark.parametrize(
    "mode, fragment",
    [
        ("not_dict", "the block returned int for element 0; expected a dict of outputs (a, b)"),
        ("missing", "the block's result for element 0 lacks declared output(s) b (it gave: a)"),
        ("short_list", "returned 1 result(s) for a batch of 2"),
    ],
)
def test_bad_block_results_are_reported(mode, fragment):
    d = definition([image_input()], [{"type": "test/bad_return@v1", "name": "bad", "mode": mode, "image": "$inputs.image"}], [output("a", "$steps.bad.a")])
    with pytest.raises(StepExecutionError) as info:
        wf(d).run(image=[image(), image()])
    assert info.value.step == "bad" and fragment in str(info.value)
    assert info.value.block_type == "test/bad_return@v1"  # the error names the block too


def test_detection_parameter_decoded_from_inference_json_single_and_per_image():
    d = definition(
        [image_input(), param("dets", kind=["object_detection_prediction"])],
        [{"type": "test/count@v1", "name": "c", "predictions": "$inputs.dets", "minConfidence": 0.5}],
        [output("count", "$steps.c.count"), output("classes", "$steps.c.classes")],
    )
    pred = lambda cls, conf: {"x": 10, "y": 10, "width": 4, "height": 4, "confidence": conf, "class": cls, "class_id": 0}  # noqa: E731
    one = {"image": {"width": 20, "height": 20}, "predictions": [pred("cat", 0.9), pred("dog", 0.2), pred("cat", 0.7)]}
    w = wf(d)
    shared = w.run(image=[image(), image()], dets=one)
    assert [r["count"] for r in shared] == [2, 2] and shared[0]["classes"] == {"cat": 2}
    two = [one, {"predictions": [pred("dog", 0.99)]}]
    per_image = w.run(image=[image(), image()], dets=two)
    assert [r["classes"] for r in per_image] == [{"cat": 2}, {"dog": 1}]
    with pytest.raises(RuntimeInputError, match="input 'dets': 2 prediction sets for a batch of 3"):
        w.run(image=[image(), image(), image()], dets=two)
    with pytest.raises(RuntimeInputError, match=r"predictions\[0\] has no 'width'"):
        w.run(image=image(), dets={"predictions": [{"x": 1, "y": 2, "height": 3}]})


def test_blocks_see_read_only_images():
    d = definition([image_input()], [{"type": "test/image_info@v1", "name": "i", "image": "$inputs.image"}], [output("img", "$inputs.image")])
    array = image(3)
    result = wf(d).run(image=array)[0]["img"]
    assert not result.numpy_image.flags.writeable
    assert array.flags.writeable  # the caller's array is not frozen


def test_no_image_workflow_with_constant_block():
    d = definition([], [{"type": "test/const@v1", "name": "c", "value": 2.5}], [output("v", "$steps.c.value")])
    assert wf(d).run() == [{"v": 2.5}]


def test_timeout_is_checked_between_steps():
    with pytest.raises(WorkflowTimeoutError, match="stopped before step 'add_0'"):
        wf(add_chain(3)).run_inputs({"x": 1}, timeout=-1)


def test_block_instances_are_created_once_and_reused():
    w = wf(add_chain(2))
    w.run(x=1)
    first = [s.instance for s in w.compiled.steps]
    w.run(x=2)
    assert [s.instance for s in w.compiled.steps] == first and all(first)


def test_images_accept_several_forms_in_one_batch(tmp_path):
    import cv2

    path = tmp_path / "img.png"
    cv2.imwrite(str(path), image(40))
    gray = np.full((4, 6), 50, np.uint8)
    d = definition([image_input()], [{"type": "test/image_info@v1", "name": "i", "image": "$inputs.image"}], [output("m", "$steps.i.mean")])
    results = wf(d).run(image=[str(path), path.read_bytes(), gray])
    assert [r["m"] for r in results] == [40.0, 40.0, 50.0]


def test_numpy_4d_array_and_tuple_are_batches():
    d = definition([image_input()], [{"type": "test/image_info@v1", "name": "i", "image": "$inputs.image"}], [output("m", "$steps.i.mean")])
    w = wf(d)
    stack = np.stack([image(1), image(2), image(3)])
    assert [r["m"] for r in w.run(image=stack)] == [1.0, 2.0, 3.0]
    assert [r["m"] for r in w.run(image=(image(4), image(5)))] == [4.0, 5.0]
    with pytest.raises(RuntimeInputError, match="input 'image': an empty list"):
        w.run(image=[])


def test_concurrent_runs_share_one_block_instance():
    from concurrent.futures import ThreadPoolExecutor

    w = wf(add_chain(3))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda x: w.run(x=x)[0]["result"], range(20)))
    assert results == [x + 3.0 for x in range(20)]
    assert len({id(s.instance) for s in w.compiled.steps}) == 3
