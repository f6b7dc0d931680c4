"""A plain DINOv2 ViT (no RoPE, QK-norm, camera token or global attention): the backbone of
DA3METRIC-LARGE and DA3MONO-LARGE (spec ``da3-metric.md`` section 3).

Names follow the official checkpoint under ``model.backbone.pretrained.``. The transformer block
and the patch embedding are the ones of :mod:`.backbone` with their DA3 extras switched off.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .backbone import Block, PatchEmbed, SizeCache, resize_pos_embed
from .large_config import LargeConfig


class PlainVisionTransformer(SizeCache, nn.Module):
    """ViT whose four output layers are each passed through the final ``norm`` (token 0 dropped)."""

    def __init__(self, cfg: LargeConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.patch_size, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.pos_grid**2, d))
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.mlp_ratio, qk_norm=False) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(d, eps=1e-5)
        self._init_cache()

    def _pos(self, ph: int, pw: int, device: torch.device) -> Tensor:
        def make() -> Tensor:
            return resize_pos_embed(self.pos_embed.detach().float(), self.cfg.pos_grid, ph, pw).to(device)

        return self._cached((ph, pw, str(device)), make)

    def forward(self, x: Tensor) -> list[Tensor]:
        """``x`` (B, 3, H, W) -> one (B, ph*pw, D) normalised patch-token tensor per output layer."""
        _, _, h, w = x.shape
        p = self.cfg.patch_size
        tokens = self.patch_embed(x)  # (B, ph*pw, D)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1).to(tokens.dtype), tokens], dim=1)
        x = tokens + self._pos(h // p, w // p, x.device).to(tokens.dtype)
        outs: list[Tensor] = []
        last = max(self.cfg.out_layers)
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i in self.cfg.out_layers:
                outs.append(self.norm(x)[:, 1:])
            if i == last:
                break
        return outs


class PlainBackbone(nn.Module):
    """Wrapper giving the official ``backbone.pretrained.`` names."""

    def __init__(self, cfg: LargeConfig) -> None:
        super().__init__()
        self.pretrained = PlainVisionTransformer(cfg)

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.pretrained(x)
