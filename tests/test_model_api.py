"""AutoModel API behaviour on a tiny-config network: inputs, sizes, batching, threads."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from model_helpers import random_bgr, tiny_model

from depthgraph.models.depth_anything_v3 import DA3Config, DepthPrediction
from depthgraph.models.depth_anything_v3.model import DepthAnything3, parse_model_id
from depthgraph.models.depth_anything_v3.preprocess import nearest_multiple, processed_size


def test_processed_size_rules():
    assert processed_size(1080, 1920) == (280, 504)  # 504x284 -> 504x280 (spec example)
    assert processed_size(480, 640) == (378, 504)
    assert processed_size(333, 250) == (504, 378)
    assert processed_size(97, 141) == (350, 504)
    assert processed_size(5000, 20) == (504, 14)  # a side shorter than 7 px rounds to 14
    assert nearest_multiple(21) == 28 and nearest_multiple(20) == 14  # ties go up
    assert nearest_multiple(3) == 14 and nearest_multiple(14) == 14


def test_output_sizes_dtype_and_intrinsics_scaling():
    model = tiny_model()
    image = random_bgr(90, 200)
    (pred,) = model.predict(image)
    assert isinstance(pred, DepthPrediction)
    h, w = pred.processed_size
    assert (h, w) == processed_size(90, 200, 112) == (56, 112)
    assert pred.depth.shape == pred.confidence.shape == (90, 200)
    assert pred.depth.dtype == pred.confidence.dtype == np.float32
    assert (pred.depth > 0).all() and (pred.confidence >= 1).all()
    assert pred.intrinsics.shape == (3, 3) and pred.extrinsics.shape == (3, 4)
    raw = model.forward_pixels(torch.zeros(1, 3, h, w))  # any pixels: only sizes matter below
    assert raw.depth.shape == (1, h, w)
    k = pred.intrinsics
    assert k[0, 2] == pytest.approx(100.0) and k[1, 2] == pytest.approx(45.0)  # cx = W0/2, cy = H0/2
    assert k[2].tolist() == [0.0, 0.0, 1.0]
    fov_h, fov_v = pred.fov
    assert fov_h == pytest.approx(np.degrees(2 * np.arctan(200 / (2 * k[0, 0]))), rel=1e-6)
    assert fov_v == pytest.approx(np.degrees(2 * np.arctan(90 / (2 * k[1, 1]))), rel=1e-6)


def test_depth_is_bilinear_resize_of_network_output():
    model = tiny_model()
    image = random_bgr(70, 150, seed=3)
    from depthgraph.models.depth_anything_v3.preprocess import preprocess, to_rgb_uint8

    pixels = preprocess(to_rgb_uint8(image), 112)
    raw = model.forward_pixels(torch.from_numpy(pixels)[None])
    expected = torch.nn.functional.interpolate(
        raw.depth[None], size=(70, 150), mode="bilinear", align_corners=False
    )[0, 0]
    (depth,) = model(image)
    assert isinstance(depth, torch.Tensor) and depth.device.type == "cpu"
    torch.testing.assert_close(depth, expected, rtol=0, atol=0)
    # intrinsics scale by W0/w and H0/h
    (pred,) = model.predict(image)
    k = raw.intrinsics[0].numpy()
    h, w = pixels.shape[1:]
    np.testing.assert_allclose(pred.intrinsics[0, 0], k[0, 0] * 150 / w, rtol=1e-6)
    np.testing.assert_allclose(pred.intrinsics[1, 1], k[1, 1] * 70 / h, rtol=1e-6)


def test_batched_equals_single_and_mixed_sizes_keep_order():
    model = tiny_model()
    images = [random_bgr(80, 120, 1), random_bgr(80, 120, 2), random_bgr(120, 80, 3), random_bgr(80, 120, 4)]
    singles = [model.predict(img)[0] for img in images]
    for batch_size in (None, 2, 3):
        batched = model.predict(images, batch_size=batch_size)
        assert [p.depth.shape for p in batched] == [img.shape[:2] for img in images]
        for one, many in zip(singles, batched):
            np.testing.assert_allclose(many.depth, one.depth, rtol=1e-5, atol=0)
            np.testing.assert_allclose(many.confidence, one.confidence, rtol=1e-5, atol=0)
            np.testing.assert_allclose(many.intrinsics, one.intrinsics, rtol=1e-5)
    # different images really give different depth (the comparison above is not vacuous)
    assert not np.allclose(singles[0].depth, singles[1].depth)
    assert model.predict(images[:2])[1].depth.shape == (80, 120)


def test_one_instance_is_safe_from_several_threads():
    model = tiny_model()
    images = [random_bgr(60 + 10 * i, 100, seed=i) for i in range(4)]
    expected = [model.predict(img)[0].depth for img in images]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            results[t] = [model.predict(images[(t + r) % 4])[0].depth for r in range(3)]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    for t, outs in results.items():
        for r, depth in enumerate(outs):
            np.testing.assert_allclose(depth, expected[(t + r) % 4], rtol=1e-5)
    assert len(results) == 4


def test_input_kinds_agree(tmp_path: Path):
    from PIL import Image

    model = tiny_model()
    bgr = random_bgr(64, 96, seed=5)
    rgb = bgr[:, :, ::-1].copy()
    path = tmp_path / "img.png"
    cv2.imwrite(str(path), bgr)
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 7, np.uint8)])
    u16 = bgr.astype(np.uint16) * 257
    base = model(bgr)[0]
    for other in (Image.fromarray(rgb), str(path), path, bgra, u16):
        torch.testing.assert_close(model(other)[0], base, rtol=0, atol=0)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    gray3 = np.repeat(gray[:, :, None], 3, axis=2)
    torch.testing.assert_close(model(gray)[0], model(gray3)[0], rtol=0, atol=0)
    assert not torch.equal(model(rgb)[0], base)  # channel order matters


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
        (np.zeros((4, 8, 8, 3), np.uint8), "shape"),
        (np.zeros((8, 8, 5), np.uint8), "shape"),
        (np.zeros((8, 8, 3), np.int64), "dtype"),
        ("/nonexistent/picture.png", "not found"),
        (12345, "expected a numpy array"),
    ],
)
def test_bad_images_name_the_index(bad, needle):
    model = tiny_model()
    with pytest.raises(ValueError) as info:
        model.predict([random_bgr(20, 20), bad])
    assert "image 1" in str(info.value) and needle in str(info.value)


def test_unreadable_file_names_index_and_path(tmp_path: Path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"image 0: cannot read an image from .*broken\.png"):
        tiny_model().predict(str(broken))


def test_model_ids_and_properties():
    assert parse_model_id("depth-anything-v3/small") == "small"
    assert parse_model_id("DA3-BASE") == "base"
    with pytest.raises(ValueError) as info:
        parse_model_id("depth-anything-v2/large")
    message = str(info.value)
    for known in ("depth-anything-v3/small", "depth-anything-v3/base", "da3-small", "da3-base"):
        assert known in message
    model = tiny_model()
    assert model.device == "cpu" and model.dtype == torch.float32


def test_bfloat16_backbone_stays_close_to_float32():
    fp32 = tiny_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # emulated bf16 on CPUs without AVX512-BF16
        bf16 = DepthAnything3.from_config(DA3Config.tiny(), device="cpu", dtype="bfloat16", process_res=112)
    assert bf16.dtype == torch.bfloat16
    image = random_bgr(100, 140, seed=9)
    a, b = fp32.predict(image)[0], bf16.predict(image)[0]
    assert a.depth.dtype == b.depth.dtype == np.float32
    rel = np.abs(a.depth - b.depth) / a.depth
    assert np.median(rel) < 0.02
    assert not np.array_equal(a.depth, b.depth)  # the bf16 path really ran


def test_normalize_matches_the_numpy_formula_bit_for_bit():
    from depthgraph.models.depth_anything_v3.preprocess import MEAN, STD, normalize

    rng = np.random.default_rng(3)
    for shape in [(378, 504, 3), (14, 28, 3), (2, 2, 3)]:
        rgb = rng.integers(0, 256, size=shape, dtype=np.uint8)
        for view in (rgb, rgb[:, ::-1]):  # a strided view too
            ref = ((view.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1)
            out = normalize(view)
            assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
            assert np.array_equal(out, ref)
