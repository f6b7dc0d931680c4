"""What the render-side modules promise, pinned where mutation testing (docs/testing.md) found
that no test noticed a change: colour bars and colour maps, the depth helpers, the stabilizer,
the visualization labels, the encoders and the JSON serializer, image decoding and the DA3
preprocessing. Each test asserts a documented promise on data where a wrong implementation shows;
none pins a message's exact wording or a label's pixel layout. Keep the file fast: mutmut runs
it for every mutant of the functions it touches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthgraph.engine.values import DepthMap

# --- color_bar -------------------------------------------------------------------------------


def _bar(h: int, hot: float = 1.5, cold: float = 7.25, unit: str = "m", colormap: str = "turbo") -> np.ndarray:
    from depthgraph.blocks.color_bar import add_color_bar

    return add_color_bar(np.zeros((h, 8, 3), np.uint8), colormap, hot, cold, unit)


def _changed_rows(a: np.ndarray, b: np.ndarray) -> set[int]:
    """Rows where two bar pictures differ (the narrower one padded with the panel's white)."""
    width = max(a.shape[1], b.shape[1])
    a, b = (np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0)), constant_values=255) for x in (a, b))
    return set(np.nonzero((a != b).any(axis=(1, 2)))[0].tolist())


def _ink_per_row(picture: np.ndarray) -> np.ndarray:
    """How many written (non-white) pixels each row of the white text panel holds."""
    white = (picture == 255).all(axis=2)
    panel = white.sum(axis=0) > picture.shape[0] // 2  # the text panel's columns are mostly white
    return (~white[:, panel]).sum(axis=1)


def _label_layout(h: int) -> tuple[list[int], list[int], np.ndarray]:
    """Rows of the hot label, rows of the cold label, and the ink per row, of a bar whose two
    labels are the same text ("2", relative depth)."""
    same = _bar(h, hot=2.0, cold=2.0, unit="relative")
    hot_rows = sorted(_changed_rows(same, _bar(h, hot=8.5, cold=2.0, unit="relative")))
    cold_rows = sorted(_changed_rows(same, _bar(h, hot=2.0, cold=8.5, unit="relative")))
    return hot_rows, cold_rows, _ink_per_row(same)


@pytest.mark.parametrize("h", [36, 60, 240])
def test_colour_bar_writes_the_hot_depth_on_top_the_cold_depth_below_and_the_unit_under_them(h):
    base = _bar(h)
    hot_rows = _changed_rows(base, _bar(h, hot=8.5))
    cold_rows = _changed_rows(base, _bar(h, cold=2.5))
    assert hot_rows and cold_rows  # both ends are written
    assert max(hot_rows) < min(cold_rows) and max(hot_rows) < h // 2  # the hot end on top
    # both labels carry the unit, and a line under the bottom label names it
    unit_rows = _changed_rows(base, _bar(h, unit="mm"))
    assert unit_rows & hot_rows and unit_rows & cold_rows
    assert [r for r in unit_rows if r > max(cold_rows)]
    assert _changed_rows(base, _bar(h, unit="relative"))  # metres are not written as relative
    # two equal labels look the same (nothing drawn over either); the unit line is under them
    hot_rows, cold_rows, ink = _label_layout(h)
    assert ink[hot_rows].sum() == ink[cold_rows].sum() > 0
    others = [r for r in np.nonzero(ink)[0] if r not in hot_rows and r not in cold_rows]
    assert others and min(others) > max(cold_rows)
    assert ink[0] == ink[-1] == 0  # no text cut off at the top or bottom edge


def test_colour_bar_on_a_short_picture_keeps_its_two_labels_apart_without_a_unit_line():
    hot_rows, cold_rows, ink = _label_layout(30)
    assert hot_rows and max(hot_rows) < min(cold_rows)
    assert ink[hot_rows].sum() == ink[cold_rows].sum() == ink.sum() // 2  # the two labels only


def test_colour_bar_fits_video_sizes_and_never_cuts_off_its_text():
    for h in (240, 480, 720):
        out = _bar(h, hot=12.5, cold=250.0, unit="mm")
        assert out.shape[0] == h and out.dtype == np.uint8
        assert (out[:, -2:] == 255).all()  # nothing written reaches the right edge


def test_colour_bar_labels_keep_every_digit_of_large_depths_and_the_unit():
    from depthgraph.blocks.color_bar import _label

    assert float(_label(1234.0, "relative")) == 1234.0
    assert _label(1234.0, "m").endswith(" m") and float(_label(1234.0, "m").split()[0]) == 1234.0
    assert _label(float("nan"), "m") == _label(float("inf"), "relative")  # no depth: one "n/a"
    # a diverged depth gets an exponent, not thirty digits, and the panel stays narrow
    assert _label(1e30, "m") == "1e+30 m" and float(_label(-3.4e38, "relative")) == -3.4e38
    assert _bar(240, hot=1e30, cold=3.4e38, unit="ft").shape[1] < _bar(240).shape[1] + 40


def test_depth_range_ends_turn_a_zero_inverse_depth_into_an_infinite_depth():
    from depthgraph.blocks.color_bar import depth_range_ends

    assert depth_range_ends(0.0, 0.5, "inverse_depth") == (2.0, math.inf)
    assert depth_range_ends(0.0, 0.0, "inverse_depth") == (math.inf, math.inf)
    assert depth_range_ends(2.0, 9.0, "depth") == (9.0, 2.0)


def test_colour_bar_shows_the_pictures_colour_map_hot_end_on_top():
    from depthgraph.blocks.colormap import DepthColormapBlock

    depth = np.tile(np.linspace(1.0, 9.0, 64, dtype=np.float32), (480, 1))  # a video frame's height
    out = DepthColormapBlock().run(depth=depth, colormap="turbo", color_bar=True)["image"].numpy_image
    picture, bar = out[:, :64], out[:, 64]
    # inverse depth: the nearest column is the hot end, the farthest the cold end
    np.testing.assert_array_equal(bar[0], picture[0, 0])
    np.testing.assert_array_equal(bar[-1], picture[0, -1])


def test_colour_bar_of_a_depth_without_values_or_with_a_zero_inverse_depth_end_is_drawn():
    from depthgraph.blocks.colormap import DepthColormapBlock

    block = DepthColormapBlock()
    empty = block.run(depth=np.full((40, 50), np.nan, np.float32), color_bar=True)["image"].numpy_image
    assert empty.shape[0] == 40 and empty.shape[1] > 50
    ramp = np.tile(np.linspace(1.0, 9.0, 50, dtype=np.float32), (40, 1))
    fixed = block.run(depth=ramp, range_mode="fixed", range_low=0.0, range_high=0.5,
                      color_bar=True)["image"].numpy_image  # fmt: skip
    assert fixed.shape[0] == 40 and fixed.shape[1] > 50
