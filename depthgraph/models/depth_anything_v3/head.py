"""DualDPT head, main (depth + confidence) branch only. Names under ``model.head.``.

The auxiliary ray branch (``scratch.*_aux*``) exists in the checkpoint but is not built: it
only serves ray-based pose, which monocular depth throws away (see ``weights.UNUSED_GROUPS``).
"""

from __future__ import annotations

import math
import threading

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import DA3Config


def uv_pos_embed(channels: int, h: int, w: int, aspect: float) -> Tensor:
    """UV sin/cos position embedding (channels, h, w) for an image of aspect ``W/H``.

    The first half of the channels embeds the horizontal coordinate u, the second half v.
    """
    diag = math.sqrt(aspect * aspect + 1.0)
    span_x, span_y = aspect / diag, 1.0 / diag
    u = torch.linspace(-span_x * (w - 1) / w, span_x * (w - 1) / w, w, dtype=torch.float32)
    v = torch.linspace(-span_y * (h - 1) / h, span_y * (h - 1) / h, h, dtype=torch.float32)
    quarter = channels // 4
    omega = 1.0 / 100.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter)

    def emb(p: Tensor) -> Tensor:  # (n,) -> (channels/2, n)
        angles = p[None, :] * omega[:, None]
        return torch.cat([angles.sin(), angles.cos()], dim=0)

    eu = emb(u)[:, None, :].expand(-1, h, w)
    ev = emb(v)[:, :, None].expand(-1, h, w)
    return torch.cat([eu, ev], dim=0)


class ResidualConvUnit(nn.Module):
    """``x + conv2(relu(conv1(relu(x))))`` with 3x3 convs."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        # in place on the fresh conv outputs: a + b == b + a bit for bit, and no new buffers
        return self.conv2(F.relu_(self.conv1(F.relu(x)))).add_(x)


class FeatureFusionBlock(nn.Module):
    """(top [+ unit1(lateral)]) -> unit2 -> bilinear resize (align_corners) -> 1x1 out_conv."""

    def __init__(self, features: int, has_lateral: bool) -> None:
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features) if has_lateral else None
        self.resConfUnit2 = ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, 1)

    def forward(self, x: Tensor, lateral: Tensor | None, size: tuple[int, int]) -> Tensor:
        if lateral is not None:
            x = self.resConfUnit1(lateral).add_(x)
        x = self.resConfUnit2(x)
        # The official order is resize, then out_conv. A 1x1 conv commutes with bilinear
        # resizing (each output pixel is a convex combination of input pixels, and the bias
        # survives weights that sum to 1), so running it at the smaller size gives the same
        # numbers for up to 4x less work.
        x = self.out_conv(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def output_branch(channels: int, out: int) -> nn.Sequential:
    """3x3 conv -> ReLU -> 1x1 conv to ``out`` channels (indices 0 and 2 as in the checkpoint)."""
    return nn.Sequential(nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(32, out, 1))


def resize_layers(ch: tuple[int, ...]) -> nn.ModuleList:
    """The four lateral resizes of a DPT head: x4 up, x2 up, as is, x2 down."""
    return nn.ModuleList(
        [
            nn.ConvTranspose2d(ch[0], ch[0], 4, stride=4),
            nn.ConvTranspose2d(ch[1], ch[1], 2, stride=2),
            nn.Identity(),
            nn.Conv2d(ch[3], ch[3], 3, stride=2, padding=1),
        ]
    )


class Scratch(nn.Module):
    """The ``scratch`` container of the official head (main branch modules only); also the
    plain DPT head's (:mod:`.dpt_head`), whose ``output_conv2`` has one channel."""

    def __init__(self, cfg, out_channels: int = 2) -> None:
        super().__init__()
        f = cfg.head_features
        for k, c in enumerate(cfg.head_channels):
            setattr(self, f"layer{k + 1}_rn", nn.Conv2d(c, f, 3, padding=1, bias=False))
        self.refinenet1 = FeatureFusionBlock(f, True)
        self.refinenet2 = FeatureFusionBlock(f, True)
        self.refinenet3 = FeatureFusionBlock(f, True)
        self.refinenet4 = FeatureFusionBlock(f, False)
        self.output_conv1 = nn.Conv2d(f, f // 2, 3, padding=1)
        self.output_conv2 = output_branch(f // 2, out_channels)

    def fuse(self, resized: list[Tensor], height: int, width: int) -> Tensor:
        """Four resized lateral maps -> ``layerN_rn`` -> fusion -> ``output_conv1`` at (height, width)."""
        l1, l2, l3, l4 = (getattr(self, f"layer{k + 1}_rn")(x) for k, x in enumerate(resized))
        out = self.refinenet4(l4, None, l3.shape[-2:])
        out = self.refinenet3(out, l3, l2.shape[-2:])
        out = self.refinenet2(out, l2, l1.shape[-2:])
        out = self.refinenet1(out, l1, (2 * l1.shape[-2], 2 * l1.shape[-1]))
        out = self.output_conv1(out)
        return F.interpolate(out, size=(height, width), mode="bilinear", align_corners=True)


class DualDPTHead(nn.Module):
    """Patch features of four layers -> depth (larger = farther) and confidence (>= 1).

    Runs channels-last (NHWC): on CPU oneDNN's convolutions and the bilinear resizes are about
    twice as fast in that layout, and the tokens arrive in it for free.
    """

    def __init__(self, cfg: DA3Config) -> None:
        super().__init__()
        self.cfg = cfg
        dim_in = 2 * cfg.embed_dim
        ch = cfg.head_channels
        self.norm = nn.LayerNorm(dim_in, eps=1e-5)
        self.projects = nn.ModuleList(nn.Conv2d(dim_in, c, 1) for c in ch)
        self.resize_layers = resize_layers(ch)
        self.scratch = Scratch(cfg)
        self._cache: dict[tuple, Tensor] = {}
        self._lock = threading.Lock()

    def _pos(self, channels: int, h: int, w: int, aspect: float, like: Tensor) -> Tensor:
        key = (channels, h, w, aspect, str(like.device))
        with self._lock:
            table = self._cache.get(key)
        if table is None:
            table = uv_pos_embed(channels, h, w, aspect) * self.cfg.pos_embed_ratio
            table = table[None].to(like.device).contiguous(memory_format=torch.channels_last)
            with self._lock:
                self._cache[key] = table
        return table

    def forward(self, feats: list[Tensor], height: int, width: int) -> tuple[Tensor, Tensor]:
        """``feats``: 4 x (B, ph*pw, 2D); returns depth and confidence (B, height, width)."""
        p = self.cfg.patch_size
        ph, pw = height // p, width // p
        aspect = width / height
        resized = []
        for k, x in enumerate(feats):
            # tokens are already channels-last: (B, ph*pw, 2D) -> (B, 2D, ph, pw) as a view
            x = self.norm(x).unflatten(1, (ph, pw)).permute(0, 3, 1, 2)
            x = self.projects[k](x)
            x = x.add_(self._pos(x.shape[1], ph, pw, aspect, x))
            resized.append(self.resize_layers[k](x))
        out = self.scratch.fuse(resized, height, width)
        out = out.add_(self._pos(out.shape[1], height, width, aspect, out))
        out = self.scratch.output_conv2(out)  # (B, 2, H, W)
        depth = torch.exp(out[:, 0])
        confidence = torch.exp(out[:, 1]) + 1.0
        return depth, confidence
