"""What the depth stabilizer, the depth helpers, the encoders, the JSON serializer, image decoding
and the DA3 preprocessing promise, pinned where mutation testing (docs/testing.md) found that no
test noticed a change. Each test asserts a documented promise (module docstring, docs/blocks.md,
the error-message standard) on data where a wrong implementation shows; none pins a message's
exact wording. Keep the file fast: mutmut runs it for every mutant of the functions it touches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import DepthMap, VideoMetadata, WorkflowImageData

# --- depth_stabilizer ------------------------------------------------------------------------


def _stabilizer():
    from depthgraph.blocks.depth_stabilizer import DepthStabilizerBlock

    return DepthStabilizerBlock()


def _ramp(h: int = 24, w: int = 32, near: float = 1.0, far: float = 5.0) -> np.ndarray:
    """A depth map with a different depth in every pixel (near top-left, far bottom-right)."""
    return np.linspace(near, far, h * w, dtype=np.float32).reshape(h, w)


def _frame(video: str, number: int, timestamp: float | None, fps: float) -> WorkflowImageData:
    """A video frame as the engine hands it to the block: an image carrying its metadata."""
    meta = VideoMetadata(video, number, timestamp, fps)  # type: ignore[arg-type]
    return WorkflowImageData(numpy_image=np.zeros((4, 4, 3), np.uint8), video_metadata=meta)


def _smoothed_normalisation(frames, weights, space="inverse_depth", low_p=2.0, high_p=98.0, stride=1):
    """The module docstring's rule for a metric depth (no fit): the percentile range of each
    frame on the sampling grid, smoothed with the given weights; the last frame normalised by it."""
    low = high = None
    for depth, weight in zip(frames, weights):
        x = 1.0 / depth.astype(np.float64) if space == "inverse_depth" else depth.astype(np.float64)
        lo, hi = np.percentile(x[::stride, ::stride], [low_p, high_p])
        if low is None:
            low, high = lo, hi
        else:
            low, high = low + weight * (lo - low), high + weight * (hi - high)
    out = (x - low) / (high - low)
    if space == "depth":
        out = 1.0 - out
    return np.clip(out, 0.0, 1.0)


def _run_metric(frames, images, **props):
    block = _stabilizer()
    for depth, image in zip(frames, images):
        out = block.run(depth=DepthMap(values=depth, unit="m"), image=image, **props)
    return out


@pytest.mark.parametrize(
    "times, fps, props, weight",
    [
        # timestamps from the video metadata give dt (0.5 s), whatever the frame rate says
        ((2.0, 2.5), 30.0, {"time_constant": 2.0}, 1.0 - math.exp(-0.5 / 2.0)),
        # no timestamps: dt = 1 / fps; the default time constant is 1 s
        ((None, None), 4.0, {}, 1.0 - math.exp(-0.25)),
        # a repeated timestamp says nothing about dt: 1 / fps again
        ((3.0, 3.0), 2.0, {}, 1.0 - math.exp(-0.5)),
        # unknown frame rate (0) and no timestamps: a 30 fps frame is assumed
        ((None, None), 0.0, {}, 1.0 - math.exp(-1.0 / 30.0)),
        # a slow source (0.5 fps): one frame every 2 s
        ((None, None), 0.5, {"time_constant": 1.0}, 1.0 - math.exp(-2.0)),
        # time constant 0: no smoothing at all, the range follows each frame
        ((0.0, 0.1), 30.0, {"time_constant": 0.0}, 1.0),
    ],
)
def test_stabilizer_smooths_the_range_with_weight_one_minus_exp_of_dt_over_the_time_constant(
    times, fps, props, weight
):
    frames = [_ramp(near=1.0, far=5.0), _ramp(near=2.0, far=20.0)]
    images = [_frame("smooth", n, t, fps) for n, t in enumerate(times)]
    out = _run_metric(frames, images, **props)
    expected = _smoothed_normalisation(frames, [None, weight])
    np.testing.assert_allclose(out["normalized_depth"], expected, atol=2e-5)
    assert out["normalized_depth"].dtype == np.float32
    # a metric depth is never re-scaled: it passes through unchanged
    assert out["scale"] == 1.0 and out["shift"] == 0.0 and out["reset"] is False
    np.testing.assert_array_equal(np.asarray(out["depth"]), frames[-1])


def test_stabilizer_normalises_by_the_documented_percentiles_and_space():
    frames = [_ramp(near=1.0, far=5.0), _ramp(near=2.0, far=9.0)]
    images = [_frame("space", n, n / 10, 10.0) for n in range(2)]
    props = {"time_constant": 0.5, "percentile_low": 10.0, "percentile_high": 70.0, "space": "depth"}
    out = _run_metric(frames, images, **props)
    weight = 1.0 - math.exp(-0.1 / 0.5)
    expected = _smoothed_normalisation(frames, [None, weight], space="depth", low_p=10.0, high_p=70.0)
    np.testing.assert_allclose(out["normalized_depth"], expected, atol=2e-5)
    assert out["normalized_depth"][0, 0] > 0.5 > out["normalized_depth"][-1, -1]  # near is high


def test_stabilizer_range_is_read_on_a_sampling_grid_of_about_4096_pixels():
    # 128 x 128 = 16384 pixels: the grid takes every second row and column
    frames = [_ramp(128, 128, 1.0, 5.0) ** 2, _ramp(128, 128, 2.0, 9.0) ** 3]
    images = [_frame("grid", n, n / 30, 30.0) for n in range(2)]
    out = _run_metric(frames, images)
    expected = _smoothed_normalisation(frames, [None, 1.0 - math.exp(-1.0 / 30.0)], stride=2)
    np.testing.assert_allclose(out["normalized_depth"], expected, atol=2e-5)


def test_stabilizer_range_falls_back_to_every_pixel_when_the_grid_holds_few_with_depth():
    depth = np.full((128, 128), np.nan, np.float32)
    depth[40:50, 60:70] = _ramp(10, 10, 1.0, 5.0) ** 2  # 100 pixels with depth, 25 on the grid
    out = _run_metric([depth], [_frame("few", 0, 0.0, 30.0)])
    inverse = 1.0 / depth[40:50, 60:70].astype(np.float64)
    low, high = np.percentile(inverse, [2.0, 98.0])
    expected = np.clip((inverse - low) / (high - low), 0.0, 1.0)
    np.testing.assert_allclose(out["normalized_depth"][40:50, 60:70], expected, atol=2e-5)


def test_stabilizer_pixels_without_depth_normalise_to_zero():
    depth = _ramp()
    depth[3:7, 5:9] = np.nan
    out = _run_metric([_ramp(), depth], [_frame("holes", n, n / 30, 30.0) for n in range(2)])
    assert (out["normalized_depth"][3:7, 5:9] == 0.0).all()
    assert out["normalized_depth"][0, 0] == 1.0  # the nearest pixel still reads 1


def test_stabilizer_a_flat_frame_normalises_to_zeros():
    flat = np.full((24, 32), 3.0, np.float32)
    out = _run_metric([flat, flat], [_frame("flat", n, n / 30, 30.0) for n in range(2)])
    assert out["normalized_depth"].dtype == np.float32 and not out["normalized_depth"].any()


def _scene(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A relative depth with structure in every pixel (not an affine function of another scene)."""
    rng = np.random.default_rng(seed)
    return (1.0 + 4.0 * rng.random((h, w))).astype(np.float32)


def test_stabilizer_first_frame_of_a_video_passes_through_at_any_scale():
    block = _stabilizer()
    depth = _scene(1) * np.float32(1e7)  # relative depth has no unit: any scale is a depth
    out = block.run(depth=depth, image=_frame("first", 0, 0.0, 30.0))
    assert out["reset"] is True and out["scale"] == 1.0 and out["shift"] == 0.0
    np.testing.assert_allclose(np.asarray(out["depth"]), depth, rtol=1e-5)


def test_stabilizer_still_image_is_neither_scaled_nor_shifted():
    out = _stabilizer().run(depth=_scene(2), image=None)
    assert (out["scale"], out["shift"], out["reset"]) == (1.0, 0.0, True)


@pytest.mark.parametrize("bad", ["not a map", np.zeros((2, 3, 4), np.float32), np.zeros((0, 5), np.float32)])
def test_stabilizer_names_the_depth_property_when_the_depth_is_not_a_map(bad):
    with pytest.raises(StepInputError, match="'depth'"):
        _stabilizer().run(depth=bad, image=_frame("bad", 0, 0.0, 30.0))


def test_stabilizer_a_cut_restarts_from_the_new_frame_with_the_default_threshold():
    block = _stabilizer()
    first, other = _scene(3), _scene(4)  # two unrelated scenes
    block.run(depth=first, image=_frame("cut", 0, 0.0, 30.0))
    out = block.run(depth=other * np.float32(3.0), image=_frame("cut", 1, 1 / 30, 30.0))
    assert (out["reset"], out["scale"], out["shift"]) == (True, 1.0, 0.0)
    np.testing.assert_allclose(np.asarray(out["depth"]), other * np.float32(3.0), rtol=1e-5)


def test_stabilizer_a_frame_of_another_size_restarts_the_estimate():
    block = _stabilizer()
    block.run(depth=_scene(5), image=_frame("size", 0, 0.0, 30.0))
    out = block.run(depth=_scene(6, 30, 40), image=_frame("size", 1, 1 / 30, 30.0))
    assert out["reset"] is True and out["normalized_depth"].shape == (30, 40)


def test_stabilizer_aligns_on_pixels_with_depth_only_and_adopts_pixels_seen_later():
    block = _stabilizer()
    scene = _scene(7)
    holes = scene.copy()
    holes[:, 16:] = np.nan  # only the first 16 columns have depth in the first frame
    block.run(depth=holes, image=_frame("later", 0, 0.0, 30.0))
    second = scene * np.float32(2.0)
    second[:, :10] = np.nan  # no depth where most of the estimate is
    out = block.run(depth=second, image=_frame("later", 1, 1 / 30, 30.0))
    assert out["reset"] is False and out["scale"] == pytest.approx(2.0, rel=1e-4)
    # the first 16 columns now move (something passes in front of the camera): the pixels that
    # joined the estimate later carry the alignment, the moving ones are outliers
    moved = scene * np.float32(0.5)
    moved[:, :16] = _scene(8)[:, :16]
    out = block.run(depth=moved, image=_frame("later", 2, 2 / 30, 30.0))
    assert out["reset"] is False and out["scale"] == pytest.approx(0.5, rel=1e-3)


def test_stabilizer_a_slowly_changing_scene_is_tracked_without_cuts():
    block = _stabilizer()
    base, drift = _scene(9), _scene(10) - np.float32(3.0)
    resets = []
    for n in range(40):
        depth = base + np.float32(0.02 * n) * drift  # the scene changes a little every frame
        out = block.run(depth=depth, image=_frame("drift", n, n / 30, 30.0), time_constant=0.1)
        resets.append(out["reset"])
    assert resets.count(True) == 1, resets


@pytest.mark.parametrize("space", ["inverse_depth", "depth"])
def test_stabilizer_pixels_without_depth_stay_nan_in_the_aligned_depth(space):
    # DepthMap: NaN where there is no data, finite elsewhere; an aligned depth is no exception
    block = _stabilizer()
    depth = _scene(11)
    depth[5:9, 10:20] = np.nan
    for n, scale in enumerate((1.0, 2.0)):
        out = block.run(depth=depth * np.float32(scale), image=_frame("nan", n, n / 30, 30.0), space=space)
    aligned = np.asarray(out["depth"])
    assert np.isnan(aligned[5:9, 10:20]).all()
    assert np.isfinite(np.delete(aligned, range(5, 9), axis=0)).all()


def test_stabilizer_zero_and_negative_depths_carry_no_depth_in_inverse_depth_space():
    block, other = _stabilizer(), _stabilizer()
    scene = _scene(12)
    missing = scene.copy()
    missing[2:6, 3:9] = np.nan
    bad = scene.copy()
    bad[2:4, 3:9], bad[4:6, 3:9] = 0.0, -2.0
    for n in range(2):
        a = block.run(depth=missing, image=_frame("nan-v", n, n / 30, 30.0))
        b = other.run(depth=bad, image=_frame("bad-v", n, n / 30, 30.0))
    np.testing.assert_array_equal(a["normalized_depth"], b["normalized_depth"])
    assert (b["normalized_depth"][2:6, 3:9] == 0.0).all() and (a["scale"], a["shift"]) == (b["scale"], b["shift"])


def test_robust_fit_is_exact_on_the_agreeing_pixels_and_ignores_the_rest():
    from depthgraph.blocks.depth_stabilizer import fit_scale_shift

    rng = np.random.default_rng(5)
    for scale, shift, size in ((0.8, 0.1, 1.0), (40.0, -3.0, 1.0), (2.5, 2e-4, 1e-3)):
        # small inverse depths (a far scene, or a relative depth in large units) fit as well
        x = rng.uniform(0.2, 1.0, 3000) * size
        r = scale * x + shift
        r[:600] += rng.uniform(1.0, 3.0, 600) * scale * size  # a fifth of the pixels moved
        got_scale, got_shift, median = fit_scale_shift(x, r)
        assert got_scale == pytest.approx(scale, rel=1e-9) and got_shift == pytest.approx(shift, rel=1e-6, abs=1e-12)
        assert median < 1e-9 * scale * size


def test_robust_fit_of_a_flat_frame_only_shifts():
    from depthgraph.blocks.depth_stabilizer import fit_scale_shift

    x = np.full(500, 0.5)
    r = np.linspace(0.6, 0.8, 500)
    scale, shift, median = fit_scale_shift(x, r)
    assert scale == 1.0 and shift == pytest.approx(0.2, abs=0.02) and math.isfinite(median)


# --- depth_utils -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode, sky_value", [("inverse_depth", 0.0), ("depth", 1.0)])
def test_sky_pixels_are_left_out_of_the_range_and_drawn_as_the_farthest_value(mode, sky_value):
    from depthgraph.blocks.depth_utils import _scaled_for_display

    depth = np.tile(np.linspace(1.0, 9.0, 9), (4, 1))
    sky = np.zeros(depth.shape, bool)
    sky[0, :3] = True  # sky over some of the nearest pixels: they must not stretch the range
    with_sky = depth.copy()
    with_sky[0, :3] = 0.2
    with_sky[1, 4] = np.nan  # a pixel without depth is never counted either
    got = _scaled_for_display(with_sky, mode, (0.0, 100.0), sky)
    rest = ~sky & np.isfinite(with_sky)
    values = 1.0 / depth if mode == "inverse_depth" else depth
    expected = (values - values[rest].min()) / (values[rest].max() - values[rest].min())
    np.testing.assert_allclose(got[rest], expected[rest], atol=1e-12)
    assert (got[sky] == sky_value).all()


def test_colour_maps_are_opencvs_maps_of_the_scaled_depth_with_turbo_by_default():
    import cv2

    from depthgraph.blocks.depth_utils import _scaled_for_display, colorize_depth

    depth = np.tile(np.linspace(1.0, 9.0, 40), (6, 1))
    gray = np.round(_scaled_for_display(depth, "inverse_depth", (2.0, 98.0)) * 255.0).astype(np.uint8)
    np.testing.assert_array_equal(colorize_depth(depth), cv2.applyColorMap(gray, cv2.COLORMAP_TURBO))
    np.testing.assert_array_equal(colorize_depth(depth, "magma"), cv2.applyColorMap(gray, cv2.COLORMAP_MAGMA))


def test_colour_map_percentiles_may_reach_100_but_low_must_stay_below_high():
    from depthgraph.blocks.depth_utils import colorize_depth

    depth = np.tile(np.linspace(1.0, 9.0, 40), (6, 1))
    assert colorize_depth(depth, percentiles=(0.0, 100.0)).shape == (6, 40, 3)
    for bad in ((50.0, 50.0), (2.0, 100.5), (-1.0, 50.0)):
        with pytest.raises(StepInputError, match="percentile_low"):
            colorize_depth(depth, percentiles=bad)


def test_blend_over_weighs_the_picture_by_alpha_and_the_background_by_one_minus_alpha():
    from depthgraph.blocks.depth_utils import blend_over

    picture = np.full((4, 6, 3), 200, np.uint8)
    background = np.full((4, 6, 3), 100, np.uint8)
    assert (blend_over(picture, background, 0.25) == 125).all()
    small = np.full((2, 3, 3), 200, np.uint8)  # resized to the background first
    out = blend_over(small, background, 0.75)
    assert out.shape == background.shape and (out == 175).all()


def test_float_maps_accept_any_non_empty_numeric_plane_and_name_the_property_otherwise():
    from depthgraph.blocks.depth_utils import as_depth_map, as_float_map

    for shape in ((1, 5), (5, 1), (1, 1)):
        assert as_float_map(np.ones(shape), "confidence").shape == shape
    counts = as_float_map(np.arange(6, dtype=np.uint16).reshape(2, 3), "confidence")
    assert counts.dtype == np.float32 and counts[1, 2] == 5.0  # 16-bit depth PNGs are numbers
    assert as_depth_map(np.arange(6, dtype=np.int32).reshape(2, 3), "depth").values.dtype == np.float32
    bad_maps = [np.zeros((0, 5)), np.zeros((5, 0)), np.zeros((2, 2), bool), np.array([["a", "b"]])]
    for bad in bad_maps:
        with pytest.raises(StepInputError, match="'confidence'"):
            as_float_map(bad, "confidence")


def test_intrinsics_are_float64_with_both_focal_lengths_positive_and_errors_say_what_was_wrong():
    from depthgraph.blocks.depth_utils import as_intrinsics

    matrix = as_intrinsics([[500, 0, 320], [0, 400, 240], [0, 0, 1]], "intrinsics")
    assert matrix.dtype == np.float64 and matrix[0, 0] == 500.0
    for fx, fy in ((500.0, 0.0), (500.0, -3.0), (0.0, 400.0)):
        with pytest.raises(StepInputError, match="'cam'") as caught:
            as_intrinsics([[fx, 0.0, 320.0], [0.0, fy, 240.0], [0.0, 0.0, 1.0]], "cam")
        assert f"fx={fx}" in str(caught.value) and f"fy={fy}" in str(caught.value)
    with pytest.raises(StepInputError, match="str"):
        as_intrinsics("a camera", "cam")


# --- encoders --------------------------------------------------------------------------------


def test_png16_of_a_map_without_finite_values_is_all_zeros_scaled_zero_to_zero():
    from depthgraph.engine.encoders import png16_quantize

    pixels, low, high = png16_quantize(np.full((3, 4), np.nan))
    assert (low, high) == (0.0, 0.0) and pixels.dtype == np.uint16 and not pixels.any()


def test_png16_and_npy_give_back_the_values_as_float32_and_arrays_as_they_are():
    from depthgraph.engine.encoders import npy_bytes, png16_decode, png16_encode

    values = np.linspace(1.0, 3.0, 12, dtype=np.float32).reshape(3, 4)
    data, scale = png16_encode(values)
    back = png16_decode(data, scale["min"], scale["max"])
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, values, atol=2.0 / 65535)
    counts = np.arange(6, dtype=np.int16).reshape(2, 3)
    import io

    loaded = np.load(io.BytesIO(npy_bytes(counts)))
    assert loaded.dtype == np.int16 and (loaded == counts).all()


def test_json_safe_turns_every_nan_and_infinity_into_null():
    from depthgraph.engine.encoders import json_safe

    assert json_safe({"a": [1.5, math.nan, (math.inf, -math.inf)], "b": 2}) == {"a": [1.5, None, [None, None]], "b": 2}


def test_array_summary_names_type_shape_dtype_and_the_finite_min_max_mean():
    from depthgraph.engine.encoders import array_summary

    values = np.array([[1.0, np.nan], [3.0, np.inf]], np.float32)
    assert array_summary(values) == {"type": "array", "shape": [2, 2], "dtype": "float32",
                                      "min": 1.0, "max": 3.0, "mean": 2.0}
    assert array_summary(np.array(["a", "b"])) == {"type": "array", "shape": [2], "dtype": "<U1"}


def test_a_depth_map_read_back_without_unit_or_source_is_relative_with_no_source():
    from depthgraph.engine.encoders import depth_from_json
    from depthgraph.engine.values import RELATIVE

    depth = depth_from_json({"type": "depth_map", "values": [[1.0, 2.0]]}, np.asarray)
    assert depth.unit == RELATIVE and depth.source == "" and not depth.is_metric


# --- serialization ---------------------------------------------------------------------------


def test_large_list_outputs_are_refused_by_the_budget_naming_the_output():
    from depthgraph.engine.errors import ResponseTooLargeError
    from depthgraph.engine.serialization import ResponseBudget, serialize_outputs

    depth = np.ones((20, 50), np.float32)  # 1000 values as JSON lists: about 20 kB
    with pytest.raises(ResponseTooLargeError, match="depth_out"):
        serialize_outputs([{"depth_out": depth}], array_format="list", budget=ResponseBudget(5000))


def test_base64_arrays_are_little_endian_whatever_the_byte_order_they_came_in():
    from depthgraph.engine.serialization import array_from_json, serialize_value

    big = np.linspace(0.0, 1.0, 100).astype(">f4").reshape(10, 10)
    packed = serialize_value(big, array_format="base64")
    assert packed["byte_order"] == "little" and packed["dtype"] == "float32"
    assert np.frombuffer(__import__("base64").b64decode(packed["value"]), "<f4")[99] == 1.0
    np.testing.assert_array_equal(array_from_json(packed), big)


def test_padded_base64_text_is_taken_for_base64():
    import base64

    from depthgraph.engine.serialization import _is_probably_base64

    padded = base64.b64encode(b"a short image!").decode("ascii")  # 14 bytes: one '=' of padding
    assert padded.endswith("=") and _is_probably_base64(padded)
    assert _is_probably_base64(base64.b64encode(b"thirteen byte").decode("ascii"))  # '=='


def _garbage_file(tmp_path, name="photo.png"):
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 4)
    return path


def test_undecodable_images_name_the_input_whichever_way_they_came(tmp_path):
    import base64

    from depthgraph.engine.errors import RuntimeInputError
    from depthgraph.engine.serialization import decode_image

    path = _garbage_file(tmp_path)
    text = base64.b64encode(path.read_bytes()).decode("ascii")
    for value in ({"type": "base64", "value": text}, {"type": "file", "value": str(path)}, str(path)):
        with pytest.raises(RuntimeInputError, match="'photo_in'"):
            decode_image(value, "photo_in")


def test_image_objects_take_numpy_objects_and_name_an_unknown_type_and_its_value():
    from depthgraph.engine.errors import RuntimeInputError
    from depthgraph.engine.serialization import decode_image

    pixels = np.full((4, 5, 3), 7, np.uint8)
    image = decode_image({"type": "numpy_object", "value": pixels, "parent_id": 7}, "photo_in")
    assert (image.numpy_image == 7).all() and isinstance(image.parent_id, str) and image.parent_id != "7"
    with pytest.raises(RuntimeInputError, match="'photo_in'") as caught:
        decode_image({"type": "pixels", "value": pixels}, "photo_in")
    assert "pixels" in str(caught.value) and "ndarray" in str(caught.value)
    with pytest.raises(RuntimeInputError, match="'photo_in'"):  # seven channels: not a picture
        decode_image({"type": "numpy_object", "value": np.zeros((4, 5, 7), np.uint8)}, "photo_in")


@pytest.mark.parametrize("text", ["missing/photo", "photo.png", "ab.png"])
def test_a_missing_file_is_named_when_the_text_looks_like_a_path(text):
    from depthgraph.engine.errors import RuntimeInputError
    from depthgraph.engine.serialization import decode_image

    with pytest.raises(RuntimeInputError, match="does not exist") as caught:
        decode_image(text, "photo_in")
    assert text in str(caught.value)


@pytest.mark.parametrize("url", ["http://h/x.jpg", "HTTPS://h/x.jpg", "FTP://h/x.jpg", "s3://b/x.jpg", "gs://b/x.jpg"])
def test_urls_are_refused_as_urls_not_looked_up_as_files(url):
    from depthgraph.engine.errors import RuntimeInputError
    from depthgraph.engine.serialization import decode_image

    with pytest.raises(RuntimeInputError, match="URL"):
        decode_image(url, "photo_in")


def test_json_arrays_read_back_keep_integers_and_turn_null_into_nan():
    from depthgraph.engine.serialization import array_from_json

    counts = array_from_json([[1, 2], [3, 4]])
    assert counts.dtype.kind == "i" and counts[1, 1] == 4
    holes = array_from_json([[1.5, None], [None, 2.0]])
    assert holes.dtype == np.float64 and np.isnan(holes[0, 1]) and holes[1, 1] == 2.0


def test_png16_arrays_carry_their_shape_range_and_how_to_decode_them():
    from depthgraph.engine.encoders import PNG16_DECODE
    from depthgraph.engine.serialization import serialize_value

    values = np.linspace(1.0, 2.0, 100, dtype=np.float32).reshape(10, 10)
    packed = serialize_value(values, array_format="png16")
    assert packed["shape"] == [10, 10] and packed["decode"] == PNG16_DECODE
    assert (packed["min"], packed["max"]) == (1.0, 2.0)


def test_images_are_encoded_as_jpeg_by_default_from_arrays_too():
    import base64

    from depthgraph.engine.serialization import encode_image

    data = base64.b64decode(encode_image(np.full((8, 8, 3), 90, np.uint8)))
    assert data[:3] == b"\xff\xd8\xff"  # a JPEG file


# --- image_decoding --------------------------------------------------------------------------


def _gif(screen, frame, table_bits=1, packed_table=True):
    """GIF bytes up to the first image descriptor: a global colour table of 2 ** (bits + 1)
    colours, a graphics-control extension and a comment in two sub-blocks before the frame."""
    import struct

    packed = (0x80 | table_bits) if packed_table else table_bits  # no table: the size bits mean nothing
    head = b"GIF89a" + struct.pack("<HH", *screen) + bytes([packed, 0, 0])
    table = bytes(3 * 2 ** (table_bits + 1)) if packed_table else b""
    control = b"\x21\xf9\x04\x00\x00\x00\x00\x00"
    comment = b"\x21\xfe\x03abc\x05defgh\x00"
    descriptor = b"\x2c" + struct.pack("<HHHH", *frame)  # the data ends with it
    return head + table + control + comment + descriptor


def test_gif_size_is_the_screen_and_a_first_frame_outside_it_is_refused():
    from depthgraph.image_decoding import AmbiguousHeaderError, image_size_from_header

    assert image_size_from_header(_gif((40000, 50), (0, 0, 40000, 50))) == (40000, 50)
    assert image_size_from_header(_gif((100, 80), (10, 5, 90, 75), table_bits=3)) == (100, 80)
    outside = [(10, 0, 95, 80), (0, 10, 100, 75), (0, 0, 40000, 80), (0, 0, 100, 40000)]
    for frame in outside:
        for bits in (0, 2, 7):
            with pytest.raises(AmbiguousHeaderError, match="GIF"):
                image_size_from_header(_gif((100, 80), frame, table_bits=bits))
    with pytest.raises(AmbiguousHeaderError):
        image_size_from_header(_gif((100, 80), (0, 0, 120, 80), table_bits=1, packed_table=False))
    # cut off inside a comment: the screen is still read
    cut = _gif((100, 80), (0, 0, 120, 80))
    assert image_size_from_header(cut[: cut.index(b"\x21\xfe")] + b"\x21\xfe\x0a" + bytes(10)) == (100, 80)


def _sof(width: int, height: int, marker: int = 0xC0) -> bytes:
    import struct

    return bytes([0xFF, marker]) + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x11\x00\x00"


def test_jpeg_size_walks_standalone_markers_and_segments_to_the_frame_header():
    from depthgraph.image_decoding import AmbiguousHeaderError, image_size_from_header

    standalone = b"\xff\xff\xff\xd8\xff\xd0\xff\xd7\xff\x01"  # fill bytes, SOI, RST0, RST7, TEM
    app0 = b"\xff\xe0\x00\x10" + bytes(14)
    start_of_scan = b"\xff\xda\x00\x08" + bytes(6)
    jpeg = b"\xff\xd8" + standalone + app0 + _sof(40000, 300) + start_of_scan
    assert image_size_from_header(jpeg) == (40000, 300)
    # the same frame header twice is one size; two different ones are refused
    twice = b"\xff\xd8" + _sof(64, 48) + app0 + _sof(64, 48, 0xC2) + start_of_scan
    assert image_size_from_header(twice) == (64, 48)
    with pytest.raises(AmbiguousHeaderError, match="JPEG"):
        image_size_from_header(b"\xff\xd8" + _sof(64, 48) + app0 + _sof(65, 48, 0xC1) + start_of_scan)
    # nothing after the end of the image counts, and a long segment ends the walk
    assert image_size_from_header(b"\xff\xd8" + _sof(64, 48) + b"\xff\xd9\x00\x02" + _sof(99, 99)) == (64, 48)
    assert image_size_from_header(b"\xff\xd8" + _sof(64, 48) + b"\xff\xe1\x90\x00" + bytes(40)) == (64, 48)


def test_read_image_names_the_file_and_keeps_the_pixel_limit(tmp_path):
    import cv2

    from depthgraph.image_decoding import ImageReadError, is_pil_image, read_image

    path = _garbage_file(tmp_path, "broken_photo.png")
    with pytest.raises(ImageReadError, match="broken_photo"):
        read_image(path)
    good = tmp_path / "small.png"
    good.write_bytes(cv2.imencode(".png", np.zeros((20, 30, 3), np.uint8))[1].tobytes())
    assert read_image(good).shape == (20, 30, 3)
    with pytest.raises(ImageReadError, match="small.png"):
        read_image(good, max_pixels=100)
    assert not is_pil_image(np.zeros((2, 2, 3), np.uint8))


def test_inference_json_of_bare_boxes_says_what_is_unknown_and_numbers_the_boxes():
    import supervision as sv

    from depthgraph.engine.serialization import detections_to_inference_json

    boxes = sv.Detections(xyxy=np.array([[0.0, 0.0, 10.0, 20.0], [5.0, 5.0, 7.0, 9.0]]))
    out = detections_to_inference_json(boxes)
    assert out["image"] == {"width": None, "height": None}
    first = out["predictions"][0]
    assert (first["confidence"], first["class"], first["class_id"]) == (None, None, None)
    assert [p["detection_id"] for p in out["predictions"]] == ["0", "1"]
    assert detections_to_inference_json(boxes, image_size=(64, 48))["image"] == {"width": 64, "height": 48}


def test_inference_json_reads_the_image_size_from_the_first_row_or_the_metadata_and_keeps_ids():
    import supervision as sv

    from depthgraph.engine.serialization import detections_to_inference_json

    boxes = sv.Detections(
        xyxy=np.array([[0.0, 0.0, 10.0, 20.0], [5.0, 5.0, 7.0, 9.0]]),
        data={"image_dimensions": np.array([[480, 640], [100, 200]]),
              "detection_id": np.array(["a1", "b2"]), "class_name": np.array(["cup", "mug"])},
    )
    out = detections_to_inference_json(boxes)
    assert out["image"] == {"width": 640, "height": 480}
    assert [p["detection_id"] for p in out["predictions"]] == ["a1", "b2"]
    assert [p["class"] for p in out["predictions"]] == ["cup", "mug"]
    assert all("image_dimensions" not in p for p in out["predictions"])
    boxes.metadata = {"image_dimensions": (300, 400, 3)}  # an image's shape: height, width, channels
    assert detections_to_inference_json(boxes)["image"] == {"width": 400, "height": 300}


def test_text_is_told_from_images_even_when_the_cut_splits_a_character():
    from depthgraph.image_decoding import _looks_like_text

    assert _looks_like_text(b"name\tvalue\r\nphoto.png\n\f")
    assert _looks_like_text(("a" + "\u00e9" * 3000).encode("utf-8"))  # cut inside a 2-byte character
    for binary in (b"", b"GIF89a\x00\x01\x02", b"abc\x00def", b"\xff\xd8\xff\xe0" + bytes(20)):
        assert not _looks_like_text(binary)


def test_a_text_file_is_refused_as_text_not_as_an_unknown_format():
    from depthgraph.image_decoding import ImageReadError, decode_image_bytes

    with pytest.raises(ImageReadError, match="text") as caught:
        decode_image_bytes("depth in m\u00e8tres\n".encode("utf-8") * 400, "notes.txt")
    assert "notes.txt" in str(caught.value)


def test_text_cut_inside_a_three_byte_character_is_still_text():
    # (the old fallback dropped 3 bytes, which re-splits a run of 3-byte characters)
    from depthgraph.image_decoding import _looks_like_text

    assert _looks_like_text(("\u6df1\u5ea6" * 1500).encode("utf-8"))


def test_tiff_size_skips_other_tags_and_reads_short_sizes_up_to_65535():
    import struct

    from depthgraph.image_decoding import image_size_from_header

    entries = [(254, 4, 0), (256, 3, 40000), (257, 4, 50)]  # NewSubfileType first, then the sizes
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", t, k, 1, v) for t, k, v in entries)
    assert image_size_from_header(b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(4)) == (40000, 50)


def test_webp_size_is_read_from_extended_and_lossy_headers():
    import struct

    from depthgraph.image_decoding import image_size_from_header

    head = b"RIFF" + struct.pack("<I", 100) + b"WEBP"
    extended = head + b"VP8X" + struct.pack("<I", 10) + bytes(4) + (639).to_bytes(3, "little") + (479).to_bytes(3, "little")
    assert image_size_from_header(extended) == (640, 480)
    lossy = head + b"VP8 " + struct.pack("<I", 10) + b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", 320, 240)
    assert image_size_from_header(lossy) == (320, 240)


# --- DA3 preprocessing -----------------------------------------------------------------------


def test_network_input_is_504_on_the_longer_side_in_multiples_of_14_by_default():
    from depthgraph.models.depth_anything_v3.preprocess import processed_size

    assert processed_size(480, 640) == (378, 504) and processed_size(100, 60) == (504, 308)


def test_pnm_size_allows_a_comment_right_after_the_magic_number():
    from depthgraph.image_decoding import image_size_from_header

    assert image_size_from_header(b"P6#made by a scanner\n640 480\n255\n" + bytes(16)) == (640, 480)
