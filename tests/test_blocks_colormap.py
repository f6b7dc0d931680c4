"""Depth normalisation, colour mapping and the depth_colormap block."""

from __future__ import annotations

import numpy as np
import pytest
from blocks_helpers import gradient_image, wrap

from depthgraph.blocks.colormap import DepthColormapBlock
from depthgraph.blocks.depth_utils import as_depth_map, colorize_depth, normalize_depth


def test_normalize_depth_nearest_is_one_farthest_is_zero() -> None:
    depth = np.array([[1.0, 2.0], [3.0, 5.0]], dtype=np.float32)
    out = normalize_depth(depth)
    assert out.dtype == np.float32
    assert out[0, 0] == pytest.approx(1.0)
    assert out[1, 1] == pytest.approx(0.0)
    assert out[0, 1] == pytest.approx(0.75)


def test_normalize_constant_depth_gives_zeros_not_nan() -> None:
    out = normalize_depth(np.full((4, 5), 3.0, np.float32))
    assert np.all(out == 0.0)
    assert not np.isnan(out).any()


def test_normalize_ignores_non_finite_pixels() -> None:
    depth = np.array([[1.0, np.nan], [np.inf, 2.0]], dtype=np.float32)
    out = normalize_depth(depth)
    assert np.isfinite(out).all()
    assert out[0, 0] == 1.0 and out[1, 1] == 0.0 and out[0, 1] == 0.0


def test_colorize_shape_dtype_and_near_is_hot_in_inverse_mode() -> None:
    depth = np.tile(np.linspace(1.0, 10.0, 50, dtype=np.float32), (20, 1))
    gray_inverse = colorize_depth(depth, "gray", "inverse_depth")
    gray_depth = colorize_depth(depth, "gray", "depth")
    assert gray_inverse.shape == (20, 50, 3) and gray_inverse.dtype == np.uint8
    # inverse depth: the near (left) side is bright; depth mode: the far (right) side is
    assert gray_inverse[0, 0, 0] == 255 and gray_inverse[0, -1, 0] == 0
    assert gray_depth[0, 0, 0] == 0 and gray_depth[0, -1, 0] == 255
    turbo = colorize_depth(depth, "turbo")
    assert turbo.shape == (20, 50, 3)
    assert not np.array_equal(turbo[..., 0], turbo[..., 2])  # a real colour map, not grey


def test_colorize_percentile_clipping_resists_outliers() -> None:
    depth = np.full((10, 10), 2.0, np.float32)
    depth[:, 5:] = 4.0
    depth[0, 0] = 1e-6  # one absurdly near pixel
    picture = colorize_depth(depth, "gray", "inverse_depth", (2, 98))
    # without clipping the outlier would squash both halves to black
    assert picture[5, 2, 0] == 255 and picture[5, 7, 0] == 0


def test_colorize_rejects_unknown_colormap_and_bad_percentiles() -> None:
    depth = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="colormap"):
        colorize_depth(depth, "rainbow")
    with pytest.raises(ValueError, match="percentile"):
        colorize_depth(depth, "gray", "depth", (90, 10))
    with pytest.raises(ValueError, match="mode"):
        colorize_depth(depth, "gray", "sideways")


def test_as_depth_map_errors_name_the_property() -> None:
    with pytest.raises(ValueError, match="property 'depth'.*shape \\(4, 4, 3\\)"):
        as_depth_map(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="property 'depth'.*list"):
        as_depth_map([[1.0, 2.0]])
    assert as_depth_map(np.ones((1, 3, 4))).shape == (3, 4)
    assert as_depth_map(np.ones((3, 4, 1))).shape == (3, 4)


def test_colormap_block_alone_and_blended_over_an_image() -> None:
    depth = np.tile(np.linspace(1.0, 3.0, 32, dtype=np.float32), (24, 1))
    alone = DepthColormapBlock().run(depth=depth, colormap="viridis")["image"]
    assert alone.numpy_image.shape == (24, 32, 3)

    photo = wrap(gradient_image(48, 64), parent_id="photo-1")
    before = photo.numpy_image.copy()
    blended = DepthColormapBlock().run(depth=depth, colormap="gray", mode="depth", image=photo, alpha=1.0)
    out = blended["image"]
    assert out.parent_id == "photo-1"
    assert out.numpy_image.shape == (48, 64, 3)  # resized to the photo
    assert np.array_equal(photo.numpy_image, before)  # input untouched
    # alpha 1 shows only the colour map; alpha 0 only the photo
    only_photo = DepthColormapBlock().run(depth=depth, image=photo, alpha=0.0)["image"]
    assert np.array_equal(only_photo.numpy_image, before)
    assert not np.array_equal(out.numpy_image, before)


def test_colormap_block_rejects_bad_alpha_and_bad_depth() -> None:
    photo = wrap(gradient_image())
    depth = np.ones((8, 8), np.float32)
    with pytest.raises(ValueError, match="alpha"):
        DepthColormapBlock().run(depth=depth, image=photo, alpha=1.5)
    with pytest.raises(ValueError, match="property 'depth'"):
        DepthColormapBlock().run(depth="not an array")
