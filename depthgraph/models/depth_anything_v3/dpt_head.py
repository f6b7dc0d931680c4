"""The plain DPT head with a sky branch of DA3METRIC-LARGE / DA3MONO-LARGE (spec
``da3-metric.md`` section 4). Names under ``model.head.``.

Unlike the DualDPT head of small/base: no input LayerNorm, no UV position embedding, one depth
channel (``exp``) and a sky score (``relu``), both read from the same 128-channel map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .head import Scratch, output_branch, resize_layers
from .large_config import LargeConfig


class DPTScratch(Scratch):
    """The ``scratch`` container: lateral 3x3 convs, four fusion blocks, depth and sky outputs."""

    def __init__(self, cfg: LargeConfig) -> None:
        super().__init__(cfg, out_channels=1)
        self.sky_output_conv2 = output_branch(cfg.head_features // 2, 1)


class DPTSkyHead(nn.Module):
    """Four (B, ph*pw, D) token maps -> depth ``exp(.)`` and sky score ``relu(.)``, (B, H, W) each."""

    def __init__(self, cfg: LargeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.head_channels
        self.projects = nn.ModuleList(nn.Conv2d(cfg.embed_dim, c, 1) for c in ch)
        self.resize_layers = resize_layers(ch)
        self.scratch = DPTScratch(cfg)

    def forward(self, feats: list[Tensor], height: int, width: int) -> tuple[Tensor, Tensor]:
        p = self.cfg.patch_size
        ph, pw = height // p, width // p
        resized = []
        for k, x in enumerate(feats):
            x = x.unflatten(1, (ph, pw)).permute(0, 3, 1, 2)  # (B, D, ph, pw), channels-last view
            resized.append(self.resize_layers[k](self.projects[k](x)))
        out = self.scratch.fuse(resized, height, width)
        s = self.scratch
        depth = torch.exp(s.output_conv2(out)[:, 0])
        sky = F.relu(s.sky_output_conv2(out)[:, 0])
        return depth, sky
