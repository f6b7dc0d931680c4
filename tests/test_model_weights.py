"""Weights resolution and strict loading: every error names the file and the tensor."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import recipe_weights_root
from safetensors.numpy import save_file

from depthgraph.models.depth_anything_v3 import AutoModel
from depthgraph.models.depth_anything_v3.recipe import official_keys, recipe_state_dict
from depthgraph.models.depth_anything_v3.weights import WeightsError, WeightsNotFoundError, is_unused


@lru_cache(maxsize=1)
def _small_state() -> dict[str, np.ndarray]:
    return recipe_state_dict("small")


def _write(tmp_path: Path, state: dict[str, np.ndarray]) -> Path:
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    return path


def _load(weights) -> object:
    return AutoModel.from_pretrained("da3-small", weights=weights, device="cpu")


def test_official_names_cover_the_network_except_the_unused_groups():
    names = [n for n, _ in official_keys("small")]
    assert len(names) == 443
    unused = [n for n in names if is_unused(n[len("model.") :])]
    assert unused and all(".cam_enc." in n or "_aux" in n for n in unused)
    assert any(n.startswith("model.cam_enc.") for n in unused)
    assert any(n.startswith("model.head.scratch.output_conv2_aux.") for n in unused)


def test_loads_from_file_directory_and_env(tmp_path, monkeypatch):
    root = recipe_weights_root("small")
    file = root / "DA3-SMALL" / "model.safetensors"
    a = _load(file)
    b = _load(file.parent)
    assert a.weights_path == b.weights_path == file
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(root))
    c = AutoModel.from_pretrained("depth-anything-v3/small", device="cpu")
    assert c.weights_path == file and c.model_id == "depth-anything-v3/small" and c.variant == "small"
    for name, p in a.network.state_dict().items():
        torch.testing.assert_close(p, c.network.state_dict()[name], rtol=0, atol=0)


def test_unused_groups_may_be_absent_and_shared_layernorm_stored_once(tmp_path):
    state = {k: v for k, v in _small_state().items() if ".cam_enc." not in k}
    for i in (1, 2, 3):  # the four output_conv2_aux.{i}.2 share one LayerNorm: keep only .0.2
        for leaf in ("weight", "bias"):
            del state[f"model.head.scratch.output_conv2_aux.{i}.2.{leaf}"]
    model = _load(_write(tmp_path, state))
    assert model.variant == "small"


def test_torch_state_dict_file(tmp_path):
    state = {k: torch.from_numpy(v) for k, v in _small_state().items()}
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    model = _load(path)
    np.testing.assert_array_equal(
        model.network.head.norm.weight.numpy(), _small_state()["model.head.norm.weight"]
    )


def test_missing_tensor(tmp_path):
    state = dict(_small_state())
    del state["model.backbone.pretrained.blocks.7.attn.q_norm.weight"]
    path = _write(tmp_path, state)
    with pytest.raises(WeightsError, match=r"missing tensor 'model\.backbone\.pretrained\.blocks\.7\.attn\.q_norm\.weight'") as info:
        _load(path)
    assert str(path) in str(info.value)


def test_unexpected_tensor(tmp_path):
    state = dict(_small_state())
    state["model.head.extra_layer.weight"] = np.zeros(3, np.float32)
    path = _write(tmp_path, state)
    with pytest.raises(WeightsError, match=r"unexpected tensor 'model\.head\.extra_layer\.weight'") as info:
        _load(path)
    assert str(path) in str(info.value)


def test_wrong_shape(tmp_path):
    state = dict(_small_state())
    state["model.cam_dec.fc_fov.0.weight"] = np.zeros((3, 768), np.float32)
    path = _write(tmp_path, state)
    with pytest.raises(WeightsError, match=r"'model\.cam_dec\.fc_fov\.0\.weight' has shape \(3, 768\).*\(2, 768\)") as info:
        _load(path)
    assert str(path) in str(info.value)


def test_non_finite_values(tmp_path):
    state = dict(_small_state())
    bad = state["model.head.norm.bias"].copy()
    bad[3] = np.nan
    state["model.head.norm.bias"] = bad
    with pytest.raises(WeightsError, match=r"'model\.head\.norm\.bias' contains NaN"):
        _load(_write(tmp_path, state))


def test_base_weights_into_small_model_is_a_shape_error():
    base_file = recipe_weights_root("base") / "DA3-BASE" / "model.safetensors"
    with pytest.raises(WeightsError, match="has shape"):
        _load(base_file)


def test_truncated_file_names_file_and_tensor(tmp_path):
    src = recipe_weights_root("small") / "DA3-SMALL" / "model.safetensors"
    path = tmp_path / "model.safetensors"
    with open(src, "rb") as fin, open(path, "wb") as fout:
        fout.write(fin.read(src.stat().st_size // 2))
    with pytest.raises(WeightsError) as info:
        _load(path)
    message = str(info.value)
    assert str(path) in message and "truncated" in message and "tensor 'model." in message


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}\x00\x00\x00\x00\x00\x00\x00"])
def test_corrupt_file_names_file(tmp_path, content):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError) as info:
        _load(path)
    assert str(path) in str(info.value)


def test_corrupt_torch_file(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    with pytest.raises(WeightsError, match="cannot be read as a torch state dict") as info:
        _load(path)
    assert str(path) in str(info.value)


def test_missing_weights_argument(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="not found"):
        _load(tmp_path / "nope.safetensors")
    with pytest.raises(WeightsNotFoundError, match="no model.safetensors"):
        _load(tmp_path)


def test_offline_with_nothing_local_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path / "weights"))  # exists? no file in it
    with pytest.raises(WeightsNotFoundError) as info:
        AutoModel.from_pretrained("depth-anything-v3/base", device="cpu")
    message = str(info.value)
    assert str(tmp_path / "weights" / "DA3-BASE" / "model.safetensors") in message
    assert "depth-anything/DA3-BASE" in message and "hf download" in message
    # without the variable, the default directory under the home directory is searched and named
    monkeypatch.delenv("DEPTHGRAPH_WEIGHTS_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(WeightsNotFoundError) as info:
        AutoModel.from_pretrained("da3-small", device="cpu")
    default = tmp_path / "home" / ".cache" / "depthgraph" / "weights" / "DA3-SMALL" / "model.safetensors"
    assert str(default) in str(info.value) and "set $DEPTHGRAPH_WEIGHTS_DIR" in str(info.value)


def test_default_weights_directory_is_searched(tmp_path, monkeypatch):
    """With DEPTHGRAPH_WEIGHTS_DIR unset, ~/.cache/depthgraph/weights/DA3-SMALL is used."""
    from depthgraph.models.depth_anything_v3.weights import resolve_weights, weights_dir

    monkeypatch.delenv("DEPTHGRAPH_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert weights_dir() == tmp_path / ".cache" / "depthgraph" / "weights"
    target = weights_dir() / "DA3-SMALL" / "model.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"placeholder: resolution only looks for the file")
    assert resolve_weights("small") == target


def test_unreachable_hub_fails_fast(tmp_path, monkeypatch):
    """Not offline by flag, but the hub cannot be reached: one clear error, no 25 s of retries."""
    import time

    from depthgraph.models.depth_anything_v3 import weights as weights_module

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setattr(weights_module, "_hub_reachable", lambda timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match="cannot be reached"):
        AutoModel.from_pretrained("da3-small", device="cpu")
    assert time.perf_counter() - start < 10


def test_offline_uses_the_hub_cache(tmp_path, monkeypatch):
    """A file already in the huggingface_hub cache loads with HF_HUB_OFFLINE=1."""
    cache = tmp_path / "hub"
    snap = cache / "models--depth-anything--DA3-SMALL" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (cache / "models--depth-anything--DA3-SMALL" / "refs").mkdir()
    (cache / "models--depth-anything--DA3-SMALL" / "refs" / "main").write_text("0" * 40)
    src = recipe_weights_root("small") / "DA3-SMALL" / "model.safetensors"
    shutil.copy(src, snap / "model.safetensors")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("DEPTHGRAPH_WEIGHTS_DIR", raising=False)
    model = AutoModel.from_pretrained("da3-small", device="cpu", api_key="unused-token")
    assert model.weights_path == snap / "model.safetensors"


def test_config_json_written_like_the_hub():
    config = json.loads((recipe_weights_root("small") / "DA3-SMALL" / "config.json").read_text())
    assert config["model_name"] == "da3-small" and "config" in config


def test_bad_arguments():
    with pytest.raises(ValueError, match="known model ids"):
        AutoModel.from_pretrained("da3-giant")
    with pytest.raises(ValueError, match="unknown dtype"):
        AutoModel.from_pretrained("da3-small", dtype="int8", device="cpu")
