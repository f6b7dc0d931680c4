"""The exported ONNX graph on ONNX Runtime and OpenVINO against the official outputs and our torch
network; the backend switch through AutoModel, the depth block, the CLI and a real server process.

One export of DA3-small (recipe weights) serves the whole module: ``from_pretrained(...,
backend="onnxruntime")`` writes it into the weights folder's export cache, where the OpenVINO
backend, the block, the CLI and the server process find it again.

Bars: the torch parity bars (2e-5 max / 2e-6 median relative on depth and confidence), except
ONNX Runtime's max at 3e-5. Measured on the four DA3-small fixtures (ONNX Runtime 1.32, OpenVINO
2026.4, AMD EPYC CPU, float32): ONNX Runtime depth/confidence max 1.9e-5, median 9.7e-7,
intrinsics 2.5e-7; OpenVINO 7.9e-6, 6.4e-7, 5.1e-7. ONNX Runtime's max sits at 95 % of the
torch bar on this CPU (its own fused LayerNorm, GELU and attention kernels sum in other orders:
the likely source, not traced op by op); 3e-5 keeps CI on other CPUs from failing on float order
while a real error (tanh GELU: 1.4e-4) stays far outside. The float16-weights export moves depth
by about 3e-3 max / 3e-4 median relative, bounded at 1e-2 / 1e-3.
"""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import pytest
import torch
from model_helpers import cases, fixture_image, pretrained, recipe_weights_root, reference, rel_err

from depthgraph.models.depth_anything_v3.preprocess import resize_for_network, to_rgb_uint8

ort = pytest.importorskip("onnxruntime")
# everything but the table and tiny-network tests runs DA3-small: seconds each on a CPU
slow = pytest.mark.slow

MAX_REL = 2e-5
ORT_MAX_REL = 3e-5  # see the module docstring
MEDIAN_REL = 2e-6
INTRINSICS_REL = 2e-6
SMALL = "depth-anything-v3/small"
SMALL_CASES = cases("da3-small")


def _check_maps(actual, expected, what, max_rel=MAX_REL, median_rel=MEDIAN_REL):
    err = rel_err(np.asarray(actual), np.asarray(expected))
    assert err.max() <= max_rel, f"{what}: max relative difference {err.max():.3g}"
    assert np.median(err) <= median_rel, f"{what}: median relative difference {np.median(err):.3g}"


def _check_intrinsics(actual, expected):
    nz = expected != 0
    assert np.all(actual[~nz] == 0)
    assert rel_err(actual[nz], expected[nz]).max() <= INTRINSICS_REL


@pytest.fixture(scope="module")
def weights_env():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(recipe_weights_root("small")))
        patch.setenv("DEPTHGRAPH_DEVICE", "cpu")
        patch.delenv("DEPTHGRAPH_BACKEND", raising=False)
        yield recipe_weights_root("small")


@pytest.fixture(scope="module")
def ort_model(weights_env):
    from depthgraph.models.depth_anything_v3 import AutoModel

    return AutoModel.from_pretrained(SMALL, backend="onnxruntime")


def _network_input(case):
    return resize_for_network(to_rgb_uint8(fixture_image(case["image"])))


def _max_rel(model) -> float:
    return ORT_MAX_REL if model.backend == "onnxruntime" else MAX_REL


def _check_case(model, case, batch):
    ref = reference(case)
    out = model.forward_rgb(batch)
    assert out.depth.shape[1:] == tuple(case["processed_hw"])
    _check_maps(out.depth[0].numpy(), ref["depth"], "depth", _max_rel(model))
    _check_maps(out.confidence[0].numpy(), ref["conf"], "confidence", _max_rel(model))
    _check_intrinsics(out.intrinsics[0].numpy(), ref["intrinsics"])
    return out


# --- the graph -------------------------------------------------------------------------------
@slow
def test_graph_contract_and_export_cache(ort_model, weights_env):
    import onnx

    from depthgraph.models.depth_anything_v3.runtime import exported_path, weights_sha256

    path = ort_model.path
    weights = weights_env / "DA3-SMALL" / "model.safetensors"
    assert path.parent == weights.parent / "onnx"
    assert path.name == f"da3-small-{weights_sha256(weights)[:16]}-opset18-fp32.onnx"
    assert exported_path(weights, "small", opset=17).name.endswith("-opset17-fp32.onnx")
    graph = onnx.load(str(path), load_external_data=False).graph
    (image,) = graph.input
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert image.name == "image" and dims == ["N", "H", "W", 3]
    assert image.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    outputs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.output}
    assert outputs == {"depth": ["N", "H", "W"], "confidence": ["N", "H", "W"], "intrinsics": ["N", 3, 3]}
    # a second load finds the cached file and does not write it again
    from depthgraph.models.depth_anything_v3 import AutoModel

    before = path.stat().st_mtime_ns
    again = AutoModel.from_pretrained(SMALL, backend="onnxruntime")
    assert again.path == path and path.stat().st_mtime_ns == before


@slow
@pytest.mark.parametrize("case", SMALL_CASES, ids=lambda c: c["image"])
def test_onnxruntime_matches_official_outputs(ort_model, case):
    _check_case(ort_model, case, _network_input(case)[None])


@slow
def test_one_file_runs_batches_of_two_at_two_sizes(ort_model):
    torch_model = pretrained("small")
    for case in (SMALL_CASES[0], SMALL_CASES[-1]):
        image = _network_input(case)
        flipped = np.ascontiguousarray(image[:, ::-1])
        out = _check_case(ort_model, case, np.stack([image, flipped]))
        # the second element: our torch network on the same pixels
        from depthgraph.models.depth_anything_v3.preprocess import normalize

        expected = torch_model.forward_pixels(torch.from_numpy(normalize(flipped))[None])
        _check_maps(out.depth[1].numpy(), expected.depth[0].numpy(), "depth, batch element 1", ORT_MAX_REL)
        _check_maps(out.confidence[1].numpy(), expected.confidence[0].numpy(), "confidence, batch element 1",
                    ORT_MAX_REL)
    assert SMALL_CASES[0]["processed_hw"] != SMALL_CASES[-1]["processed_hw"]


@slow
def test_openvino_matches_official_outputs(weights_env, ort_model):
    pytest.importorskip("openvino")
    from depthgraph.models.depth_anything_v3 import AutoModel

    model = AutoModel.from_pretrained(SMALL, backend="openvino")
    assert model.path == ort_model.path  # the same cached file
    for case in (SMALL_CASES[0], SMALL_CASES[-1]):
        image = _network_input(case)
        out = _check_case(model, case, np.stack([image, image]))
        _check_maps(out.depth[1].numpy(), reference(case)["depth"], "depth, batch element 1")


@slow
def test_fp16_export_from_the_cli(weights_env, ort_model, tmp_path):
    from typer.testing import CliRunner

    from depthgraph.cli import app

    target = tmp_path / "da3-small-fp16.onnx"
    weights = weights_env / "DA3-SMALL" / "model.safetensors"
    result = CliRunner().invoke(app, ["export", "onnx", "--model", "small", "--fp16", "-o", str(target),
                                      "--weights", str(weights)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and target.is_file()
    assert target.stat().st_size < 0.55 * ort_model.path.stat().st_size  # float16 weights
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    case = SMALL_CASES[1]
    depth, confidence, intrinsics = session.run(None, {"image": _network_input(case)[None]})
    assert depth.dtype == np.float32
    ref = reference(case)
    _check_maps(depth[0], ref["depth"], "fp16 depth", max_rel=1e-2, median_rel=1e-3)
    _check_maps(confidence[0], ref["conf"], "fp16 confidence", max_rel=1e-2, median_rel=1e-3)
    # and it is really float16: not as close as the float32 file
    assert rel_err(depth[0], ref["depth"]).max() > MAX_REL


def test_export_refuses_a_bad_output_name(weights_env, tmp_path):
    from typer.testing import CliRunner

    from depthgraph.cli import app

    result = CliRunner().invoke(app, ["export", "onnx", "-o", str(tmp_path / "model.bin")])
    assert result.exit_code == 1
    assert "--output" in result.output and ".onnx" in result.output and "Traceback" not in result.output


# --- the backend switch ------------------------------------------------------------------------
def test_unknown_backend_and_unsupported_combinations_are_clear(weights_env, monkeypatch):
    from depthgraph.models import loading
    from depthgraph.models.depth_anything_v3 import AutoModel

    with pytest.raises(ValueError, match="unknown backend 'tensorrt'.*torch, onnxruntime, openvino"):
        AutoModel.from_pretrained(SMALL, backend="tensorrt")
    with pytest.raises(ValueError, match="runs on the CPU"):
        AutoModel.from_pretrained(SMALL, backend="onnxruntime", device="cuda")
    monkeypatch.setenv("DEPTHGRAPH_BACKEND", "bogus")
    with pytest.raises(ValueError, match=r"\$DEPTHGRAPH_BACKEND: unknown backend 'bogus'"):
        loading.get_model(SMALL)


@slow
def test_depth_block_honours_the_backend_setting(weights_env, ort_model, monkeypatch):
    from depthgraph import Workflow
    from depthgraph.models import loading

    monkeypatch.setenv("DEPTHGRAPH_BACKEND", "onnxruntime")
    loading.clear_model_cache()
    try:
        definition = {
            "version": "1.0",
            "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": [{"type": "depthgraph/depth_estimation@v1", "name": "da3", "images": "$inputs.image",
                       "model_version": SMALL}],
            "outputs": [{"type": "JsonField", "name": n, "selector": f"$steps.da3.{n}"}
                        for n in ("depth", "confidence", "intrinsics")],
        }
        bgr = fixture_image(SMALL_CASES[1]["image"])
        (out,) = Workflow.from_definition(definition).run(image=bgr)
        assert loading.loaded_models() == [(SMALL, "onnxruntime/cpu")]
        expected = pretrained("small").predict(bgr)[0]
        _check_maps(np.asarray(out["depth"]), expected.depth, "block depth", ORT_MAX_REL)
        _check_maps(np.asarray(out["confidence"]), expected.confidence, "block confidence", ORT_MAX_REL)
        np.testing.assert_allclose(np.asarray(out["intrinsics"]), expected.intrinsics, rtol=INTRINSICS_REL)
    finally:
        loading.clear_model_cache()


@slow
def test_exported_model_refuses_several_views_and_bad_sizes(ort_model):
    with pytest.raises(ValueError, match="need the torch backend"):
        ort_model.predict_scene([np.zeros((28, 28, 3), np.uint8)] * 2)
    with pytest.raises(ValueError, match="image size 30x28: height and width must be positive multiples of 14"):
        ort_model.forward_rgb(np.zeros((1, 30, 28, 3), np.uint8))


@slow
def test_cli_predict_backend_onnxruntime_gives_torch_outputs(weights_env, ort_model, tmp_path):
    import cv2
    from typer.testing import CliRunner

    from depthgraph.cli import app
    from depthgraph.models import loading

    photo = tmp_path / "photo.png"
    assert cv2.imwrite(str(photo), fixture_image(SMALL_CASES[2]["image"]))
    depths = {}
    for backend in ("torch", "onnxruntime"):
        loading.clear_model_cache()
        out = tmp_path / backend
        old = os.environ.get("DEPTHGRAPH_BACKEND")
        try:
            result = CliRunner().invoke(app, ["predict", str(photo), "-o", str(out), "--backend", backend])
        finally:  # --backend sets the variable for the process (its children inherit it)
            os.environ.pop("DEPTHGRAPH_BACKEND", None) if old is None else os.environ.update(DEPTHGRAPH_BACKEND=old)
        assert result.exit_code == 0, result.output
        depths[backend] = np.load(out / "photo" / "depth.npy")
        intrinsics = json.loads((out / "photo" / "results.json").read_text())["outputs"]["intrinsics"]
        depths[backend + "-k"] = np.array(intrinsics)
    loading.clear_model_cache()
    _check_maps(depths["onnxruntime"], depths["torch"], "CLI depth", ORT_MAX_REL)
    np.testing.assert_allclose(depths["onnxruntime-k"], depths["torch-k"], rtol=INTRINSICS_REL)
    bad = CliRunner().invoke(app, ["predict", str(photo), "-o", str(tmp_path / "x"), "--backend", "tensorrt"])
    assert bad.exit_code == 2 and "tensorrt" in bad.output


@slow
def test_server_process_with_onnxruntime_backend(weights_env, ort_model):
    import httpx
    from cli_helpers import serve_process

    from depthgraph.engine.serialization import array_from_json

    case = SMALL_CASES[3]
    image = fixture_image(case["image"])
    import cv2

    ok, png = cv2.imencode(".png", image)
    assert ok
    body = {
        "specification": {
            "version": "1.0",
            "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": [{"type": "depthgraph/depth_estimation@v1", "name": "da3", "images": "$inputs.image",
                       "model_version": SMALL}],
            "outputs": [{"type": "JsonField", "name": n, "selector": f"$steps.da3.{n}"}
                        for n in ("depth", "intrinsics")],
        },
        "inputs": {"image": {"type": "base64", "value": base64.b64encode(png.tobytes()).decode()}},
    }
    env = dict(os.environ, DEPTHGRAPH_BACKEND="onnxruntime")
    with serve_process(env=env) as (base, _process):
        response = httpx.post(f"{base}/workflows/run", json=body, timeout=120)
        assert response.status_code == 200, response.text
        (out,) = response.json()["outputs"]
        info = httpx.get(f"{base}/info", timeout=10).json()
    assert info["backend"] == "onnxruntime"
    assert info["loaded_models"] == [{"model_version": SMALL, "device": "onnxruntime/cpu"}]
    expected = pretrained("small").predict(image)[0]
    _check_maps(array_from_json(out["depth"]), expected.depth, "server depth", ORT_MAX_REL)
    np.testing.assert_allclose(np.array(out["intrinsics"]), expected.intrinsics, rtol=INTRINSICS_REL)


def test_tiny_network_export_is_dynamic_in_batch_and_size(tmp_path):
    """A tiny-config export: batch 1 and 2, several sizes, and 518 x 518 (the position grid's
    own size, where the network uses its table unresized) against the torch network."""
    from model_helpers import tiny_model

    from depthgraph.models.depth_anything_v3.preprocess import normalize

    model = tiny_model(112)
    path = model.export_onnx(tmp_path / "tiny.onnx", opset=17)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for n, h, w in [(1, 518, 518), (2, 56, 84), (1, 98, 42), (2, 14, 14)]:
        image = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
        depth, confidence, intrinsics = session.run(None, {"image": image})
        expected = model.forward_pixels(torch.from_numpy(np.stack([normalize(i) for i in image])))
        assert depth.shape == confidence.shape == (n, h, w) and intrinsics.shape == (n, 3, 3)
        # float-order noise (measured: max 2.3e-5 at 518 x 518 with these weights, a little
        # above the fixtures' 2e-5 bar); the table test below pins the 37 x 37 special case
        _check_maps(depth, expected.depth.numpy(), f"depth {n}x{h}x{w}", max_rel=5e-5)
        _check_maps(confidence, expected.confidence.numpy(), f"confidence {n}x{h}x{w}", max_rel=5e-5)
        np.testing.assert_allclose(intrinsics, expected.intrinsics.numpy(), rtol=INTRINSICS_REL)
    with pytest.raises(ValueError, match="opset 12 is too old"):
        model.export_onnx(tmp_path / "old.onnx", opset=12)


def test_lazy_export_inside_a_run_goes_to_its_own_folder(tmp_path):
    """A backend exports lazily, often inside a run whose output root is in force (`predict
    --backend onnxruntime` on a cold cache): the file goes to the cache folder all the same, and
    nothing lands in the run's outputs. (The confinement refused it at first: the README's
    command failed as written.)"""
    from model_helpers import tiny_model

    from depthgraph.output_root import writing_under

    model = tiny_model(112)
    with writing_under(tmp_path / "run-outputs"):
        path = model.export_onnx(tmp_path / "cache" / "tiny.onnx", opset=17)
    assert path == tmp_path / "cache" / "tiny.onnx" and path.is_file()
    assert list((tmp_path / "run-outputs").iterdir()) == []
    assert ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0].name == "image"


# --- the graph versions of the size-dependent tables ------------------------------------------
@pytest.mark.parametrize("ph, pw", [(2, 3), (20, 36), (37, 37), (41, 13)])
def test_graph_tables_equal_the_network_tables(ph, pw):
    from depthgraph.models.depth_anything_v3.config import DA3Config
    from depthgraph.models.depth_anything_v3.export import _pos_embed_table, _rope_table, _uv_table
    from depthgraph.models.depth_anything_v3.head import uv_pos_embed

    vit = pretrained("small").network.backbone.pretrained
    tph, tpw = torch.tensor(ph), torch.tensor(pw)
    with torch.no_grad():
        np.testing.assert_allclose(_pos_embed_table(vit, tph, tpw).numpy(),
                                   vit._pos_embed(ph, pw, torch.device("cpu")).numpy(), atol=2e-6)
        for flat in (False, True):
            ours = _rope_table(vit, tph, tpw, flat)
            theirs = vit._rope(ph, pw, flat, torch.device("cpu"))
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
        h, w = ph * 2, pw * 2
        aspect = torch.tensor(w / h)
        np.testing.assert_allclose(_uv_table(64, torch.tensor(h), torch.tensor(w), aspect).numpy(),
                                   uv_pos_embed(64, h, w, w / h).numpy(), atol=1e-6)
    assert DA3Config.small().pos_grid == 37
