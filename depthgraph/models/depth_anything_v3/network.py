"""The whole DA3 network (one image, or several views of a scene): backbone -> DualDPT head, camera decoder."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .backbone import Backbone
from .camera import CameraDecoder
from .camera_encoder import CameraEncoder
from .config import DA3Config
from .head import DualDPTHead
from .reference import DEFAULT_STRATEGY, Reference


@dataclass
class NetworkOutput:
    """Raw network outputs at the network resolution (h, w)."""

    depth: Tensor  # (B, h, w) float32
    confidence: Tensor  # (B, h, w) float32
    intrinsics: Tensor  # (B, 3, 3) float32, at (h, w)
    extrinsics: Tensor  # (B, 3, 4) float32, world-to-camera
    reference: Tensor | None = None  # (B,) int64 reference view per scene (multi-view input only)


class DA3Network(nn.Module):
    """Module tree matching the official names without their leading ``model.``."""

    def __init__(self, cfg: DA3Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.head = DualDPTHead(cfg)
        self.cam_dec = CameraDecoder(cfg.cam_dim)
        self.cam_enc = CameraEncoder(cfg.embed_dim)

    def optimize_layout(self) -> "DA3Network":
        """Store the head's conv weights channels-last (its activations run in that layout)."""
        self.head.to(memory_format=torch.channels_last)
        return self

    def forward(
        self,
        pixels: Tensor,
        autocast_dtype: torch.dtype | None = None,
        reference: Reference = DEFAULT_STRATEGY,
        pose_encoding: Tensor | None = None,
    ) -> NetworkOutput:
        """``pixels`` (B, 3, h, w) normalised, h and w multiples of the patch size: B independent
        images. Or (B, S, 3, h, w): B scenes of S views each (outputs then have a (B, S) prefix
        and ``reference`` holds each scene's reference view, see :mod:`.reference`).

        ``autocast_dtype`` runs the backbone under autocast in that dtype; the head and the
        camera decoder always run in float32.

        ``pose_encoding`` (B, S, 9), scenes only: the caller's cameras (da3-poses spec 5); the
        camera encoder (float32) turns them into the views' camera tokens (spec 6, 7).
        """
        scenes = pixels.dim() == 5
        if scenes:
            b, s = pixels.shape[:2]
            pixels = pixels.flatten(0, 1)
        else:
            s = 1
        _, _, h, w = pixels.shape
        p = self.cfg.patch_size
        if h % p or w % p:
            raise ValueError(f"network input {h}x{w} is not a multiple of the patch size {p}")
        ctx = (
            torch.autocast(pixels.device.type, dtype=autocast_dtype)
            if autocast_dtype is not None
            else nullcontext()
        )
        tokens = None
        if pose_encoding is not None:
            if not scenes or tuple(pose_encoding.shape[:2]) != (b, s):
                raise ValueError(f"pose encoding of shape {tuple(pose_encoding.shape)} for pixels {tuple(pixels.shape)}")
            with torch.autocast(pixels.device.type, enabled=False):
                tokens = self.cam_enc(pose_encoding.to(pixels.device, torch.float32)).flatten(0, 1)
        with ctx:
            feats, camera, ref = self.backbone(pixels, s, reference, tokens)
        feats = [f.float() for f in feats]
        depth, confidence = self.head(feats, h, w)
        intrinsics, extrinsics = self.cam_dec(camera.float(), h, w)
        if not scenes:
            return NetworkOutput(depth, confidence, intrinsics, extrinsics)
        return NetworkOutput(
            depth.unflatten(0, (b, s)),
            confidence.unflatten(0, (b, s)),
            intrinsics.unflatten(0, (b, s)),
            extrinsics.unflatten(0, (b, s)),
            ref,
        )

    def clear_cache(self) -> None:
        """Drop cached position tables (needed after weights change)."""
        self.backbone.pretrained.clear_cache()
        with self.head._lock:
            self.head._cache.clear()
