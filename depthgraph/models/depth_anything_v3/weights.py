"""Finding DA3 checkpoints and loading them strictly under the official tensor names.

Resolution order: the ``weights=`` argument (a ``model.safetensors`` file, a ``.pt``/``.pth``
state dict, or a directory holding ``model.safetensors``), then the local weights directory
(:func:`weights_dir`: ``$DEPTHGRAPH_WEIGHTS_DIR``, else ``~/.cache/depthgraph/weights``) at
``DA3-SMALL/model.safetensors`` (``DA3-BASE`` likewise), then the Hugging Face hub
(``depth-anything/DA3-SMALL`` / ``DA3-BASE``), cached by ``huggingface_hub``.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Mapping

import numpy as np

from depthgraph.errors import FatalError

from .recipe import weights_folder_name

PREFIX = "model."

#: Checkpoint groups that monocular depth does not use: the camera *encoder* (pose-conditioned
#: input only) and the auxiliary ray branch of the head (ray-based pose only). They may be
#: present or absent (a real file may store the LayerNorm shared by the four
#: ``output_conv2_aux.{0..3}.2`` entries once, as ``output_conv2_aux.0.2.*``). The camera
#: encoder is part of the network: when a file has any of its tensors it must have all of them
#: (strict), and when it has none :func:`load_into` reports it absent (no known cameras then).
UNUSED_GROUPS: tuple[str, ...] = (r"^cam_enc\.", r"^head\.scratch\.[^.]*_aux(\.|$)")
_UNUSED_RE = re.compile("|".join(UNUSED_GROUPS))

HUB_REPOS = {
    "small": "depth-anything/DA3-SMALL",
    "base": "depth-anything/DA3-BASE",
    "metric-large": "depth-anything/DA3METRIC-LARGE",
    "mono-large": "depth-anything/DA3MONO-LARGE",
}
WEIGHTS_ENV = "DEPTHGRAPH_WEIGHTS_DIR"
DEFAULT_WEIGHTS_DIR = "~/.cache/depthgraph/weights"

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "F64": np.float64}


class WeightsError(RuntimeError, FatalError):
    """A checkpoint cannot be found or does not fit the network (names the file and tensor).

    Fatal: every image of a run would fail the same way."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """No checkpoint anywhere in the resolution order."""


class StandInWeightsWarning(UserWarning):
    """The checkpoint loaded is the deterministic recipe (tests, CI), not trained weights."""


def is_unused(name: str) -> bool:
    """True for tensors (without the ``model.`` prefix) of the groups monocular depth ignores."""
    return _UNUSED_RE.search(name) is not None


def weights_dir() -> Path:
    """The local weights directory: ``$DEPTHGRAPH_WEIGHTS_DIR``, else ``~/.cache/depthgraph/weights``."""
    return Path(os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS_DIR).expanduser()


def how_to_get(variant: str) -> str:
    """Instructions for putting the weights where ``from_pretrained`` finds them."""
    folder = weights_folder_name(variant)
    repo = HUB_REPOS[variant]
    source = f"${WEIGHTS_ENV}" if os.environ.get(WEIGHTS_ENV) else f"the default; set ${WEIGHTS_ENV} to change it"
    where = f"{weights_dir() / folder / 'model.safetensors'} ({source})"
    return (
        f"put the checkpoint at {where}, or pass weights='path/to/model.safetensors'. "
        f"Get it on a machine with internet access with: "
        f"hf download {repo} model.safetensors config.json --local-dir {folder} "
        f"(huggingface_hub's command; or from https://huggingface.co/{repo}), then copy it over "
        f"or run 'depthgraph weights import {folder} --model {variant}'."
    )


def _local_candidate(path: Path) -> Path:
    if path.is_dir():
        for name in ("model.safetensors", "model.pt", "model.pth", "pytorch_model.bin"):
            if (path / name).is_file():
                return path / name
        raise WeightsNotFoundError(f"{path}: directory holds no model.safetensors")
    if not path.exists():
        raise WeightsNotFoundError(f"{path}: weights file not found")
    return path


def resolve_weights(variant: str, weights: str | os.PathLike | None = None, api_key: str | None = None) -> Path:
    """The checkpoint path for ``variant`` following the resolution order above."""
    if weights is not None:
        return _local_candidate(Path(weights).expanduser())
    candidate = weights_dir() / weights_folder_name(variant) / "model.safetensors"
    if candidate.is_file():
        return candidate
    return _download(variant, api_key)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _download(variant: str, api_key: str | None) -> Path:
    repo = HUB_REPOS[variant]
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise WeightsNotFoundError(f"no local weights for {repo} and huggingface_hub is missing; {how_to_get(variant)}") from exc
    cache_dir = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None
    )
    offline = _offline()
    try:  # a cache hit needs no network
        return Path(hf_hub_download(repo, "model.safetensors", token=api_key, cache_dir=cache_dir, local_files_only=True))
    except Exception:
        pass
    if offline:
        state = "offline (HF_HUB_OFFLINE is set) and not in the hub cache"
    elif not _hub_reachable():
        # huggingface_hub retries a failed name lookup for ~25 s; a closed network fails now
        state = "the hub cannot be reached (no network?) and the file is not in the hub cache"
    else:
        try:
            return Path(hf_hub_download(repo, "model.safetensors", token=api_key, cache_dir=cache_dir))
        except Exception as exc:  # network errors, missing repo, auth...
            state = f"download failed ({type(exc).__name__}: {exc})"
    raise WeightsNotFoundError(f"no weights for {weights_folder_name(variant)}: {state}; {how_to_get(variant)}") from None


def _hub_reachable(timeout: float = 3.0) -> bool:
    """True when the hub's host resolves and accepts a TCP connection within ``timeout``."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


#: public name (the weights store's download checks it before asking the hub)
hub_reachable = _hub_reachable


# --- reading ------------------------------------------------------------------------------------


def _read_safetensors(path: Path) -> dict[str, "object"]:
    """Read every tensor after validating the header ourselves, so a truncated or corrupt file
    gives an error naming the file and the first tensor that is broken."""
    import torch
    from safetensors import safe_open

    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise WeightsError(f"{path}: not a safetensors file (only {size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100_000_000:
            raise WeightsError(f"{path}: corrupt safetensors header (claims {n} bytes, file has {size})")
        try:
            header = json.loads(handle.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WeightsError(f"{path}: corrupt safetensors header ({exc})") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: corrupt safetensors header (not a JSON object)")
    data_size = size - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            start, end = info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise WeightsError(f"{path}: tensor {name!r}: corrupt header entry {info!r}") from None
        if end > data_size:
            raise WeightsError(
                f"{path}: tensor {name!r}: file is truncated (its data ends at byte {end} of "
                f"{data_size} present)"
            )
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                try:
                    tensors[name] = f.get_tensor(name)
                except Exception as exc:
                    raise WeightsError(f"{path}: tensor {name!r}: cannot be read ({exc})") from None
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"{path}: cannot be read as safetensors ({exc})") from None
    return tensors


def _read_torch(path: Path) -> dict[str, "object"]:
    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: cannot be read as a torch state dict ({type(exc).__name__}: {exc})") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict) and len(obj) <= 3:
            obj = obj[key]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a state dict (name -> tensor), found {type(obj).__name__}")
    for name, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"{path}: tensor {name!r}: expected a tensor, found {type(value).__name__}")
    return dict(obj)


def read_checkpoint(path: str | os.PathLike) -> dict[str, "object"]:
    """All tensors of a ``.safetensors`` or ``.pt``/``.pth``/``.bin`` checkpoint, as torch tensors."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    return _read_torch(path)


def load_into(
    module, state: Mapping[str, "object"], source: str | os.PathLike, *, allow_unused: bool = True
) -> tuple[str, ...]:
    """Copy ``state`` (official names, ``model.`` prefix optional) into ``module`` strictly.

    Every parameter of ``module`` must be present with its exact shape, except that an optional
    group (:data:`UNUSED_GROUPS`, e.g. the camera encoder) may be missing AS A WHOLE; every
    tensor in ``state`` must be used unless it belongs to :data:`UNUSED_GROUPS`. With
    ``allow_unused=False`` (the LARGE checkpoints, which have no such groups) every tensor must
    be used and every parameter present. Errors name ``source`` and the tensor. Returns the
    names of the module's parameters left unloaded (those of wholly absent optional groups).
    """
    import torch

    expected = module.state_dict()
    prefixed = any(k.startswith(PREFIX) for k in state)
    found: dict[str, torch.Tensor] = {}
    unexpected = []
    for name, tensor in state.items():
        short = name[len(PREFIX):] if prefixed and name.startswith(PREFIX) else name
        if short in expected:
            found[short] = tensor
        elif not (allow_unused and is_unused(short)):
            unexpected.append(name)
    shown = PREFIX if prefixed else ""
    absent = tuple(k for k in expected if k not in found and is_unused(k)) if allow_unused else ()
    if absent and any(k in found for k in expected if is_unused(k) and k.split(".")[0] == absent[0].split(".")[0]):
        raise WeightsError(f"{source}: missing tensor {shown + absent[0]!r} (the file has only part of its group)")
    expected = {k: v for k, v in expected.items() if k not in absent}
    missing = [shown + k for k in expected if k not in found]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise WeightsError(f"{source}: missing tensor {missing[0]!r}{more}")
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise WeightsError(f"{source}: unexpected tensor {unexpected[0]!r}{more}")
    for short, target in expected.items():
        tensor = found[short]
        if tuple(tensor.shape) != tuple(target.shape):
            raise WeightsError(
                f"{source}: tensor {shown + short!r} has shape {tuple(tensor.shape)}, "
                f"the network expects {tuple(target.shape)}"
            )
        if not tensor.is_floating_point():
            raise WeightsError(f"{source}: tensor {shown + short!r} has dtype {tensor.dtype}, expected a float type")
        if not torch.isfinite(tensor).all():
            raise WeightsError(f"{source}: tensor {shown + short!r} contains NaN or infinite values")
    with torch.no_grad():
        for short, target in expected.items():
            target.copy_(found[short].to(target.dtype))
    return absent
