"""Step progress events: ``on_step`` sees every step start and finish, in execution order."""

from __future__ import annotations

import pytest

from depthgraph.engine.errors import StepExecutionError
from depthgraph.engine.progress import StepEvent
from depthgraph.engine.workflow import Workflow
from engine_helpers import add_chain, definition, make_registry, output, param

REG = make_registry()


def test_each_step_reports_start_then_finish_in_order():
    events: list[StepEvent] = []
    workflow = Workflow.from_definition(add_chain(3), registry=REG)
    assert workflow.run(x=1, on_step=events.append) == [{"result": 4.0}]
    assert [(e.phase, e.step, e.index, e.total) for e in events] == [
        ("started", "add_0", 0, 3), ("finished", "add_0", 0, 3),
        ("started", "add_1", 1, 3), ("finished", "add_1", 1, 3),
        ("started", "add_2", 2, 3), ("finished", "add_2", 2, 3),
    ]
    assert {e.block_type for e in events} == {"test/add@v1"}
    assert all(e.seconds is None for e in events if e.phase == "started")
    assert all(e.seconds is not None and e.seconds >= 0 for e in events if e.phase == "finished")
    assert events[1].to_dict() == {"phase": "finished", "step": "add_0", "block_type": "test/add@v1",
                                   "index": 0, "total": 3, "seconds": events[1].seconds}
    assert events[0].describe() == "step 1/3 add_0 (test/add@v1) started"
    assert events[1].describe().startswith("step 1/3 add_0 (test/add@v1) finished in ")


def test_run_inputs_reports_too_and_no_callback_changes_nothing():
    events: list[StepEvent] = []
    workflow = Workflow.from_definition(add_chain(2), registry=REG)
    assert workflow.run_inputs({"x": 0}, on_step=events.append) == workflow.run_inputs({"x": 0})
    assert len(events) == 4


def test_a_failing_step_has_started_but_not_finished():
    d = definition([param("v", 1.5)], [{"type": "test/fail@v1", "name": "explode", "value": "$inputs.v"}],
                   [output("o", "$steps.explode.out")])
    events: list[StepEvent] = []
    with pytest.raises(StepExecutionError):
        Workflow.from_definition(d, registry=REG).run(on_step=events.append)
    assert [(e.phase, e.step) for e in events] == [("started", "explode")]
