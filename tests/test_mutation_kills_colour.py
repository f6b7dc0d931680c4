"""What the colour modules promise (the colour bar, the depth colour map block and the detection
visualizations), pinned where mutation testing (docs/testing.md) found that no test noticed a
change. Each test asserts a documented promise on data where a wrong implementation shows; none
pins a message's exact wording or a label's pixel layout. Keep the file fast: mutmut runs it for
every mutant of the functions it touches."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import DepthMap, VideoMetadata, WorkflowImageData

# --- color_bar -------------------------------------------------------------------------------


def test_colour_bar_labels_give_small_depths_to_three_significant_digits():
    from depthgraph.blocks.color_bar import _label

    assert _label(1.5, "relative") == "1.5"
    assert _label(0.0123, "m") == "0.0123 m"
    assert float(_label(42.25, "mm").split()[0]) == 42.2  # three digits, not a rounded integer


def test_depth_range_ends_invert_both_ends_of_an_inverse_depth_range():
    from depthgraph.blocks.color_bar import depth_range_ends

    # a range below 1 at both ends: near = 1 / 0.5, far = 1 / 0.25
    assert depth_range_ends(0.25, 0.5, "inverse_depth") == (2.0, 4.0)
    assert depth_range_ends(0.5, 4.0, "inverse_depth") == (0.25, 2.0)


def test_a_grey_colour_bar_is_a_grey_ramp_white_on_top():
    from depthgraph.blocks.color_bar import add_color_bar

    picture = np.zeros((60, 8, 3), np.uint8)
    out = add_color_bar(picture, "gray", 1.0, 9.0, "m")
    bar = out[:, 8]  # the first column after the picture
    assert (bar[:, 0] == bar[:, 1]).all() and (bar[:, 1] == bar[:, 2]).all()  # grey, no colour map
    assert bar[0, 0] == 255 and bar[-1, 0] == 0
    assert (np.diff(bar[:, 0].astype(int)) <= 0).all()  # hot (white) end on top, darker below


# --- colormap: the block ---------------------------------------------------------------------


def _ramp(h: int = 24, w: int = 32, near: float = 1.0, far: float = 9.0) -> np.ndarray:
    """A depth growing from ``near`` at the left column to ``far`` at the right one."""
    return np.tile(np.linspace(near, far, w, dtype=np.float32), (h, 1))


def _colour(**kwargs) -> np.ndarray:
    from depthgraph.blocks.colormap import DepthColormapBlock

    return DepthColormapBlock().run(**kwargs)["image"].numpy_image


@pytest.mark.parametrize("size", [(24, 32), (512, 512)])
def test_colour_bar_writes_the_range_the_picture_was_drawn_with_in_the_depths_unit(size):
    from depthgraph.blocks.color_bar import add_color_bar

    depth = DepthMap(values=_ramp(*size), unit="mm")
    photo = WorkflowImageData(numpy_image=np.full((*size, 3), 90, np.uint8))
    whole = {"percentile_low": 0.0, "percentile_high": 100.0}  # the range is the whole depth
    for mode, ends in (("inverse_depth", (1.0, 9.0)), ("depth", (9.0, 1.0))):
        for over in ({}, {"image": photo}):
            plain = _colour(depth=depth, mode=mode, **whole, **over)
            barred = _colour(depth=depth, mode=mode, color_bar=True, **whole, **over)
            np.testing.assert_array_equal(barred, add_color_bar(plain, "turbo", *ends, "mm"))


def test_pixels_without_an_inverse_depth_are_left_out_of_the_colour_bars_range():
    holes = _ramp()
    holes[:, 5] = 0.0  # no depth
    holes[:, 9] = np.inf  # infinitely far: no inverse depth
    holes[:, 12] = -1.0
    nan = holes.copy()
    nan[:, [5, 9, 12]] = np.nan
    whole = {"percentile_low": 0.0, "percentile_high": 100.0, "color_bar": True}
    np.testing.assert_array_equal(_colour(depth=holes, **whole), _colour(depth=nan, **whole))


def test_per_frame_colours_span_the_chosen_percentiles():
    depth = _ramp()
    whole = _colour(depth=depth, colormap="gray", percentile_low=0.0, percentile_high=100.0)[..., 0]
    # inverse depth: only the nearest column is white, only the farthest black
    assert (whole[:, 0] == 255).all() and (whole[:, 1:] < 255).all()
    assert (whole[:, -1] == 0).all() and (whole[:, :-1] > 0).all()
    clipped = _colour(depth=depth, colormap="gray", percentile_low=10.0, percentile_high=90.0)[..., 0]
    assert (clipped[:, :2] == 255).all() and (clipped[:, -2:] == 0).all()


def test_a_wrong_image_is_refused_naming_what_was_given():
    with pytest.raises(StepInputError, match="image") as caught:
        _colour(depth=_ramp(), image="photo.jpg")
    assert "got str" in str(caught.value)


def test_a_fixed_range_needs_range_low_below_range_high():
    for low, high in ((5.0, 1.0), (2.0, 2.0), (1.0, None), (None, 2.0)):
        with pytest.raises(StepInputError, match="range_low"):
            _colour(depth=_ramp(), range_mode="fixed", range_low=low, range_high=high)


def test_a_fixed_range_maps_range_low_to_range_high_linearly_and_clips_outside():
    # depth mode: the value is the depth itself; the range is 2..6, two columns fall outside it
    values = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 5.5, 6.0, 7.5]], np.float32).repeat(3, axis=0)
    grey = _colour(depth=values, colormap="gray", mode="depth", range_mode="fixed",
                   range_low=2.0, range_high=6.0)[..., 0]  # fmt: skip
    expected = np.round(np.clip((values[0] - 2.0) / 4.0, 0.0, 1.0) * 255.0)
    np.testing.assert_array_equal(grey[0], expected)


def test_a_fixed_range_equal_to_the_frames_own_range_gives_the_per_frame_picture():
    depth = _ramp()
    for colormap in ("turbo", "gray", "magma"):
        per_frame = _colour(depth=depth, colormap=colormap, percentile_low=0.0, percentile_high=100.0)
        fixed = _colour(depth=depth, colormap=colormap, range_mode="fixed", range_low=1 / 9.0, range_high=1.0)
        assert np.abs(per_frame.astype(int) - fixed.astype(int)).max() <= 8  # one grey level apart at most


def test_no_data_and_sky_get_the_same_colours_in_every_range_mode():
    values = _ramp()
    no_data = np.ones(values.shape, bool)
    no_data[:, 3] = False
    sky = np.zeros(values.shape, bool)
    sky[:, 20] = True
    depth = DepthMap(values=values, valid=no_data, sky=sky)
    for mode in ("inverse_depth", "depth"):
        per_frame = _colour(depth=depth, colormap="gray", mode=mode)[..., 0]
        low, high = (1 / 9.0, 1.0) if mode == "inverse_depth" else (1.0, 9.0)
        fixed = _colour(depth=depth, colormap="gray", mode=mode, range_mode="fixed",
                        range_low=low, range_high=high)[..., 0]  # fmt: skip
        # sky is the farthest colour: black when near is hot, white when far is hot
        assert (fixed[:, 20] == (0 if mode == "inverse_depth" else 255)).all()
        np.testing.assert_array_equal(fixed[:, 20], per_frame[:, 20])
        np.testing.assert_array_equal(fixed[:, 3], per_frame[:, 3])  # no data drawn alike


def test_a_smoothed_range_of_a_constant_depth_draws_one_colour():
    frame = WorkflowImageData(numpy_image=np.zeros((8, 8, 3), np.uint8),
                              video_metadata=VideoMetadata("clip", 0, 0.0, fps=10.0))  # fmt: skip
    out = _colour(depth=np.full((8, 8), 3.0, np.float32), range_mode="smoothed", image=frame, alpha=1.0)
    assert (out == out[0, 0]).all()


def _frame(number: int, timestamp: float, fps: float = 0.0) -> WorkflowImageData:
    return WorkflowImageData(numpy_image=np.zeros((24, 32, 3), np.uint8), parent_id=f"f{number}",
                             video_metadata=VideoMetadata("clip", number, timestamp, fps=fps))  # fmt: skip


def test_a_smoothed_range_follows_the_video_of_the_image_by_its_timestamps():
    from depthgraph.blocks.colormap import DepthColormapBlock

    block = DepthColormapBlock()
    grey = {"colormap": "gray", "mode": "depth", "range_mode": "smoothed", "alpha": 1.0,
            "percentile_low": 0.0, "percentile_high": 100.0, "time_constant": 1.0}  # fmt: skip
    block.run(depth=_ramp(near=0.0, far=10.0), image=_frame(0, 0.0), **grey)
    # one second later the range 0..10 has moved 1 - e^-1 of the way to the new frame's 0..20
    second = block.run(depth=_ramp(near=0.0, far=20.0), image=_frame(1, 1.0), **grey)["image"].numpy_image
    high = 10.0 + (1.0 - math.exp(-1.0)) * 10.0
    expected = _colour(depth=_ramp(near=0.0, far=20.0), colormap="gray", mode="depth",
                       range_mode="fixed", range_low=0.0, range_high=high)  # fmt: skip
    np.testing.assert_array_equal(second, expected)


def test_the_smoothing_step_is_the_time_between_frames():
    from depthgraph.blocks.colormap import _RangeState

    def second_high(metadata_a, metadata_b, time_constant: float = 1.0) -> float:
        state = _RangeState()
        state.update(0.0, 0.0, metadata_a, time_constant)
        return state.update(0.0, 1.0, metadata_b, time_constant)[1]

    step = lambda dt: 1.0 - math.exp(-dt)  # noqa: E731  (time constant 1 s)
    at = lambda t, fps=0.0: SimpleNamespace(frame_timestamp=t, fps=fps)  # noqa: E731
    # timestamps that advance give the step, whatever the frame rate says
    assert second_high(at(0.0, 25.0), at(0.5, 25.0)) == pytest.approx(step(0.5))
    assert second_high(at(2.0), at(2.25)) == pytest.approx(step(0.25))
    # without timestamps (or a repeated one): one frame at the frame rate, else at 30 fps
    assert second_high(at(None, 4.0), at(None, 4.0)) == pytest.approx(step(0.25))
    assert second_high(at(3.0, 4.0), at(3.0, 4.0)) == pytest.approx(step(0.25))
    assert second_high(at(None, 0.5), at(None, 0.5)) == pytest.approx(step(2.0))  # a time-lapse
    assert second_high(at(None), at(None)) == pytest.approx(step(1 / 30))
    assert second_high(None, None) == pytest.approx(step(1 / 30))
    assert second_high(SimpleNamespace(fps=None), SimpleNamespace(fps=None)) == pytest.approx(step(1 / 30))
    # time constant 0: no smoothing, each frame its own range
    assert second_high(at(0.0), at(0.5), time_constant=0.0) == 1.0


def test_the_first_frame_of_a_video_sets_the_range():
    from depthgraph.blocks.colormap import _RangeState

    first = _RangeState().update(2.0, 7.0, SimpleNamespace(frame_timestamp=5.0, fps=30.0), 1.0)
    assert first == (2.0, 7.0)


# --- visualization ---------------------------------------------------------------------------


def _detections(n: int = 2, class_id=(0, 0), tracker_id=None, confidence=(0.9, 0.25), **data):
    import supervision as sv

    boxes = np.array([[4, 4, 28, 28], [36, 8, 60, 40], [10, 44, 30, 60]][:n], np.float32)
    return sv.Detections(
        xyxy=boxes,
        class_id=None if class_id is None else np.array(class_id[:n]),
        tracker_id=None if tracker_id is None else np.array(tracker_id[:n]),
        confidence=None if confidence is None else np.array(confidence[:n], np.float32),
        data={k: np.array(v) for k, v in data.items()},
    )


def _photo(size: int = 64) -> WorkflowImageData:
    return WorkflowImageData(numpy_image=np.full((size, size, 3), 200, np.uint8))


def _boxes(predictions, **kwargs) -> np.ndarray:
    from depthgraph.blocks.visualization import BoundingBoxVisualizationBlock

    return BoundingBoxVisualizationBlock().run(image=_photo(), predictions=predictions, **kwargs)["image"].numpy_image


def _edge_colour(picture: np.ndarray, box) -> tuple[int, ...]:
    x0, y0 = int(box[0]), int(box[1])
    return tuple(int(c) for c in picture[y0, x0 + 5])


def test_visualizations_refuse_wrong_inputs_naming_what_was_given():
    from depthgraph.blocks.visualization import BoundingBoxVisualizationBlock, LabelVisualizationBlock

    for block in (BoundingBoxVisualizationBlock(), LabelVisualizationBlock()):
        with pytest.raises(StepInputError, match="image") as caught:
            block.run(image=[1, 2], predictions=_detections())
        assert "got list" in str(caught.value)
        with pytest.raises(StepInputError, match="predictions") as caught:
            block.run(image=_photo(), predictions={"boxes": []})
        assert "got dict" in str(caught.value)


def test_box_colours_follow_the_colour_axis():
    dets = _detections(class_id=(3, 3), tracker_id=(7, 7))
    same_class = _boxes(dets, color_axis="CLASS")
    assert _edge_colour(same_class, dets.xyxy[0]) == _edge_colour(same_class, dets.xyxy[1])
    by_index = _boxes(dets, color_axis="INDEX")
    assert _edge_colour(by_index, dets.xyxy[0]) != _edge_colour(by_index, dets.xyxy[1])
    # tracks: one track, one colour, also when the detections carry no classes
    tracked = _detections(class_id=None, tracker_id=(7, 7))
    by_track = _boxes(tracked, color_axis="TRACK")
    assert _edge_colour(by_track, tracked.xyxy[0]) == _edge_colour(by_track, tracked.xyxy[1])
    # no classes: CLASS falls back to INDEX instead of failing
    classless = _detections(class_id=None)
    np.testing.assert_array_equal(_boxes(classless, color_axis="CLASS"), _boxes(classless, color_axis="INDEX"))


def test_box_drawing_properties_take_effect():
    dets = _detections()
    default = _boxes(dets)
    thick = _boxes(dets, thickness=6)
    assert (thick != 200).any(axis=2).sum() > (default != 200).any(axis=2).sum()
    assert _edge_colour(_boxes(dets, color_palette="ROBOFLOW"), dets.xyxy[0]) != _edge_colour(default, dets.xyxy[0])
    assert _edge_colour(_boxes(dets, color_axis="INDEX"), dets.xyxy[1]) != _edge_colour(default, dets.xyxy[1])


def _labels_picture(predictions, **kwargs) -> np.ndarray:
    from depthgraph.blocks.visualization import LabelVisualizationBlock

    return LabelVisualizationBlock().run(image=_photo(120), predictions=predictions, **kwargs)["image"].numpy_image


def test_label_drawing_properties_take_effect():
    dets = _detections(class_name=["cup", "cup"])
    dets.xyxy = dets.xyxy + 50  # room for the labels above the boxes
    default = _labels_picture(dets, text="Class", color_palette="DEFAULT", color_axis="CLASS",
                              text_position="TOP_LEFT", text_scale=0.5, text_thickness=1, text_padding=6)  # fmt: skip
    inked = lambda p: int((p != 200).any(axis=2).sum())  # noqa: E731
    for change in ({"text_scale": 0.9}, {"text_padding": 14}):
        assert inked(_labels_picture(dets, text="Class", **change)) > inked(default)
    assert inked(_labels_picture(dets, text="Class", text_thickness=3)) != inked(default)
    for change in ({"color_palette": "ROBOFLOW"}, {"color_axis": "INDEX"}, {"text_position": "BOTTOM_RIGHT"},
                   {"text": "Confidence"}):  # fmt: skip
        assert (_labels_picture(dets, **{"text": "Class", **change}) != default).any(), change


def test_label_texts_for_each_choice():
    from depthgraph.blocks.visualization import detection_labels

    dets = _detections(class_name=["person", "car"])
    assert detection_labels(dets, "Class", "depth", "{:.2f}") == ["person", "car"]
    assert detection_labels(dets, "Confidence", "depth", "{:.2f}") == ["0.90", "0.25"]
    assert detection_labels(dets, "Class and Confidence", "depth", "{:.2f}") == ["person 0.90", "car 0.25"]
    unsure = _detections(confidence=None, class_name=["person", "car"])
    assert detection_labels(unsure, "Class and Confidence", "depth", "{:.2f}") == ["person", "car"]
    assert detection_labels(unsure, "Confidence", "depth", "{:.2f}") == ["", ""]


def test_depth_labels_carry_a_length_unit_and_nothing_else_does():
    from depthgraph.blocks.visualization import detection_labels

    metric = _detections(depth=[3.25, np.nan], area=[120.0, 80.0], depth_unit=["m", "m"])
    assert detection_labels(metric, "Data", "depth", "{:.2f}") == ["3.25 m", "n/a"]  # no depth: no unit
    assert detection_labels(metric, "Data", "area", "{:.0f}") == ["120", "80"]  # not a depth field
    unknown = _detections(depth=[3.25, 1.5], depth_unit=["px", "None"])
    assert detection_labels(unknown, "Data", "depth", "{:.1f}") == ["3.2", "1.5"]  # not a length unit


def test_a_relative_depth_label_format_with_a_length_unit_is_refused():
    from depthgraph.blocks.visualization import detection_labels

    relative = _detections(depth=[0.4, 0.7], depth_unit=["relative", "relative"])
    for data_format in ("{:.2f} m", "{:.2f}m", "{0:.2f} / {0:.0f} cm"):
        with pytest.raises(StepInputError, match="data_format"):
            detection_labels(relative, "Data", "depth", data_format)


def test_format_value_formats_plain_numbers_and_arrays():
    from depthgraph.blocks.visualization import format_value

    assert format_value(2.5, "{:.1f}") == "2.5"
    assert format_value(3, "{:.0f}") == "3"
    assert format_value(np.array([2.5, 1.0]), "{:.1f}") == "(2.5, 1.0)"
    assert format_value("near", "{:.2f}") == "near"
