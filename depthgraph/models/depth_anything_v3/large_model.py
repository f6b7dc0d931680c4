"""DA3METRIC-LARGE and DA3MONO-LARGE behind the same API as small/base (spec ``da3-metric.md``).

``predict(images, intrinsics=None, fov=None)`` returns one :class:`~.model.DepthPrediction` per
image, at the input size, with ``unit`` ("m" for metric-large given a focal length, else
"relative"), the sky mask (score >= 0.5) and, for metric-large, the intrinsics used and where they
came from. These checkpoints predict no camera: a metric result takes its focal length from the
caller (``intrinsics=`` for the original image, or ``fov=`` degrees), else from one extra pass of
DA3-SMALL's camera decoder on the same image.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .large_config import LARGE_VARIANTS, LargeConfig
from .large_network import DA3LargeNetwork, LargeOutput
from .metric_units import (
    fov_degrees,
    intrinsics_from_fov,
    metric_scale,
    per_image_fov,
    per_image_intrinsics,
    to_network_pixels,
)
from .model import DepthPrediction, group_by_size
from .preprocess import preprocess, to_rgb_uint8
from .sky_fill import SKY_MASK_THRESHOLD, fill_sky
from .weights import WeightsError, WeightsNotFoundError, resolve_weights
from .wrapper import ModelWrapper, as_list, load_network, parse_dtype, pick_device

#: where a metric result's focal length came from (``DepthPrediction.intrinsics_source``)
SOURCE_GIVEN = "given"
SOURCE_FOV = "fov"
SOURCE_ESTIMATED = "estimated by DA3-SMALL"


class FocalLengthUnavailable(ValueError):
    """A metric result needs a focal length and none could be had (names both ways to give one)."""


class DepthAnything3Large(ModelWrapper):
    """A loaded LARGE network plus its pre- and post-processing. Safe to call from several threads.

    ``focal_model``: a loaded DA3 small/base model used to estimate the focal length when the
    caller gives neither intrinsics nor a field of view; ``focal_loader`` loads one on first use.
    """

    network_class = DA3LargeNetwork
    allow_unused = False

    def __init__(
        self,
        network: DA3LargeNetwork,
        *,
        focal_model: Any = None,
        focal_loader: Callable[[], Any] | None = None,
        **wrapper: Any,
    ) -> None:
        super().__init__(network, **wrapper)
        self._focal_model = focal_model
        self._focal_loader = focal_loader
        self._focal_lock = threading.Lock()

    @property
    def metric(self) -> bool:
        """True for DA3METRIC-LARGE (depth in metres once a focal length is known)."""
        return self.config.metric

    @property
    def checkpoint_name(self) -> str:
        return {"metric-large": "DA3METRIC-LARGE", "mono-large": "DA3MONO-LARGE"}.get(self.variant, self.variant)

    # --- inference --------------------------------------------------------------------------
    def __call__(self, images: Any, batch_size: int | None = None, **cameras: Any) -> list[torch.Tensor]:
        """Depth per image (metres for metric-large), float32 CPU tensors at each input size."""
        return [torch.from_numpy(p.depth) for p in self.predict(images, batch_size=batch_size, **cameras)]

    def predict(
        self, images: Any, intrinsics: Any = None, fov: float | Sequence[float] | None = None,
        batch_size: int | None = None,
    ) -> list[DepthPrediction]:  # fmt: skip
        """Predictions for one image or a list (numpy BGR, PIL RGB, or paths).

        ``intrinsics``: a 3x3 K in pixels of the ORIGINAL image, for every image, or one per
        image. ``fov``: horizontal field of view in degrees (one, or one per image), used when
        no K is given. metric-large with neither estimates the focal length with DA3-SMALL.
        """
        items = as_list(images)
        rgbs = [to_rgb_uint8(img, i) for i, img in enumerate(items)]
        return self.predict_rgb(rgbs, intrinsics=intrinsics, fov=fov, batch_size=batch_size)

    def predict_rgb(
        self, rgbs: Sequence[np.ndarray], intrinsics: Any = None, fov: float | Sequence[float] | None = None,
        batch_size: int | None = None,
    ) -> list[DepthPrediction]:  # fmt: skip
        """Like :meth:`predict` for already-decoded RGB uint8 (H, W, 3) arrays."""
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        cameras = self._cameras(rgbs, intrinsics, fov)
        pixels = [preprocess(rgb, self.process_res) for rgb in rgbs]
        results: list[DepthPrediction | None] = [None] * len(pixels)
        for chunk in group_by_size([x.shape[1:] for x in pixels], batch_size):
            out = self.forward_pixels(torch.from_numpy(np.stack([pixels[i] for i in chunk])))
            for j, i in enumerate(chunk):
                results[i] = self._postprocess(out, j, rgbs[i].shape[:2], *cameras[i])
        return results  # type: ignore[return-value]

    def predict_scene(self, images: Any, **_: Any) -> Any:
        """Not available: these checkpoints have no cross-view attention and no camera."""
        raise ValueError(
            f"{self.checkpoint_name} takes single images only (no cross-view attention, no camera "
            "poses); use depth-anything-v3/small or base for several views of one scene"
        )

    def forward_pixels(self, pixels: torch.Tensor) -> LargeOutput:
        """Raw network outputs for normalised pixels (B, 3, h, w): depth and sky score at (h, w),
        float32 on CPU, before the sky rule."""
        with torch.inference_mode():
            out = self.network(pixels.to(self._device, non_blocking=True), self._autocast)
            return LargeOutput(out.depth.float().cpu(), out.sky.float().cpu())

    # --- cameras ----------------------------------------------------------------------------
    def _cameras(self, rgbs: Sequence[np.ndarray], intrinsics: Any, fov: Any) -> list[tuple[np.ndarray | None, str | None]]:
        """Per image: intrinsics for the original image and their source (or (None, None))."""
        n = len(rgbs)
        ks = per_image_intrinsics(intrinsics, n)
        fovs = per_image_fov(fov, n)
        cams: list[tuple[np.ndarray | None, str | None]] = []
        for i, (k, f) in enumerate(zip(ks, fovs)):
            if k is not None and f is not None:
                raise ValueError(f"image {i}: give intrinsics or fov, not both")
            if k is not None:
                cams.append((k, SOURCE_GIVEN))
            elif f is not None:
                cams.append((intrinsics_from_fov(f, rgbs[i].shape[:2]), SOURCE_FOV))
            else:
                cams.append((None, None))
        missing = [i for i, (k, _) in enumerate(cams) if k is None]
        if self.metric and missing:
            focal = self._get_focal_model()
            for i, pred in zip(missing, focal.predict_rgb([rgbs[i] for i in missing])):
                cams[i] = (np.asarray(pred.intrinsics, dtype=np.float64), SOURCE_ESTIMATED)
        return cams

    def _get_focal_model(self) -> Any:
        with self._focal_lock:
            if self._focal_model is None:
                if self._focal_loader is None:
                    raise FocalLengthUnavailable(_NO_FOCAL + " (this model has no focal-length estimator)")
                try:
                    self._focal_model = self._focal_loader()
                except WeightsNotFoundError as exc:
                    raise FocalLengthUnavailable(f"{_NO_FOCAL}: {exc}") from None
            return self._focal_model

    def _postprocess(
        self, out: LargeOutput, j: int, input_hw: tuple[int, int], k0: np.ndarray | None, source: str | None
    ) -> DepthPrediction:
        h, w = out.depth.shape[-2:]
        h0, w0 = int(input_hw[0]), int(input_hw[1])
        filled, fill = fill_sky(out.depth[j].numpy(), out.sky[j].numpy())
        maps = torch.stack([torch.from_numpy(filled), out.sky[j]])[None]
        if (h0, w0) != (h, w):
            with torch.inference_mode():
                maps = F.interpolate(maps, size=(h0, w0), mode="bilinear", align_corners=False)
        depth = maps[0, 0].numpy().copy()
        sky_score = maps[0, 1].numpy().copy()
        scale = None
        unit = "relative"
        if self.metric and k0 is not None:
            scale = metric_scale(to_network_pixels(k0, (h0, w0), (h, w)))
            depth *= np.float32(scale)
            unit = "m"
        return DepthPrediction(
            depth=depth,
            confidence=None,  # type: ignore[arg-type]  # these checkpoints have no confidence
            intrinsics=None if k0 is None else k0.astype(np.float32),  # type: ignore[arg-type]
            fov=None if k0 is None else fov_degrees(k0, (h0, w0)),  # type: ignore[arg-type]
            processed_size=(int(h), int(w)),
            extrinsics=None,  # type: ignore[arg-type]  # no pose either
            unit=unit,
            sky=sky_score >= SKY_MASK_THRESHOLD,
            sky_score=sky_score,
            sky_fill=fill,
            intrinsics_source=source,
            metric_scale=scale,
            model=self.checkpoint_name,
        )


_NO_FOCAL = (
    "DA3METRIC-LARGE needs a focal length to give metres: pass intrinsics= (a 3x3 K in pixels of "
    "the input image; CLI --intrinsics FILE) or fov= (horizontal field of view in degrees; CLI "
    "--fov), or make the DA3-SMALL weights available so the focal length can be estimated"
)


def check_config_names(path: Path, variant: str) -> None:
    """The two LARGE files have identical tensor lists, so a strict load cannot tell them apart:
    when a ``config.json`` lies next to the checkpoint and names a preset, it must be ``variant``'s."""
    import json

    config = Path(path).parent / "config.json"
    if not config.is_file():
        return
    try:
        named = json.loads(config.read_text(encoding="utf-8")).get("model_name")
    except (OSError, ValueError, AttributeError):
        return  # an unreadable config says nothing; the tensors are still checked strictly
    expected = LARGE_VARIANTS[variant][1]
    if isinstance(named, str) and named.lower() != expected:
        raise WeightsError(
            f"{config}: names the preset {named!r}, but {expected!r} was asked for "
            f"(DA3METRIC-LARGE and DA3MONO-LARGE have the same tensors: is this the other file?)"
        )


def load_large(
    variant: str,
    *,
    weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: Any = None,
    process_res: int = 504,
    api_key: str | None = None,
    focal_model: Any = None,
) -> DepthAnything3Large:
    """Load ``"metric-large"`` or ``"mono-large"`` strictly (every one of the 406 tensors used,
    nothing else allowed) through the same weights resolution as small/base."""
    if variant not in LARGE_VARIANTS:
        raise ValueError(f"unknown DA3 large variant {variant!r}; known: {', '.join(LARGE_VARIANTS)}")
    start = time.perf_counter()
    dev = pick_device(device)
    autocast = parse_dtype(dtype, dev)
    path = resolve_weights(variant, weights, api_key)
    check_config_names(path, variant)
    network, _ = load_network(DA3LargeNetwork, LargeConfig.for_variant(variant), path, dev, allow_unused=False)

    def load_focal() -> Any:
        from .model import AutoModel

        return AutoModel.from_pretrained("depth-anything-v3/small", device=dev, process_res=process_res, api_key=api_key)

    model = DepthAnything3Large(
        network, model_id=f"depth-anything-v3/{variant}", device=dev, autocast_dtype=autocast,
        process_res=process_res, weights_path=path, focal_model=focal_model,
        focal_loader=load_focal if LARGE_VARIANTS[variant][0] else None,
    )  # fmt: skip
    model.load_seconds = time.perf_counter() - start
    return model
