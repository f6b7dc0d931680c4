"""Deterministic "recipe" weights for DA3 under the official tensor names.

Real DA3 checkpoints cannot be downloaded everywhere (CI, air-gapped machines). The parity
fixtures were produced by the official implementation with weights anyone can regenerate from a
formula; this module regenerates them. Tests, examples and benchmarks use it to exercise the real
loading path: write ``model.safetensors`` under the official names, then load it like a download.

Only numpy and safetensors are imported here (no torch).
"""

from __future__ import annotations

import json
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

_KEYS_DIR = Path(__file__).resolve().parent / "keys"

#: canonical variant name -> (checkpoint model_name, weights folder name)
_VARIANTS = {
    "small": ("da3-small", "DA3-SMALL"),
    "base": ("da3-base", "DA3-BASE"),
    "metric-large": ("da3metric-large", "DA3METRIC-LARGE"),
    "mono-large": ("da3mono-large", "DA3MONO-LARGE"),
}
#: the single-image LARGE checkpoints (plain ViT-L + DPT + sky; see ``large_config``)
LARGE_VARIANTS = ("metric-large", "mono-large")


def canonical_variant(variant: str) -> str:
    """Map ``"small"``, ``"da3-small"``, ``"depth-anything-v3/small"`` (and base) to ``"small"``/``"base"``;
    ``"metric-large"``, ``"da3metric-large"``, ``"DA3METRIC-LARGE"`` (and mono) to ``"metric-large"``/``"mono-large"``."""
    name = str(variant).strip().lower()
    for prefix in ("depth-anything-v3/", "depth-anything/", "da3-", "da3_", "da3"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if name not in _VARIANTS:
        known = ", ".join(repr(v) for v in _VARIANTS)
        raise ValueError(f"unknown DA3 variant {variant!r}; known: {known}")
    return name


@lru_cache(maxsize=None)
def official_keys(variant: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Every official tensor name (``model.`` prefix included) with its shape, in checkpoint order."""
    model_name = _VARIANTS[canonical_variant(variant)][0]
    with open(_KEYS_DIR / f"{model_name}.keys.json", encoding="utf-8") as handle:
        raw = json.load(handle)
    return tuple((name, tuple(int(d) for d in shape)) for name, shape in raw.items())


def recipe_tensor(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The recipe value of one tensor (see the fixtures' README), float32."""
    n = int(np.prod(shape)) if len(shape) else 1
    z = np.random.RandomState(zlib.crc32(name.encode("utf-8"))).standard_normal(n)
    z = z.astype(np.float32).reshape(shape)
    if name.endswith("cam_dec.fc_fov.0.bias"):
        value = 1.0 + 0.02 * z
    elif name.endswith(".bias"):
        value = 0.02 * z
    elif name.endswith(".gamma"):
        value = 0.1 + 0.02 * z
    elif name.endswith(".weight") and len(shape) == 1:
        value = 1.0 + 0.1 * z
    elif name.endswith(".weight"):
        value = z / np.sqrt(n / shape[0])
    else:  # cls_token, camera_token, pos_embed
        value = 0.02 * z
    return np.ascontiguousarray(value, dtype=np.float32)


def is_recipe_state(state: "dict[str, object]", variant: str) -> bool:
    """True when ``state`` (official names, ``model.`` prefix optional; numpy arrays or CPU
    tensors) holds the recipe weights: a few small tensors are compared exactly. A checkpoint
    trained on data never matches them."""
    probes = sorted((int(np.prod(shape)), name, shape) for name, shape in official_keys(variant)
                    if name.endswith(".bias"))[:3]
    for _, name, shape in probes:
        value = state.get(name, state.get(name[len("model."):]))
        if value is None:
            return False
        if hasattr(value, "detach"):  # a torch tensor (this module never imports torch)
            value = value.detach().cpu().float().numpy()
        value = np.asarray(value, dtype=np.float32)
        if value.shape != tuple(shape) or not np.array_equal(value, recipe_tensor(name, shape)):
            return False
    return True


def recipe_state_dict(variant: str) -> dict[str, np.ndarray]:
    """All recipe tensors of ``variant`` ("small"/"base"/"da3-small"/"da3-base"), official names."""
    return {name: recipe_tensor(name, shape) for name, shape in official_keys(variant)}


def checkpoint_config(variant: str) -> dict:
    """A ``config.json`` body shaped like the hub's: ``{"model_name": ..., "config": {...}}``."""
    variant = canonical_variant(variant)
    if variant in LARGE_VARIANTS:
        return {
            "model_name": _VARIANTS[variant][0],
            "config": {
                "backbone": {"name": "vitl", "embed_dim": 1024, "depth": 24, "num_heads": 16,
                             "out_layers": [4, 11, 17, 23], "alt_start": -1, "rope_start": -1,
                             "qknorm_start": -1, "cat_token": False},
                "head": {"name": "dpt", "features": 256, "out_channels": [256, 512, 1024, 1024], "sky": True},
            },
        }  # fmt: skip
    wide = variant == "base"
    return {
        "model_name": _VARIANTS[variant][0],
        "config": {
            "backbone": {
                "name": "vitb" if wide else "vits",
                "embed_dim": 768 if wide else 384,
                "depth": 12,
                "num_heads": 12 if wide else 6,
                "out_layers": [5, 7, 9, 11],
                "alt_start": 4,
                "rope_start": 4,
                "qknorm_start": 4,
            },
            "head": {
                "name": "dualdpt",
                "features": 128 if wide else 64,
                "out_channels": [96, 192, 384, 768] if wide else [48, 96, 192, 384],
            },
            "cam_dec": {"dim_in": 1536 if wide else 768},
        },
    }


def weights_folder_name(variant: str) -> str:
    """The folder name under ``$DEPTHGRAPH_WEIGHTS_DIR`` (``DA3-SMALL``, ``DA3-BASE``,
    ``DA3METRIC-LARGE``, ``DA3MONO-LARGE``)."""
    return _VARIANTS[canonical_variant(variant)][1]


def write_recipe_checkpoint(variant: str, directory: str | Path) -> Path:
    """Write ``<directory>/model.safetensors`` (+ ``config.json``) with the recipe weights.

    Returns the path of the ``model.safetensors`` file. To make ``AutoModel.from_pretrained``
    find it, write into ``<root>/DA3-SMALL`` (or ``DA3-BASE``) and set
    ``DEPTHGRAPH_WEIGHTS_DIR=<root>``, or pass the file/directory as ``weights=``.
    """
    from safetensors.numpy import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.safetensors"
    tmp = directory / "model.safetensors.partial"
    save_file(recipe_state_dict(variant), str(tmp), metadata={"format": "pt"})
    tmp.replace(path)
    with open(directory / "config.json", "w", encoding="utf-8") as handle:
        json.dump(checkpoint_config(variant), handle, indent=2)
    return path
