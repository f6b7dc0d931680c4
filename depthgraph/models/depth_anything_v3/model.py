"""User-facing API: ``AutoModel.from_pretrained(...)``, ``model(images)``, ``model.predict(...)``."""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .config import DA3Config
from .network import DA3Network
from .pose_conditioning import aligned_outputs, check_units, condition_on_cameras
from .pose_input import check_cameras
from .preprocess import preprocess, to_rgb_uint8
from .recipe import LARGE_VARIANTS, canonical_variant, is_recipe_state
from .reference import DEFAULT_STRATEGY, Reference, check_reference
from .scene import ScenePrediction, build_scene_prediction, prepare_views
from .weights import StandInWeightsWarning, load_into, read_checkpoint, resolve_weights
from .wrapper import _DTYPE_NAMES, ModelWrapper, as_list, empty_network, load_network, parse_dtype, pick_device
from .wrapper import pick_device as _pick_device  # noqa: F401  (the old name)

if TYPE_CHECKING:  # pragma: no cover
    from .runtime import ExportedDepthModel

MODEL_IDS = {
    "depth-anything-v3/small": "small",
    "depth-anything-v3/base": "base",
    "da3-small": "small",
    "da3-base": "base",
    "depth-anything-v3/metric-large": "metric-large",
    "depth-anything-v3/mono-large": "mono-large",
    "da3metric-large": "metric-large",
    "da3mono-large": "mono-large",
    "metric-large": "metric-large",
    "mono-large": "mono-large",
}

@dataclass
class DepthPrediction:
    """Everything DA3 predicts for one image, at the INPUT image's size (H0, W0).

    metric-large / mono-large have no confidence and no pose (``None``); their ``intrinsics``
    are the ones USED (given, from ``fov``, or estimated by DA3-SMALL: ``intrinsics_source``),
    ``None`` for mono-large unless given.
    """

    depth: np.ndarray  # (H0, W0) float32, larger = farther; metres when unit == "m"
    confidence: np.ndarray  # (H0, W0) float32, >= 1 (None for the LARGE checkpoints)
    intrinsics: np.ndarray  # (3, 3) float32, pixels of the input image
    fov: tuple[float, float]  # (horizontal, vertical) degrees
    processed_size: tuple[int, int]  # (h, w) the network saw
    extrinsics: np.ndarray  # (3, 4) float32 world-to-camera (arbitrary for one view)
    unit: str = "relative"  # "m" (metric-large given a focal length) or "relative"
    sky: np.ndarray | None = None  # (H0, W0) bool, sky score >= 0.5 (LARGE checkpoints only)
    sky_score: np.ndarray | None = None  # (H0, W0) float32 sky score, resized bilinear
    sky_fill: float | None = None  # depth given to sky pixels at network resolution (before metres)
    intrinsics_source: str | None = None  # "given", "fov", "estimated by DA3-SMALL" (or None)
    metric_scale: float | None = None  # metres per canonical unit ((fx + fy) / 2 / 300, network px)
    model: str = ""  # checkpoint name, e.g. "DA3METRIC-LARGE"

    @property
    def is_metric(self) -> bool:
        return self.unit != "relative"

    def to_depth_map(self, parent_id: str | None = None):
        """This depth as a :class:`depthgraph.engine.values.DepthMap` (unit, sky and validity)."""
        from depthgraph.engine.values import DepthMap

        source = ""
        if self.is_metric:
            how = {"given": "from the given intrinsics", "fov": "from the given field of view"}.get(
                self.intrinsics_source or "given", self.intrinsics_source
            )
            source = f"{self.model or 'DA3'}, focal length {how}"
        valid = None if self.sky is None else ~self.sky
        return DepthMap(values=self.depth, unit=self.unit, valid=valid, sky=self.sky,
                        source=source, parent_id=parent_id)  # fmt: skip


def parse_model_id(model_id: str) -> str:
    """``"depth-anything-v3/small"`` / ``"da3-small"`` (base, metric-large, mono-large likewise)
    -> ``"small"`` / ``"base"`` / ``"metric-large"`` / ``"mono-large"``."""
    key = str(model_id).strip().lower()
    if key not in MODEL_IDS:
        known = ", ".join(repr(k) for k in MODEL_IDS)
        raise ValueError(f"unknown model id {model_id!r}; known model ids: {known}")
    return MODEL_IDS[key]


class DepthAnything3(ModelWrapper):
    """A loaded DA3 network plus its pre- and post-processing. Safe to call from several threads."""

    network_class = DA3Network

    # --- inference --------------------------------------------------------------------------
    def __call__(self, images: Any, batch_size: int | None = None) -> list[torch.Tensor]:
        """Depth (larger = farther) per image, float32 CPU tensors (H, W) at each input size."""
        return [torch.from_numpy(p.depth) for p in self.predict(images, batch_size=batch_size)]

    def predict(self, images: Any, batch_size: int | None = None) -> list[DepthPrediction]:
        """Full predictions for one image or a list (numpy BGR, PIL RGB, or paths).

        Images of the same processed size run together as one batch (at most ``batch_size``
        per pass, default 4); results equal single-image runs.
        """
        items = as_list(images)
        rgbs = [to_rgb_uint8(img, i) for i, img in enumerate(items)]
        return self.predict_rgb(rgbs, batch_size=batch_size)

    def predict_rgb(self, rgbs: Sequence[np.ndarray], batch_size: int | None = None) -> list[DepthPrediction]:
        """Like :meth:`predict` for already-decoded RGB uint8 (H, W, 3) arrays."""
        pixels = [preprocess(rgb, self.process_res) for rgb in rgbs]
        results: list[DepthPrediction | None] = [None] * len(pixels)
        for chunk in group_by_size([x.shape[1:] for x in pixels], batch_size):
            batch = np.stack([pixels[i] for i in chunk])
            out = self.forward_pixels(torch.from_numpy(batch))
            for j, i in enumerate(chunk):
                results[i] = _postprocess(out, j, rgbs[i].shape[:2])
        return results  # type: ignore[return-value]

    def predict_scene(self, images: Any, *cameras: Any, **options: Any) -> ScenePrediction:
        """Several views of ONE scene in one pass: depth that agrees across views, each view's
        intrinsics and its pose in one shared world frame (see :mod:`.scene`). Arguments after
        ``images`` as :meth:`predict_scene_rgb`: ``extrinsics=None, intrinsics=None,
        align_to_input_scale=True, units=None, *, reference="saddle_balanced"``.

        ``images``: 1..N inputs of any kind :meth:`predict` accepts. ``reference``: the view
        that defines the world frame, one of ``"saddle_balanced"`` (default), ``"first"``,
        ``"middle"``, ``"saddle_sim_range"`` (strategies choose only when there are 3 or more
        views, else view 0) or a view index. One image gives exactly :meth:`predict`'s result.

        Known cameras (da3-poses spec; both or neither): ``extrinsics`` (S, 4, 4) or (S, 3, 4)
        WORLD-TO-CAMERA with OpenCV axes (x right, y down, z forward), ``intrinsics`` (S, 3, 3)
        in pixels of the images as passed. The network is conditioned on them (view 0 defines
        its frame; ``reference`` is ignored) and a similarity fit maps the caller's camera
        centres onto the predicted ones (``scene.pose_alignment``). With
        ``align_to_input_scale`` (default) the outputs come back in the caller's frame and unit:
        depth divided by the fitted scale, the caller's extrinsics; ``units`` (e.g. ``"m"``)
        says what unit the translations are in, so the depth carries it (``scene.unit``).
        Otherwise the outputs stay in the network's frame and unit, with the caller's cameras
        moved into it. The network's own cameras are ``scene.predicted_extrinsics`` / ``_intrinsics``.
        """
        items = as_list(images)
        if not items:
            raise ValueError("predict_scene needs at least one image")
        rgbs = [to_rgb_uint8(img, i) for i, img in enumerate(items)]
        return self.predict_scene_rgb(rgbs, *cameras, **options)

    def predict_scene_rgb(
        self,
        rgbs: Sequence[np.ndarray],
        extrinsics: Any = None,
        intrinsics: Any = None,
        align_to_input_scale: bool = True,
        units: str | None = None,
        *,
        reference: Reference = DEFAULT_STRATEGY,
    ) -> ScenePrediction:
        """Like :meth:`predict_scene` for already-decoded RGB uint8 (H, W, 3) arrays."""
        if extrinsics is None and intrinsics is None:
            if units is not None:
                raise ValueError("units describe the given extrinsics' translations: pass extrinsics and intrinsics too")
            ref = check_reference(reference, len(rgbs))
            pixels, geometry = prepare_views(rgbs, self.process_res)
            out = self.forward_pixels(torch.from_numpy(pixels)[None], reference=ref)
            return build_scene_prediction(out, geometry, pixels, _postprocess, DepthPrediction)
        e, k = check_cameras(extrinsics, intrinsics, len(rgbs))
        unit = check_units(units)
        if units is not None and not align_to_input_scale:
            raise ValueError("units only apply with align_to_input_scale=True (otherwise depth is in the network's unit)")
        if not getattr(self.network, "cam_enc_loaded", True):
            raise ValueError(
                f"{self.weights_path or self.model_id}: this checkpoint has no camera encoder "
                "(model.cam_enc.*), so it cannot take known cameras"
            )
        pixels, geometry = prepare_views(rgbs, self.process_res)
        conditioning = condition_on_cameras(
            e, k, [g.input_hw for g in geometry], [g.resized_hw for g in geometry],
            [g.crop_offset for g in geometry], tuple(pixels.shape[-2:]),
        )  # fmt: skip
        out = self.forward_pixels(
            torch.from_numpy(pixels)[None], pose_encoding=torch.from_numpy(conditioning.encoding)[None]
        )  # fmt: skip
        aligned = aligned_outputs(
            conditioning, out.depth[0].numpy(), out.extrinsics[0].numpy(), align_to_input_scale, unit
        )  # fmt: skip
        return build_scene_prediction(
            out, geometry, pixels, _postprocess, DepthPrediction, posed=(aligned, conditioning, align_to_input_scale)
        )  # fmt: skip

    def forward_pixels(
        self,
        pixels: torch.Tensor,
        reference: Reference = DEFAULT_STRATEGY,
        pose_encoding: torch.Tensor | None = None,
    ):
        """Run the network on normalised pixels (B, 3, h, w), or (B, S, 3, h, w) for B scenes
        of S views; outputs at (h, w) on CPU, float32. ``pose_encoding`` (B, S, 9): known
        cameras (see :mod:`.pose_input`)."""
        with torch.inference_mode():
            out = self.network(
                pixels.to(self._device, non_blocking=True), self._autocast, reference, pose_encoding
            )  # fmt: skip
            out.depth = out.depth.float().cpu()
            out.confidence = out.confidence.float().cpu()
            out.intrinsics = out.intrinsics.float().cpu()
            out.extrinsics = out.extrinsics.float().cpu()
            if out.reference is not None:
                out.reference = out.reference.cpu()
        return out

    # --- export -----------------------------------------------------------------------------
    def export_onnx(self, path: str | os.PathLike, *, opset: int | None = None, fp16: bool = False) -> Path:
        """Write the network as one ONNX file (contract in :mod:`.export` and docs/model.md):
        uint8 RGB ``(N, H, W, 3)`` in, ``depth``, ``confidence``, ``intrinsics`` out, ``N``,
        ``H``, ``W`` dynamic. ``fp16`` stores and runs the network in float16."""
        from .export import DEFAULT_OPSET, export_network

        return export_network(self.network, path, opset=opset or DEFAULT_OPSET, fp16=fp16)


def group_by_size(sizes: Sequence[tuple[int, ...]], batch_size: int | None = None) -> list[list[int]]:
    """Indices grouped by equal size, in chunks of at most ``batch_size`` (default 4)."""
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    cap = int(batch_size) if batch_size else 4
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(tuple(size), []).append(i)
    return [idx[start : start + cap] for idx in groups.values() for start in range(0, len(idx), cap)]


def _postprocess(out, j: int, input_hw: tuple[int, int]) -> DepthPrediction:
    h, w = out.depth.shape[-2:]
    h0, w0 = int(input_hw[0]), int(input_hw[1])
    maps = torch.stack([out.depth[j], out.confidence[j]])[None]
    if (h0, w0) != (h, w):
        with torch.inference_mode():
            maps = F.interpolate(maps, size=(h0, w0), mode="bilinear", align_corners=False)
    intr = out.intrinsics[j].clone()
    intr[0, :] *= w0 / w  # fx, cx
    intr[1, :] *= h0 / h  # fy, cy
    intr[2] = torch.tensor([0.0, 0.0, 1.0])
    fx, fy = float(intr[0, 0]), float(intr[1, 1])
    fov = (math.degrees(2 * math.atan(w0 / (2 * fx))), math.degrees(2 * math.atan(h0 / (2 * fy))))
    return DepthPrediction(
        depth=maps[0, 0].numpy().copy(),
        confidence=maps[0, 1].numpy().copy(),
        intrinsics=intr.numpy().astype(np.float32),
        fov=fov,
        processed_size=(int(h), int(w)),
        extrinsics=out.extrinsics[j].numpy().astype(np.float32),
    )


class AutoModel:
    """Entry point: ``AutoModel.from_pretrained("depth-anything-v3/small")``."""

    def __init__(self) -> None:  # pragma: no cover - factory only
        raise TypeError("use AutoModel.from_pretrained(model_id)")

    @staticmethod
    def from_pretrained(
        model_id: str,
        *,
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        dtype: Any = None,
        process_res: int = 504,
        api_key: str | None = None,
        backend: str | None = None,
        opset: int | None = None,
    ) -> "DepthAnything3 | ExportedDepthModel":
        """Load DA3 small or base (or metric-large / mono-large, torch backend only: see
        :mod:`.large_model`).

        ``weights``: a ``model.safetensors``, a ``.pt``/``.pth`` state dict, or a directory with
        ``model.safetensors``; else ``$DEPTHGRAPH_WEIGHTS_DIR/DA3-SMALL/model.safetensors``
        (``DA3-BASE``), else the hub (``api_key`` is used as the hub token). ``device``: CUDA when
        available, else CPU. ``dtype``: backbone precision; CUDA defaults to bf16 autocast,
        CPU to float32 (``"bfloat16"`` opts in).

        ``backend``: ``"torch"`` (default; ``$DEPTHGRAPH_BACKEND`` when not given),
        ``"onnxruntime"`` or ``"openvino"``: the network exported once to ONNX (cached next to
        the weights, keyed by weights hash, ``opset`` and dtype) and run on that CPU runtime,
        with the same pre- and post-processing (an :class:`.runtime.ExportedDepthModel`).
        """
        from ..loading import check_backend, current_backend

        variant = parse_model_id(model_id)
        if int(process_res) < 14:
            raise ValueError(f"process_res must be >= 14, got {process_res}")
        backend = check_backend(backend) if backend else current_backend()
        if variant in LARGE_VARIANTS:
            if backend != "torch":
                raise ValueError(
                    f"model {model_id!r}: only the torch backend runs the LARGE checkpoints "
                    f"(asked for {backend!r}; ONNX export covers small and base)"
                )
            from .large_model import load_large  # the module imports this one

            return load_large(variant, weights=weights, device=device, dtype=dtype,  # type: ignore[return-value]
                              process_res=process_res, api_key=api_key)  # fmt: skip
        if backend != "torch":
            return _load_exported(variant, weights, api_key, backend, process_res, opset, dtype, device)
        start = time.perf_counter()
        dev = pick_device(device)
        autocast = parse_dtype(dtype, dev)
        path = resolve_weights(variant, weights, api_key)

        def warn_stand_in(state: Any) -> None:
            if is_recipe_state(state, variant):
                warnings.warn(StandInWeightsWarning(
                    f"{path} holds depthgraph's deterministic stand-in (recipe) weights for "
                    f"DA3-{variant.upper()}, not trained ones: depth from it looks like noise. "
                    f"Get trained ones with 'depthgraph weights download --model {variant}' (offline: "
                    f"'depthgraph weights import', see docs/model.md)."), stacklevel=4)  # from_pretrained's caller

        network, absent = load_network(DA3Network, DA3Config.for_variant(variant), path, dev, inspect=warn_stand_in)
        network.cam_enc_loaded = not any(k.startswith("cam_enc.") for k in absent)
        model = DepthAnything3(
            network, model_id=f"depth-anything-v3/{variant}", device=dev,
            autocast_dtype=autocast, process_res=process_res, weights_path=path,
        )  # fmt: skip
        model.load_seconds = time.perf_counter() - start
        return model


def _load_exported(variant, weights, api_key, backend, process_res, opset, dtype, device):
    """``from_pretrained`` for the ONNX Runtime / OpenVINO backends (CPU, float32 graph)."""
    from .export import DEFAULT_OPSET
    from .runtime import ExportedDepthModel, cached_export

    if device is not None and torch.device(device).type != "cpu":
        raise ValueError(f"backend {backend!r} runs on the CPU; device {device!r} needs backend='torch'")
    if dtype is not None and _DTYPE_NAMES.get(str(dtype).lower(), dtype) != torch.float32:
        raise ValueError(f"backend {backend!r} runs the float32 graph; dtype {dtype!r} needs backend='torch'")
    start = time.perf_counter()
    path = resolve_weights(variant, weights, api_key)

    def network() -> DA3Network:
        net = empty_network(DA3Network, DA3Config.for_variant(variant), torch.device("cpu"))
        load_into(net, read_checkpoint(path), path)
        net.clear_cache()
        return net

    onnx_path = cached_export(network, path, variant, opset=opset or DEFAULT_OPSET, fp16=False)
    model = ExportedDepthModel(
        onnx_path, backend=backend, model_id=f"depth-anything-v3/{variant}",
        process_res=process_res, weights_path=path,
    )  # fmt: skip
    model.load_seconds = time.perf_counter() - start
    return model


__all__ = ["AutoModel", "DepthAnything3", "DepthPrediction", "ScenePrediction", "parse_model_id", "canonical_variant"]
