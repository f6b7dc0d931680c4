"""Edge cases found by mutation testing (docs/testing.md): each test pins a behaviour that a
surviving mutant of the core modules changed without any other test noticing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from depthgraph.blocks.depth_utils import _scaled_for_display, normalize_depth
from depthgraph.blocks.detections_depth import central_box_region
from depthgraph.engine.serialization import INLINE_ARRAY_VALUES, array_from_json, serialize_value

# --- depth display and normalisation ---------------------------------------------------------


def test_inverse_depth_display_skips_non_positive_and_infinite_pixels():
    depth = np.array([[1.0, 2.0, 4.0], [0.0, -1.0, np.inf], [np.nan, 8.0, 8.0]])
    out = _scaled_for_display(depth, "inverse_depth", (0.0, 100.0))
    inverse = 1.0 / np.array([1.0, 2.0, 4.0, 8.0, 8.0])  # only finite, positive depths count
    low, high = inverse.min(), inverse.max()
    expected = np.zeros((3, 3))
    expected[0] = (inverse[:3] - low) / (high - low)
    expected[2, 1:] = 0.0  # the farthest pixels: the cold end
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_depth_display_scales_between_percentiles_and_clips():
    depth = np.arange(1.0, 102.0).reshape(1, -1)  # 1..101
    out = _scaled_for_display(depth, "depth", (10.0, 90.0))  # percentiles 11 and 91
    assert out[0, 0] == 0.0 and out[0, -1] == 1.0  # clipped at both ends
    np.testing.assert_allclose(out[0, 10:91], (depth[0, 10:91] - 11.0) / 80.0)


def test_constant_maps_display_and_normalise_to_zeros_without_warnings():
    constant = np.full((4, 5), 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 0 / 0 would warn
        for mode in ("depth", "inverse_depth"):
            assert not _scaled_for_display(constant, mode, (2.0, 98.0)).any()
        assert not normalize_depth(constant).any()


def test_normalize_depth_is_near_one_far_zero_and_skips_non_finite():
    depth = np.array([[2.0, 4.0], [np.nan, 6.0]])
    np.testing.assert_array_equal(normalize_depth(depth), [[1.0, 0.5], [0.0, 0.0]])


# --- box regions -----------------------------------------------------------------------------


def test_central_box_region_clips_at_the_image_border():
    # a box centred on the top-left corner: its central half starts above and left of the image
    assert central_box_region(np.array([-10.0, -10.0, 10.0, 10.0]), 100, 120) == (0, 5, 0, 5)
    # ... and one centred on the bottom-right corner ends past it
    assert central_box_region(np.array([110.0, 90.0, 130.0, 110.0]), 100, 120) == (95, 100, 115, 120)


# --- arrays in JSON --------------------------------------------------------------------------


def test_arrays_up_to_the_inline_size_stay_lists_in_every_format():
    small = np.arange(INLINE_ARRAY_VALUES, dtype=np.float32).reshape(8, -1)
    for array_format in ("list", "base64", "png16"):
        assert serialize_value(small, array_format=array_format) == small.tolist()


def test_larger_numeric_arrays_are_compact_unless_lists_are_asked_for():
    large = np.linspace(0.0, 1.0, INLINE_ARRAY_VALUES + 1, dtype=np.float32).reshape(1, -1)
    packed = serialize_value(large, array_format="base64")
    assert isinstance(packed, dict) and packed["type"] == "numpy_array"
    np.testing.assert_array_equal(array_from_json(packed), large)
    assert serialize_value(large, array_format="list") == large.tolist()
    counts = np.arange(INLINE_ARRAY_VALUES + 1, dtype=np.int64)
    np.testing.assert_array_equal(array_from_json(serialize_value(counts, array_format="base64")), counts)


def test_non_numeric_arrays_are_lists_whatever_the_format():
    names = np.array([f"obj{i}" for i in range(INLINE_ARRAY_VALUES + 6)])
    for array_format in ("list", "base64"):
        assert serialize_value(names, array_format=array_format) == names.tolist()


def test_non_finite_floats_become_null_only_in_float_arrays():
    assert serialize_value(np.array([1.5, np.nan, -np.inf])) == [1.5, None, None]
    assert serialize_value(np.array([[1, 2], [3, 4]], np.int32)) == [[1, 2], [3, 4]]
    assert serialize_value(np.array([True, False])) == [True, False]


@pytest.mark.parametrize("bad", ["yaml", "LIST"])
def test_unknown_array_formats_are_refused_for_large_arrays(bad):
    with pytest.raises(ValueError, match="array_format"):
        serialize_value(np.zeros(INLINE_ARRAY_VALUES + 1), array_format=bad)


# --- edge mask -------------------------------------------------------------------------------


def _edge_mask_by_hand(depth: np.ndarray, threshold: float) -> np.ndarray:
    """The documented rule, pixel by pixel: a finite pixel is an edge when some finite
    4-neighbour inside the image differs by more than ``threshold`` times its own depth."""
    h, w = depth.shape
    out = np.zeros((h, w), bool)
    for r in range(h):
        for c in range(w):
            d = depth[r, c]
            if not np.isfinite(d):
                continue
            jumps = [abs(d - depth[rr, cc]) for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
                     if 0 <= rr < h and 0 <= cc < w and np.isfinite(depth[rr, cc])]
            out[r, c] = max(jumps, default=0.0) / max(abs(d), 1e-12) > threshold
    return out


@pytest.mark.parametrize("seed", range(4))
def test_edge_mask_matches_the_rule_with_holes_and_small_depths(seed):
    from depthgraph.blocks.point_cloud import edge_mask

    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.05, 0.8, (9, 11))  # below 1 m: the relative jump must use the depth itself
    depth[rng.random((9, 11)) < 0.15] = np.nan
    depth[rng.random((9, 11)) < 0.05] = np.inf
    for threshold in (0.05, 0.3, 1.0):
        np.testing.assert_array_equal(edge_mask(depth, threshold), _edge_mask_by_hand(depth, threshold))


def test_edge_mask_direction_and_exact_threshold():
    from depthgraph.blocks.point_cloud import edge_mask

    for axis, flip in ((0, False), (0, True), (1, False), (1, True)):
        depth = np.ones((3, 3))
        index = [1, 1]
        index[axis] = 2 if flip else 0  # one neighbour, in one direction, 1.5 m away
        depth[tuple(index)] = 1.5
        assert edge_mask(depth, 0.49)[1, 1], (axis, flip)
        assert not edge_mask(depth, 0.5)[1, 1], (axis, flip)  # a jump of exactly 0.5 is not "more"


# --- base64 or path --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length, expected",
    [(15, False), (16, True), (17, False), (18, True), (19, True), (20, True), (21, False)],
)
def test_what_looks_like_base64(length, expected):
    from depthgraph.engine.serialization import _is_probably_base64

    assert _is_probably_base64(("Ab9+" * 6)[:length]) is expected  # base64 lengths: 4k, 4k+2, 4k+3
    assert not _is_probably_base64("ab.c" * 5)  # a dot: a file name, not base64


# --- back-projection shapes ------------------------------------------------------------------


def test_back_project_accepts_pixel_grids():
    from depthgraph.geometry import back_project

    K = np.array([[50.0, 0.0, 2.0], [0.0, 80.0, 1.0], [0.0, 0.0, 1.0]])
    v, u = np.mgrid[0:3, 0:4]
    depth = np.arange(1.0, 13.0).reshape(3, 4)
    points = back_project(u, v, depth, K)
    assert points.shape == (12, 3)
    np.testing.assert_allclose(points[5], [(1 - 2) * 6.0 / 50, (1 - 1) * 6.0 / 80, 6.0])


# --- batch-level kinds and dynamic outputs (engine) ------------------------------------------

from typing import Any, Literal  # noqa: E402

from depthgraph.engine.block import WorkflowBlock  # noqa: E402
from depthgraph.engine.errors import WorkflowCompilationError  # noqa: E402
from depthgraph.engine.kinds import FLOAT_KIND, IMAGE_KIND, SCENE_KIND  # noqa: E402
from depthgraph.engine.registry import load_registry  # noqa: E402
from depthgraph.engine.workflow import Workflow  # noqa: E402
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector  # noqa: E402


class _SceneManifest(BlockManifest):
    type: Literal["kill/scene@v1"]
    images: Selector([IMAGE_KIND])

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="scene", kind=[SCENE_KIND])]

    @classmethod
    def batch_parameters(cls) -> list[str]:
        return ["images"]


class _SceneBlock(WorkflowBlock):
    """Batch-aware: one scene (the batch size) for the whole batch."""

    manifest_class = _SceneManifest

    def run(self, images: list) -> list[dict[str, Any]]:
        scene = {"views": len(images)}  # one value, shared by every element
        return [{"scene": scene} for _ in images]


class _ReadManifest(BlockManifest):
    type: Literal["kill/read@v1"]
    scene: Selector()
    factor: Selector([FLOAT_KIND]) | float = 1.0
    image: Selector([IMAGE_KIND]) | None = None

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="value", kind=[FLOAT_KIND]), OutputDefinition(name="twice", kind=[FLOAT_KIND])]


class _ReadBlock(WorkflowBlock):
    """Per element; counts its calls; also returns a key it does not declare."""

    manifest_class = _ReadManifest
    calls: list[int] = []

    def run(self, scene: Any, factor: float, image: Any = None) -> dict[str, Any]:
        type(self).calls.append(1)
        value = scene["views"] * factor
        return {"value": value, "twice": 2 * value, "undeclared": "internal"}


class _SinkManifest(BlockManifest):
    type: Literal["kill/sink@v1"]
    value: Selector()

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return []


class _SinkBlock(WorkflowBlock):
    manifest_class = _SinkManifest

    def run(self, value: Any) -> dict[str, Any]:
        return {}


class _PerImageSceneManifest(BlockManifest):
    type: Literal["kill/per_image_scene@v1"]
    image: Selector([IMAGE_KIND])

    def get_actual_outputs(self) -> list[OutputDefinition]:  # outputs decided per step
        return [OutputDefinition(name="scene", kind=[SCENE_KIND])]


class _PerImageSceneBlock(WorkflowBlock):
    manifest_class = _PerImageSceneManifest

    def run(self, image: Any) -> dict[str, Any]:
        return {"scene": {"views": 1}}


def _registry():
    return load_registry(builtins=False, entry_points=False, env=False,
                         blocks=[_SceneBlock, _ReadBlock, _PerImageSceneBlock, _SinkBlock])


def _scene_workflow(read_factor: Any = 2.0, inputs_extra: list | None = None) -> dict:
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}, *(inputs_extra or [])],
        "steps": [
            {"type": "kill/scene@v1", "name": "scene", "images": "$inputs.image"},
            {"type": "kill/read@v1", "name": "read", "scene": "$steps.scene.scene", "factor": read_factor},
        ],
        "outputs": [{"type": "JsonField", "name": "value", "selector": "$steps.read.value"}],
    }


def test_a_step_fed_only_batch_level_values_runs_once_for_the_batch():
    images = [np.zeros((4, 4, 3), np.uint8)] * 3
    _ReadBlock.calls.clear()
    workflow = Workflow.from_definition(_scene_workflow(), registry=_registry())
    assert workflow.run(image=images) == [{"value": 6.0}] * 3
    assert len(_ReadBlock.calls) == 1  # once, shared by the three elements
    # a runtime parameter is batch-level too: still once
    _ReadBlock.calls.clear()
    with_param = _scene_workflow("$inputs.k", [{"type": "WorkflowParameter", "name": "k", "default_value": 0.5}])
    assert Workflow.from_definition(with_param, registry=_registry()).run(image=images) == [{"value": 1.5}] * 3
    assert len(_ReadBlock.calls) == 1


def test_steps_fed_by_a_run_once_step_run_once_too():
    images = [np.zeros((4, 4, 3), np.uint8)] * 2
    definition = _scene_workflow()
    definition["steps"].append({"type": "kill/read@v1", "name": "mixed", "scene": "$steps.scene.scene",
                                "factor": "$steps.read.value"})
    definition["outputs"].append({"type": "JsonField", "name": "mixed", "selector": "$steps.mixed.value"})
    _ReadBlock.calls.clear()
    out = Workflow.from_definition(definition, registry=_registry()).run(image=images)
    assert out == [{"value": 4.0, "mixed": 8.0}] * 2
    assert len(_ReadBlock.calls) == 2  # read once; mixed reads only batch-level values (a run-once
    # step's outputs are batch-level): once
    compiled = Workflow.from_definition(definition, registry=_registry())
    assert compiled.run(image=images[:1]) == [{"value": 2.0, "mixed": 2.0}]


def test_batch_level_outputs_need_a_batch_aware_block_even_when_declared_per_step():
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [{"type": "kill/per_image_scene@v1", "name": "bad", "image": "$inputs.image"}],
        "outputs": [{"type": "JsonField", "name": "scene", "selector": "$steps.bad.scene"}],
    }
    with pytest.raises(WorkflowCompilationError) as info:
        Workflow.from_definition(definition, registry=_registry())
    assert "outputs scene have a batch-level kind" in str(info.value)
    assert info.value.step == "bad" and info.value.block_type == "kill/per_image_scene@v1"


def test_outputs_declared_per_step_give_their_kinds():
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {"type": "kill/per_image_scene@v1", "name": "dyn", "image": "$inputs.image"},
            {"type": "kill/read@v1", "name": "read", "scene": "$steps.dyn.nothing"},
        ],
        "outputs": [],
    }
    with pytest.raises(WorkflowCompilationError) as info:
        Workflow.from_definition(definition, registry=_registry())
    assert "step 'dyn' has no output 'nothing' (its outputs: scene)" in str(info.value)


@pytest.mark.parametrize(
    "selector, message",
    [
        ("$inputs.nope", "'$inputs.nope' names no input (inputs: image)"),
        ("$steps.ghost.scene", "'$steps.ghost.scene' names no step (steps: read, scene)"),
        ("$steps.scene.nope", "'$steps.scene.nope': step 'scene' has no output 'nope' (its outputs: scene)"),
    ],
)
def test_selectors_that_point_at_nothing_list_what_exists(selector, message):
    definition = _scene_workflow()
    definition["steps"][1]["scene"] = selector
    with pytest.raises(WorkflowCompilationError) as info:
        Workflow.from_definition(definition, registry=_registry())
    assert message in str(info.value)


def test_selector_messages_say_none_when_nothing_exists():
    definition = {
        "version": "1.0",
        "inputs": [],
        "steps": [{"type": "kill/read@v1", "name": "read", "scene": "$inputs.nope"}],
        "outputs": [],
    }
    with pytest.raises(WorkflowCompilationError) as info:
        Workflow.from_definition(definition, registry=_registry())
    assert "names no input (inputs: none)" in str(info.value)


# --- pixel rules and network sizes -----------------------------------------------------------


def test_float_images_above_one_are_taken_as_0_to_255():
    from depthgraph.image_decoding import to_bgr_uint8

    # max 2.0 > 1: already 0..255 values, not a [0, 1] image to stretch
    np.testing.assert_array_equal(to_bgr_uint8(np.array([[0.0, 1.5, 2.0]]))[0, :, 0], [0, 2, 2])
    np.testing.assert_array_equal(to_bgr_uint8(np.array([[0.0, 0.5, 1.0]]))[0, :, 0], [0, 128, 255])


def test_nearest_multiple_defaults_to_the_patch_size_14():
    from depthgraph.models.depth_anything_v3.preprocess import nearest_multiple

    assert [nearest_multiple(x) for x in (1, 7, 20, 21, 28, 35)] == [14, 14, 14, 28, 28, 42]
    assert nearest_multiple(39, 16) == 32 and nearest_multiple(40, 16) == 48  # ties go up


def test_resize_for_network_honours_the_patch_size():
    from depthgraph.models.depth_anything_v3.preprocess import resize_for_network

    rgb = np.random.default_rng(0).integers(0, 256, (90, 130, 3), dtype=np.uint8)
    assert resize_for_network(rgb, process_res=100, patch=16).shape == (64, 96, 3)


def test_a_side_that_only_shrinks_to_the_patch_grid_uses_area_resampling():
    import cv2

    from depthgraph.models.depth_anything_v3.preprocess import resize_for_network

    # longest side already 504 (no first resize), height already a multiple of 14, width 285 -> 280
    rgb = np.random.default_rng(1).integers(0, 256, (504, 285, 3), dtype=np.uint8)
    out = resize_for_network(rgb)
    np.testing.assert_array_equal(out, cv2.resize(rgb, (280, 504), interpolation=cv2.INTER_AREA))


def test_selector_messages_list_every_name():
    from depthgraph.engine.compiler import validate_definition

    definition = _scene_workflow(inputs_extra=[{"type": "WorkflowParameter", "name": "k", "default_value": 1.0}])
    definition["steps"] += [
        {"type": "kill/sink@v1", "name": "sink", "value": "$steps.scene.scene"},
        {"type": "kill/sink@v1", "name": "bad_output", "value": "$steps.read.nope"},
        {"type": "kill/read@v1", "name": "from_sink", "scene": "$steps.sink.nope"},
        {"type": "kill/read@v1", "name": "bad_input", "scene": "$inputs.nope"},
    ]
    text = " | ".join(e.raw_message for e in validate_definition(definition, registry=_registry()))
    assert "step 'read' has no output 'nope' (its outputs: value, twice)" in text
    assert "step 'sink' has no output 'nope' (its outputs: none)" in text
    assert "names no input (inputs: image, k)" in text


def test_outputs_naming_a_step_when_there_are_no_steps_say_none():
    definition = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}], "steps": [],
                  "outputs": [{"type": "JsonField", "name": "x", "selector": "$steps.ghost.value"}]}
    with pytest.raises(WorkflowCompilationError) as info:
        Workflow.from_definition(definition, registry=_registry())
    assert "names no step (steps: none)" in str(info.value)


def test_wildcard_outputs_give_declared_outputs_only_as_a_dictionary(tmp_path):
    import cv2

    definition = _scene_workflow()
    definition["outputs"] = [{"type": "JsonField", "name": "all", "selector": "$steps.read.*"}]
    workflow = Workflow.from_definition(definition, registry=_registry())
    assert workflow.output_kinds == {"all": ["dictionary"]}
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.zeros((4, 4, 3), np.uint8))
    # an image given as a path (no ndim): one element
    assert workflow.run(image=str(path)) == [{"all": {"value": 2.0, "twice": 4.0}}]


def test_a_step_that_also_reads_a_per_element_input_runs_per_element():
    images = [np.zeros((4, 4, 3), np.uint8)] * 3
    definition = _scene_workflow()
    definition["steps"][1]["image"] = "$inputs.image"
    _ReadBlock.calls.clear()
    assert Workflow.from_definition(definition, registry=_registry()).run(image=images) == [{"value": 6.0}] * 3
    assert len(_ReadBlock.calls) == 3


def test_each_cycle_error_shows_its_own_loop():
    from depthgraph.engine.compiler import validate_definition

    steps = [
        {"type": "kill/read@v1", "name": "a1", "scene": "$steps.a2.value"},
        {"type": "kill/read@v1", "name": "a2", "scene": "$steps.a1.value"},
        {"type": "kill/read@v1", "name": "b1", "scene": "$steps.b2.value"},
        {"type": "kill/read@v1", "name": "b2", "scene": "$steps.b1.value"},
    ]
    errors = validate_definition({"version": "1.0", "inputs": [], "steps": steps, "outputs": []},
                                 registry=_registry())
    loops = sorted(e.raw_message.split(": ", 1)[1].split(" (")[0] for e in errors)
    assert len(loops) == 2
    assert set(loops[0].split(" -> ")) == {"a1", "a2"} and set(loops[1].split(" -> ")) == {"b1", "b2"}


def test_a_degenerate_box_reads_exactly_its_own_pixel():
    assert central_box_region(np.array([50.0, 40.0, 50.0, 40.0]), 100, 120) == (40, 41, 50, 51)


def test_extreme_aspect_ratios_shrink_to_one_row_or_column_first():
    from depthgraph.models.depth_anything_v3.preprocess import resize_for_network

    rows = np.zeros((3, 2000, 3), np.uint8)
    rows[0], rows[1], rows[2] = 0, 120, 240  # different rows average to one row of 120
    out = resize_for_network(rows)
    assert out.shape == (14, 504, 3)
    assert (out == out[:1]).all()  # one intermediate row, so every network row is the same
    columns = np.ascontiguousarray(rows.transpose(1, 0, 2))
    out = resize_for_network(columns)
    assert out.shape == (504, 14, 3) and (out == out[:, :1]).all()
