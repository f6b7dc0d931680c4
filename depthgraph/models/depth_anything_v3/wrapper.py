"""Plumbing shared by the DA3 model wrappers (small/base in :mod:`.model`, LARGE in
:mod:`.large_model`): device and dtype choice, the module tree built without random init, the
strict weights load, and the wrapper state, properties and ``from_config`` both classes use."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from ...malloc_tuning import retain_freed_memory
from .recipe import recipe_tensor
from .weights import PREFIX, load_into, read_checkpoint

_DTYPE_NAMES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}  # fmt: skip


def parse_dtype(dtype: Any, device: torch.device) -> torch.dtype | None:
    """The backbone autocast dtype (``None`` = plain float32)."""
    if dtype is None:
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return None
    if isinstance(dtype, str):
        if dtype.lower() not in _DTYPE_NAMES:
            raise ValueError(f"unknown dtype {dtype!r}; use 'float32', 'bfloat16' or 'float16'")
        dtype = _DTYPE_NAMES[dtype.lower()]
    if dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"unsupported dtype {dtype}; use float32, bfloat16 or float16")
    if device.type == "cpu" and dtype == torch.bfloat16 and not _native_cpu_bf16():
        warnings.warn(
            "dtype=bfloat16 on a CPU without native bf16 kernels (AVX512-BF16 or AMX): "
            "bf16 is emulated here and runs several times slower than float32",
            RuntimeWarning,
            stacklevel=3,
        )
    return None if dtype == torch.float32 else dtype


def _native_cpu_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - older torch
        return False


def pick_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"invalid device {device!r}: {exc}") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        why = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ValueError(f"device {device!r}: CUDA is not available ({why}); use device='cpu'")
    return chosen


def as_list(images: Any) -> list:
    if isinstance(images, (list, tuple)):
        return list(images)
    return [images]


def empty_network(network_class: type, config: Any, device: torch.device) -> Any:
    """Build the module tree without spending time on random init (weights come next)."""
    with torch.device("meta"):
        network = network_class(config)
    return network.to_empty(device=device).eval()


def load_network(
    network_class: type,
    config: Any,
    path: Path,
    device: torch.device,
    *,
    allow_unused: bool = True,
    inspect: Callable[[Any], None] | None = None,
) -> tuple[Any, tuple[str, ...]]:
    """The network for ``config`` with the checkpoint at ``path`` loaded strictly on the CPU
    (``inspect`` sees the raw state first), then moved to ``device``; also the names left
    unloaded (see :func:`.weights.load_into`)."""
    state = read_checkpoint(path)
    if inspect is not None:
        inspect(state)
    network = empty_network(network_class, config, torch.device("cpu"))
    absent = load_into(network, state, path, allow_unused=allow_unused)
    del state
    network = network.to(device)
    network.clear_cache()
    return network, absent


class ModelWrapper:
    """A loaded network plus what every DA3 wrapper keeps: id, device, autocast dtype,
    processing resolution, weights path and load time. Subclasses name ``network_class`` and
    whether a strict load may leave optional tensors unused (``allow_unused``)."""

    network_class: type
    allow_unused: bool = True

    def __init__(
        self,
        network: Any,
        *,
        model_id: str,
        device: torch.device,
        autocast_dtype: torch.dtype | None,
        process_res: int = 504,
        weights_path: Path | None = None,
    ) -> None:
        if device.type == "cpu":
            retain_freed_memory()  # fresh pages cost 2-10 % of a CPU pass otherwise
        self.network = network.eval().requires_grad_(False).optimize_layout()
        self.config = network.cfg
        self.model_id = model_id
        self.variant = network.cfg.variant
        self._device = device
        self._autocast = autocast_dtype
        self.process_res = int(process_res)
        self.weights_path = weights_path
        self.load_seconds: float | None = None

    # --- properties -------------------------------------------------------------------------
    @property
    def device(self) -> str:
        """Device the network runs on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        return str(self._device)

    @property
    def dtype(self) -> torch.dtype:
        """Precision of the backbone (the head, camera decoder and sky rule run in float32)."""
        return self._autocast or torch.float32

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, device={self.device!r}, dtype={self.dtype})"

    # --- construction -----------------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        config: Any,
        *,
        device: str | torch.device | None = None,
        dtype: Any = None,
        process_res: int = 504,
        **extra: Any,
    ):
        """A network of any config with deterministic recipe-formula weights (tests, demos,
        benchmarks); ``extra`` goes to the constructor."""
        dev = pick_device(device)
        network = empty_network(cls.network_class, config, dev)
        state = {n: torch.from_numpy(recipe_tensor(PREFIX + n, tuple(t.shape))) for n, t in network.state_dict().items()}
        load_into(network, state, f"<recipe weights for {config.variant}>", allow_unused=cls.allow_unused)
        network.clear_cache()
        return cls(network, model_id=f"config/{config.variant}", device=dev,
                   autocast_dtype=parse_dtype(dtype, dev), process_res=process_res, **extra)  # fmt: skip
