"""The plain DPT head with a sky branch of DA3METRIC-LARGE / DA3MONO-LARGE (spec
``da3-metric.md`` section 4). Names under ``model.head.``.

Unlike the DualDPT head of small/base: no input LayerNorm, no UV position embedding, one depth
channel (``exp``) and a sky score (``relu``), both read from the same 128-channel map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .head import FeatureFusionBlock
from .large_config import LargeConfig


def _branch(channels: int) -> nn.Sequential:
    """3x3 conv -> ReLU -> 1x1 conv to one channel (indices 0 and 2 as in the checkpoint)."""
    return nn.Sequential(nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(32, 1, 1))


class DPTScratch(nn.Module):
    """The ``scratch`` container: lateral 3x3 convs, four fusion blocks, depth and sky outputs."""

    def __init__(self, cfg: LargeConfig) -> None:
        super().__init__()
        f = cfg.head_features
        for k, c in enumerate(cfg.head_channels):
            setattr(self, f"layer{k + 1}_rn", nn.Conv2d(c, f, 3, padding=1, bias=False))
        self.refinenet1 = FeatureFusionBlock(f, True)
        self.refinenet2 = FeatureFusionBlock(f, True)
        self.refinenet3 = FeatureFusionBlock(f, True)
        self.refinenet4 = FeatureFusionBlock(f, False)
        self.output_conv1 = nn.Conv2d(f, f // 2, 3, padding=1)
        self.output_conv2 = _branch(f // 2)
        self.sky_output_conv2 = _branch(f // 2)


class DPTSkyHead(nn.Module):
    """Four (B, ph*pw, D) token maps -> depth ``exp(.)`` and sky score ``relu(.)``, (B, H, W) each."""

    def __init__(self, cfg: LargeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.head_channels
        self.projects = nn.ModuleList(nn.Conv2d(cfg.embed_dim, c, 1) for c in ch)
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(ch[0], ch[0], 4, stride=4),
                nn.ConvTranspose2d(ch[1], ch[1], 2, stride=2),
                nn.Identity(),
                nn.Conv2d(ch[3], ch[3], 3, stride=2, padding=1),
            ]
        )
        self.scratch = DPTScratch(cfg)

    def forward(self, feats: list[Tensor], height: int, width: int) -> tuple[Tensor, Tensor]:
        p = self.cfg.patch_size
        ph, pw = height // p, width // p
        laterals = []
        for k, x in enumerate(feats):
            x = x.unflatten(1, (ph, pw)).permute(0, 3, 1, 2)  # (B, D, ph, pw), channels-last view
            x = self.resize_layers[k](self.projects[k](x))
            laterals.append(getattr(self.scratch, f"layer{k + 1}_rn")(x))
        l1, l2, l3, l4 = laterals
        s = self.scratch
        out = s.refinenet4(l4, None, l3.shape[-2:])
        out = s.refinenet3(out, l3, l2.shape[-2:])
        out = s.refinenet2(out, l2, l1.shape[-2:])
        out = s.refinenet1(out, l1, (2 * l1.shape[-2], 2 * l1.shape[-1]))
        out = s.output_conv1(out)
        out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=True)
        depth = torch.exp(s.output_conv2(out)[:, 0])
        sky = F.relu(s.sky_output_conv2(out)[:, 0])
        return depth, sky
