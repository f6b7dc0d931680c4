"""The depth stabiliser and the colour map's fixed/smoothed range: flicker, cuts, still images."""

from __future__ import annotations

import numpy as np
import pytest

from depthgraph.blocks.depth_stabilizer import DepthStabilizerBlock, fit_scale_shift
from depthgraph.blocks.depth_utils import normalize_depth
from depthgraph.engine.errors import WorkflowError
from depthgraph.engine.values import VideoMetadata
from depthgraph.video import stream

from video_helpers import (encode_inverse_depth, frame_to_frame_change, inverse_depth_scene,
                           jittered_frames, workflow)


def test_robust_fit_ignores_a_moving_object() -> None:
    rng = np.random.default_rng(1)
    r = rng.uniform(0.2, 1.0, 2000)
    x = (r - 0.1) / 0.8
    x[:300] = rng.uniform(0, 3, 300)  # 15 % of pixels disagree (something moved)
    scale, shift, median = fit_scale_shift(x, r)
    assert scale == pytest.approx(0.8, rel=0.02) and shift == pytest.approx(0.1, abs=0.02)
    assert median < 0.01


def test_static_noisy_scene_flickers_at_least_5x_less() -> None:
    frames = jittered_frames(inverse_depth_scene(), 45, seed=3)
    wf = workflow([{"type": "depthgraph_test/intensity_depth@v1", "name": "depth", "image": "$inputs.image"},
                   {"type": "depthgraph/depth_stabilizer@v1", "name": "stable",
                    "depth": "$steps.depth.depth", "image": "$inputs.image"}],
                  {"raw": "$steps.depth.depth", "stable": "$steps.stable.normalized_depth",
                   "reset": "$steps.stable.reset"})
    results = [r for _, r in stream(wf, frames, fps=30, batch_size=4)]
    per_frame = frame_to_frame_change([normalize_depth(r["raw"]) for r in results])
    stabilised = frame_to_frame_change([r["stable"] for r in results])
    assert [r["reset"] for r in results].count(True) == 1  # jitter is not mistaken for cuts
    assert stabilised * 5 <= per_frame, (stabilised, per_frame)


def test_cut_is_recovered_within_one_second() -> None:
    fps, cut = 30, 40
    scene_a, scene_b = inverse_depth_scene(variant=0), inverse_depth_scene(variant=1)
    frames = jittered_frames(scene_a, cut, seed=4) + jittered_frames(scene_b, 60, seed=5)
    wf = workflow([{"type": "depthgraph_test/intensity_depth@v1", "name": "depth", "image": "$inputs.image"},
                   {"type": "depthgraph/depth_stabilizer@v1", "name": "stable",
                    "depth": "$steps.depth.depth", "image": "$inputs.image", "time_constant": 1.0}],
                  {"stable": "$steps.stable.normalized_depth", "reset": "$steps.stable.reset"})
    results = [r for _, r in stream(wf, frames, fps=fps)]
    fresh = [r for _, r in stream(wf, frames[cut:], fps=fps)]  # scene B alone, from its first frame
    assert results[cut]["reset"] is True
    for index in range(cut + fps, len(frames)):
        difference = np.abs(results[index]["stable"] - fresh[index - cut]["stable"]).mean()
        assert difference < 0.02, (index, difference)


def test_still_image_passes_through_with_per_frame_normalisation() -> None:
    depth = (1.0 / (inverse_depth_scene() + 0.1)).astype(np.float32)
    out = DepthStabilizerBlock().run(depth=depth, image=None)
    assert out["reset"] is True and out["scale"] == 1.0
    np.testing.assert_array_equal(out["normalized_depth"], normalize_depth(depth))


def test_depth_space_and_outputs_meaning() -> None:
    block = DepthStabilizerBlock()
    scene = inverse_depth_scene()
    for t, scale in enumerate((1.0, 2.0)):
        out = block.run(depth=(1.0 / (scale * scene)).astype(np.float32),
                        image=VideoMetadata("v", t, t / 30, 30.0))
    assert out["scale"] == pytest.approx(0.5, rel=1e-3) and abs(out["shift"]) < 1e-3
    np.testing.assert_allclose(out["depth"], 1.0 / scene, rtol=1e-3)  # back on the first frame's scale
    near = np.unravel_index(np.argmax(scene), scene.shape)
    assert out["normalized_depth"][near] == pytest.approx(1.0)  # 1 = nearest


def test_manifest_checks() -> None:
    steps = [{"type": "depthgraph_test/intensity_depth@v1", "name": "d", "image": "$inputs.image"},
             {"type": "depthgraph/depth_stabilizer@v1", "name": "s", "depth": "$steps.d.depth",
              "image": "$inputs.image", "percentile_low": 90, "percentile_high": 10}]
    with pytest.raises(WorkflowError, match="percentile_low"):
        workflow(steps, {"n": "$steps.s.normalized_depth"})
    colour = [steps[0], {"type": "depthgraph/depth_colormap@v1", "name": "c", "depth": "$steps.d.depth",
                         "range_mode": "fixed", "range_low": 1.0}]
    with pytest.raises(WorkflowError, match="range_low"):
        workflow(colour, {"c": "$steps.c.image"})


def test_colour_map_smoothed_range_follows_the_video_with_its_time_constant() -> None:
    from depthgraph.blocks.colormap import DepthColormapBlock

    block = DepthColormapBlock()
    scene = inverse_depth_scene()
    pixel = (20, 30)

    def colour(frame: int, factor: float, video: str = "v") -> int:
        out = block.run(depth=(1.0 / (factor * scene)).astype(np.float32), colormap="gray",
                        range_mode="smoothed", time_constant=0.2,
                        video_metadata=VideoMetadata(video, frame, frame / 30, 30.0))
        return int(out["image"].numpy_image[pixel][0])

    steady = [colour(t, 1.0) for t in range(10)]
    assert len(set(steady)) == 1
    jumped = colour(10, 2.0)  # the whole scene twice as near: the range lags behind
    assert jumped > steady[0] + 40, (jumped, steady[0])
    assert colour(0, 2.0, video="other") == steady[0]  # another video has its own range
    later = [colour(t, 2.0) for t in range(11, 40)]
    assert later[0] > steady[0] + 20 and later[-1] == pytest.approx(steady[0], abs=2)  # ~1 s = 5 tau
    per_frame = block.run(depth=(1.0 / (2 * scene)).astype(np.float32), colormap="gray")
    assert int(per_frame["image"].numpy_image[pixel][0]) == pytest.approx(steady[0], abs=2)


def test_colour_map_fixed_range_is_absolute() -> None:
    fixed = workflow([{"type": "depthgraph_test/intensity_depth@v1", "name": "depth", "image": "$inputs.image"},
                      {"type": "depthgraph/depth_colormap@v1", "name": "colour", "depth": "$steps.depth.depth",
                       "range_mode": "fixed", "range_low": 0.05, "range_high": 2.05, "colormap": "gray"}],
                     {"colour": "$steps.colour.image"})
    middle = encode_inverse_depth(np.full((8, 8), 1.05))
    other = middle.copy()
    other[0, 0] = encode_inverse_depth(np.full((1, 1), 2.0))[0, 0]  # a near pixel elsewhere
    out = fixed.run(image=[middle, other])
    assert out[0]["colour"].numpy_image[4, 4, 0] == out[1]["colour"].numpy_image[4, 4, 0] == 128
