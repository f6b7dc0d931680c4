"""The whole single-image LARGE network: plain ViT-L backbone -> DPT head with sky."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .dpt_head import DPTSkyHead
from .large_config import LargeConfig
from .plain_vit import PlainBackbone


@dataclass
class LargeOutput:
    """Raw outputs at the network resolution (h, w), before any sky handling."""

    depth: Tensor  # (B, h, w) float32 > 0: canonical metric (metric) or relative depth
    sky: Tensor  # (B, h, w) float32 >= 0: sky score (large = sky)


class DA3LargeNetwork(nn.Module):
    """Module tree matching the official names without their leading ``model.``.

    The images of a batch never influence each other (no cross-image attention).
    """

    def __init__(self, cfg: LargeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = PlainBackbone(cfg)
        self.head = DPTSkyHead(cfg)

    def optimize_layout(self) -> "DA3LargeNetwork":
        """Store the head's conv weights channels-last (its activations run in that layout)."""
        self.head.to(memory_format=torch.channels_last)
        return self

    def clear_cache(self) -> None:
        """Drop cached position tables (needed after weights change)."""
        self.backbone.pretrained.clear_cache()

    def forward(self, pixels: Tensor, autocast_dtype: torch.dtype | None = None) -> LargeOutput:
        """``pixels`` (B, 3, h, w) normalised, h and w multiples of the patch size.

        ``autocast_dtype`` runs the backbone under autocast; the head always runs in float32.
        """
        _, _, h, w = pixels.shape
        p = self.cfg.patch_size
        if h % p or w % p:
            raise ValueError(f"network input {h}x{w} is not a multiple of the patch size {p}")
        ctx = torch.autocast(pixels.device.type, dtype=autocast_dtype) if autocast_dtype is not None else nullcontext()
        with ctx:
            feats = self.backbone(pixels)
        depth, sky = self.head([f.float() for f in feats], h, w)
        return LargeOutput(depth, sky)
