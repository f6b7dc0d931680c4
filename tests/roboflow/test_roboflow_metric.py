"""``examples/workflows/face_distances_metric.json`` run by Roboflow's own ExecutionEngine through
the depthgraph plugin: the distances come out in metres and the depth keeps its unit.

As in ``tests/test_metric_example.py``, the depth block's model cache answers
``depth-anything-v3/metric-large`` with a tiny recipe network of the same structure (the 1.3 GB
network takes about a minute per photo on a CPU).
"""

from __future__ import annotations

from typing import Any

from roboflow_helpers import WORKFLOWS, load_definition, require_roboflow, roboflow_engine

require_roboflow()

import pytest  # noqa: E402
from blocks_helpers import load_example_image  # noqa: E402
from large_model_helpers import tiny_large  # noqa: E402

from depthgraph.models import loading as model_loading  # noqa: E402
from depthgraph.engine.workflow import Workflow  # noqa: E402

EXAMPLE = WORKFLOWS / "face_distances_metric.json"


@pytest.fixture
def metric_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPTHGRAPH_DEVICE", raising=False)
    monkeypatch.delenv("DEPTHGRAPH_BACKEND", raising=False)
    monkeypatch.setattr(model_loading, "_MODEL_CACHE", {("depth-anything-v3/metric-large", "auto"): tiny_large(True)})


def _unit(depth: Any) -> str:
    """The unit of a depth output as Roboflow's engine hands it out (value or serialised dict)."""
    return depth["unit"] if isinstance(depth, dict) else depth.unit


def test_metric_example_runs_in_roboflows_engine_with_metres(metric_large: None) -> None:
    photo = load_example_image("astronaut")
    engine = roboflow_engine(load_definition(EXAMPLE))
    [theirs] = engine.run(runtime_parameters={"image": [photo.copy()], "fov": 55.0})
    [ours] = Workflow.from_definition(EXAMPLE).run(image=photo, fov=55.0)
    assert _unit(theirs["depth"]) == "m"
    faces = theirs["predictions"]
    assert len(faces) == 1 and list(faces.data["depth_unit"]) == ["m"]
    assert theirs["depths"] == pytest.approx(ours["depths"], rel=1e-6)
