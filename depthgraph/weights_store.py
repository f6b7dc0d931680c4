"""The local weights directory behind ``depthgraph weights``: list, import, download.

Layout (the one ``AutoModel.from_pretrained`` reads)::

    $DEPTHGRAPH_WEIGHTS_DIR/            (default: ~/.cache/depthgraph/weights)
        DA3-SMALL/model.safetensors  [config.json]
        DA3-BASE/model.safetensors   [config.json]
        DA3METRIC-LARGE/model.safetensors, DA3MONO-LARGE/model.safetensors

Only numpy, safetensors and (for downloads) huggingface_hub are used here: no torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from depthgraph.errors import FatalError
from depthgraph.models.depth_anything_v3.recipe import (
    canonical_variant,
    official_keys,
    weights_folder_name,
)

WEIGHTS_DIR_ENV = "DEPTHGRAPH_WEIGHTS_DIR"
VARIANTS = ("small", "base", "metric-large", "mono-large")
WEIGHTS_FILE = "model.safetensors"


class WeightsError(FatalError):
    """A weights operation failed; the message is one line meant for the user (fatal to a run)."""


def weights_dir() -> Path:
    """The local weights root: ``$DEPTHGRAPH_WEIGHTS_DIR`` or ``~/.cache/depthgraph/weights``.

    The same directory ``AutoModel.from_pretrained`` searches (one definition, in the model package).
    """
    from depthgraph.models.depth_anything_v3.weights import weights_dir as model_weights_dir

    return model_weights_dir()


def hub_repo_id(variant: str) -> str:
    """The Hugging Face repository of a variant (``depth-anything/DA3-SMALL``)."""
    return f"depth-anything/{weights_folder_name(variant)}"


@dataclass(frozen=True)
class WeightsStatus:
    """What the weights directory holds for one variant."""

    variant: str
    path: Path
    present: bool
    size_bytes: int = 0
    tensors_found: int = 0
    tensors_expected: int = 0
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.present and self.problem is None


def _checkpoint_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, read from the safetensors header only (no tensor data)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}


def _optional(name: str) -> bool:
    """Tensors of groups monocular depth does not use (a real file may lack them)."""
    from depthgraph.models.depth_anything_v3.weights import is_unused

    return is_unused(name[len("model."):] if name.startswith("model.") else name)


def _truncation(path: Path) -> str | None:
    """Why a safetensors file is cut short (its header promises more bytes than it holds), or None."""
    import json
    import struct

    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(header_len))
    except (OSError, ValueError, struct.error) as exc:
        return f"not a readable safetensors file ({type(exc).__name__}: {exc})"
    ends = [int(v["data_offsets"][1]) for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v]
    needed = 8 + header_len + (max(ends) if ends else 0)
    if size < needed:
        return f"truncated: the file holds {size} bytes, its header describes {needed}"
    return None


def check_user_weights(path: Path, variant: str) -> Path:
    """A checkpoint file the user named (``--weights``), checked; errors name that file."""
    variant = canonical_variant(variant)
    src = _source_file(Path(path).expanduser())
    _, _, problem = check_checkpoint(src, variant)
    if problem is not None:
        raise WeightsError(f"{src}: {problem}")
    return src


def check_checkpoint(path: Path, variant: str) -> tuple[int, int, str | None]:
    """(tensors found, tensors expected, problem or None) for a ``.safetensors`` file.

    Names and shapes are compared with the official DA3 ones (the ``model.`` prefix optional;
    the groups monocular depth ignores may be absent).
    """
    expected = dict(official_keys(variant))
    try:
        shapes = _checkpoint_shapes(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a usable checkpoint"
        return 0, len(expected), f"not a readable safetensors file ({type(exc).__name__}: {exc})"
    truncated = _truncation(path)
    if truncated:
        return len(shapes), len(expected), truncated
    found = {(k if k in expected else f"model.{k}"): v for k, v in shapes.items()}
    missing = [n for n in expected if n not in found and not _optional(n)]
    if missing:
        return (len(shapes), len(expected),
                f"{len(missing)} of {len(expected)} {weights_folder_name(variant)} tensors missing "
                f"(e.g. '{missing[0]}')")
    for name, shape in expected.items():
        if name in found and tuple(found[name]) != tuple(shape):
            return (len(shapes), len(expected),
                    f"tensor '{name}' has shape {list(found[name])}, {weights_folder_name(variant)} expects "
                    f"{list(shape)} (is it the other model size?)")
    return len(shapes), len(expected), None


def status(variant: str, root: Path | None = None) -> WeightsStatus:
    """The state of one variant's checkpoint in the weights directory."""
    variant = canonical_variant(variant)
    root = weights_dir() if root is None else Path(root)
    path = root / weights_folder_name(variant) / WEIGHTS_FILE
    if not path.is_file():
        return WeightsStatus(variant, path, present=False,
                             tensors_expected=len(official_keys(variant)))
    found, expected, problem = check_checkpoint(path, variant)
    return WeightsStatus(variant, path, True, path.stat().st_size, found, expected, problem)


def list_weights(root: Path | None = None) -> list[WeightsStatus]:
    """The status of every known variant."""
    return [status(v, root) for v in VARIANTS]


def _source_file(source: Path) -> Path:
    if source.is_dir():
        candidate = source / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
        found = sorted(source.glob("*.safetensors"))
        if len(found) == 1:
            return found[0]
        raise WeightsError(f"{source}: no {WEIGHTS_FILE} in this folder")
    if not source.is_file():
        raise WeightsError(f"{source}: no such file")
    return source


def import_weights(source: str | Path, variant: str, root: Path | None = None) -> Path:
    """Check a checkpoint against the official DA3 tensor names and copy it into the store.

    ``source`` is a ``.safetensors`` file or a folder holding ``model.safetensors`` (a hub
    snapshot, for instance); a ``config.json`` next to it is copied too. Returns the new path.
    """
    from depthgraph.output_root import UserFileError, copy_user_file

    variant = canonical_variant(variant)
    src = _source_file(Path(source).expanduser())
    config = src.parent / "config.json"
    for given in (src, config):  # copied without following a link (it could lead anywhere)
        if given.is_symlink():
            raise WeightsError(f"{given}: is a symbolic link; give the file itself")
    _, _, problem = check_checkpoint(src, variant)
    if problem is not None:
        raise WeightsError(f"{src}: {problem}")
    root = weights_dir() if root is None else Path(root)
    target_dir = root / weights_folder_name(variant)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / WEIGHTS_FILE
    try:
        copy_user_file(src, target)
        if os.path.lexists(config):
            copy_user_file(config, target_dir / "config.json")
    except UserFileError as exc:
        raise WeightsError(str(exc)) from None
    return target


def download_weights(variant: str, root: Path | None = None) -> Path:
    """Download a variant's checkpoint from the Hugging Face hub into the store.

    Raises :class:`WeightsError` with one line when offline, when the hub cannot be reached (at
    once: no retries) or when it refuses; the line says whether a checkpoint is already in place.
    """
    from depthgraph.models.depth_anything_v3.weights import hub_reachable

    variant = canonical_variant(variant)
    repo = hub_repo_id(variant)
    root = weights_dir() if root is None else Path(root)
    target_dir = root / weights_folder_name(variant)
    existing = target_dir / WEIGHTS_FILE
    if existing.is_file():
        kept = (f"the checkpoint already at {existing} stays as it is "
                f"({'usable' if status(variant, root).problem is None else 'but it is broken'})")
    else:
        kept = (f"on a machine with internet, download it and run "
                f"'depthgraph weights import PATH --model {variant}'")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if offline or not hub_reachable():
        why = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face hub cannot be reached (no network?)"
        raise WeightsError(f"nothing downloaded: {why}; {kept}.")
    try:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(repo_id=repo, filename=WEIGHTS_FILE, local_dir=str(target_dir)))
        try:
            hf_hub_download(repo_id=repo, filename="config.json", local_dir=str(target_dir))
        except Exception:  # noqa: BLE001 - the config is optional
            pass
    except Exception as exc:  # noqa: BLE001 - network, auth, missing repo
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"could not download {repo}/{WEIGHTS_FILE} ({type(exc).__name__}: {reason}); {kept}."
        ) from exc
    _, _, problem = check_checkpoint(path, variant)
    if problem is not None:
        raise WeightsError(f"downloaded {path} but {problem}")
    return path
