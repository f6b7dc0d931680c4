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
