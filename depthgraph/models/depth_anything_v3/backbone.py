"""DINOv2-style ViT with the DA3 changes (RoPE, QK-norm, alternating attention, camera token).

Module names follow the official checkpoint under ``model.backbone.pretrained.``.
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import DA3Config
from .reference import DEFAULT_STRATEGY, Reference, select_reference


class Mlp(nn.Module):
    """fc1 -> exact GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    """Per-channel scale ``x * gamma``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Attention(nn.Module):
    """Multi-head self-attention; QK-norm and 2D RoPE when ``rope`` tables are given."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        if qk_norm:
            self.q_norm = nn.LayerNorm(self.head_dim, eps=1e-5)
            self.k_norm = nn.LayerNorm(self.head_dim, eps=1e-5)
        else:
            self.q_norm = self.k_norm = None

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        b, n, c = x.shape
        h, hd = self.num_heads, self.head_dim
        if self.q_norm is None:
            # (B, N, 3C) -> (3, B, heads, N, head_dim): channels are q|k|v, then heads, head_dim
            q, k, v = self.qkv(x).view(b, n, 3, h, hd).permute(2, 0, 3, 1, 4).unbind(0)
        else:
            # q and k in one contiguous (B, N, 2, heads, hd) tensor: one LayerNorm call, one RoPE
            w, bias = self.qkv.weight, self.qkv.bias
            qk = F.linear(x, w[: 2 * c], bias[: 2 * c]).view(b, n, 2, h, hd)
            qk = self._norm_rope(qk, rope)
            q, k = qk.permute(2, 0, 3, 1, 4).unbind(0)
            v = F.linear(x, w[2 * c :], bias[2 * c :]).view(b, n, h, hd).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, head_dim)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))

    def _norm_rope(self, qk: Tensor, rope: tuple[Tensor, Tensor] | None) -> Tensor:
        """LayerNorm q and k over head_dim (their own affine), then 2D RoPE if given."""
        hd = self.head_dim
        # LayerNorm over head_dim without affine, computed as a one-group GroupNorm over rows of
        # hd: the same mean/variance normalisation (results differ by float rounding, <= 5e-7 on
        # unit-scale values), and PyTorch's CPU GroupNorm kernel is ~1.8x faster for 64-wide rows
        normed = F.group_norm(qk.reshape(-1, hd), 1, eps=self.q_norm.eps).view(qk.shape)
        weight = torch.stack([self.q_norm.weight, self.k_norm.weight])[:, None].to(qk.dtype)
        shift = torch.stack([self.q_norm.bias, self.k_norm.bias])[:, None].to(qk.dtype)
        if rope is None:
            return torch.addcmul(shift, normed, weight)
        cos, sin = rope  # (N, hd) each -> broadcast over (B, N, 2, heads, hd)
        cos = cos.to(qk.dtype)[:, None, None]
        sin = sin.to(qk.dtype)[:, None, None]
        # rope(n * w + s) = n * (w cos) + swap(n) * (swap(w) sin) + (s cos + swap(s) sin)
        swap = _swap_halves
        out = torch.addcmul(shift * cos + swap(shift) * sin, normed, weight * cos)
        return torch.addcmul(out, swap(normed), swap(weight) * sin)


def _swap_halves(x: Tensor) -> Tensor:
    """Swap the two quarter blocks inside each half of the last dim: [a, b, c, d] -> [b, a, d, c]."""
    hd = x.shape[-1]
    return x.unflatten(-1, (2, 2, hd // 4)).flip(-2).flatten(-3)


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qk_norm: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qk_norm)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        x = torch.addcmul(x, self.attn(self.norm1(x), rope), self.ls1.gamma.to(x.dtype))
        return torch.addcmul(x, self.mlp(self.norm2(x)), self.ls2.gamma.to(x.dtype))


class PatchEmbed(nn.Module):
    """Conv2d(3, D, p, stride p), flattened to (B, ph*pw, D) in row-major order."""

    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def rope_tables(ph: int, pw: int, head_dim: int, base: float, flat: bool) -> tuple[Tensor, Tensor]:
    """cos and signed sin tables (1 + ph*pw, head_dim) for 2D RoPE.

    Patch (r, c) sits at (r + 1, c + 1) and token 0 at (0, 0); with ``flat`` (global blocks)
    every patch sits at (1, 1). The first half of head_dim follows the row, the second the column.
    """
    if flat:
        rows = torch.ones(ph * pw)
        cols = torch.ones(ph * pw)
    else:
        rows = torch.arange(1, ph + 1, dtype=torch.float32).repeat_interleave(pw)
        cols = torch.arange(1, pw + 1, dtype=torch.float32).repeat(ph)
    return rope_from_positions(rows, cols, head_dim, base)


def rope_from_positions(rows: Tensor, cols: Tensor, head_dim: int, base: float) -> tuple[Tensor, Tensor]:
    """The tables of :func:`rope_tables` for the patches' (row, col) positions; token 0 is
    put at (0, 0) here. Also used with positions computed in an ONNX graph (:mod:`.export`)."""
    half = head_dim // 2
    inv_freq = 1.0 / base ** (torch.arange(0, half, 2, dtype=torch.float32) / half)
    rows = torch.cat([torch.zeros(1), rows])
    cols = torch.cat([torch.zeros(1), cols])
    ang_r = rows[:, None] * inv_freq[None]  # (N, half/2)
    ang_c = cols[:, None] * inv_freq[None]
    angles = torch.cat([ang_r, ang_r, ang_c, ang_c], dim=-1)  # (N, head_dim)
    sign = torch.ones(head_dim)
    quarter = head_dim // 4
    sign[:quarter] = -1.0
    sign[half : half + quarter] = -1.0
    return angles.cos(), angles.sin() * sign


def resize_pos_embed(table: Tensor, grid: int, ph: int, pw: int) -> Tensor:
    """Position table (1, 1 + grid*grid, D) -> (1, 1 + ph*pw, D): the patch part resized bicubic
    with the DINOv2 ``+0.1`` scale-factor rule, the cls entry kept; unchanged at ``grid x grid``."""
    if (ph, pw) == (grid, grid):
        return table
    patches = table[:, 1:].reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
    patches = F.interpolate(
        patches,
        scale_factor=((ph + 0.1) / grid, (pw + 0.1) / grid),
        mode="bicubic",
        align_corners=False,
        antialias=False,
    )
    assert patches.shape[-2:] == (ph, pw), patches.shape
    return torch.cat([table[:, :1], patches.flatten(2).transpose(1, 2)], dim=1)


class SizeCache:
    """Per-size tables made once and kept, under a lock (models are called from several threads).
    Call :meth:`_init_cache` in ``__init__``."""

    def _init_cache(self) -> None:
        self._cache: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple, make) -> object:
        with self._lock:
            value = self._cache.get(key)
        if value is None:
            value = make()
            with self._lock:
                self._cache[key] = value
        return value

    def clear_cache(self) -> None:
        """Forget the per-size position tables (call after loading new weights)."""
        with self._lock:
            self._cache.clear()


class DinoVisionTransformer(SizeCache, nn.Module):
    """The DA3 ViT: returns, for each output layer, ``cat([local_x, norm(x)])`` patch tokens,
    and the camera feature (token 0 of the last two blocks' outputs, not normalised)."""

    def __init__(self, cfg: DA3Config) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.patch_size, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.camera_token = nn.Parameter(torch.zeros(1, 2, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.pos_grid**2, d))
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.mlp_ratio, qk_norm=i >= cfg.special_start)
            for i in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(d, eps=1e-5)
        self._init_cache()

    def _is_global(self, i: int) -> bool:
        return i >= self.cfg.special_start and i % 2 == 1

    def _pos_embed(self, ph: int, pw: int, device: torch.device) -> Tensor:
        """Positional table (1, 1 + ph*pw, D) resized from the 37x37 grid (bicubic, +0.1)."""

        def make() -> Tensor:
            return resize_pos_embed(self.pos_embed.detach().float(), self.cfg.pos_grid, ph, pw).to(device)

        return self._cached(("pos", ph, pw, str(device)), make)

    def _rope(self, ph: int, pw: int, flat: bool, device: torch.device) -> tuple[Tensor, Tensor]:
        def make() -> tuple[Tensor, Tensor]:
            cos, sin = rope_tables(ph, pw, self.cfg.head_dim, self.cfg.rope_base, flat)
            return cos.to(device), sin.to(device)

        return self._cached(("rope", ph, pw, flat, str(device)), make)

    def forward(
        self,
        x: Tensor,
        num_views: int = 1,
        reference: Reference = DEFAULT_STRATEGY,
        camera_tokens: Tensor | None = None,
    ) -> tuple[list[Tensor], Tensor, Tensor]:
        """``x`` (B*S, 3, H, W), the S views of each sample consecutive ->
        ([(B*S, ph*pw, 2D)] per out layer, camera feature (B*S, 2D), reference view (B,)).

        With ``num_views`` S = 1 every image is its own scene (the monocular network). With
        S > 1 the global blocks attend over all S*N tokens of a sample, and the reference view
        (chosen before block 3, see :mod:`.reference`) gets camera token 0, the others token 1.
        Views stay in input order throughout: the global blocks give every view the same
        positions, so the official reordering only changes float summation order (spec 3.3).

        ``camera_tokens`` (B*S, D), from the camera encoder (da3-poses spec 7): they replace token
        0 of every view before block 4 and no reference view is selected (``ref`` stays 0).
        """
        bs, _, h, w = x.shape
        s = int(num_views)
        if s < 1 or bs % s:
            raise ValueError(f"{bs} images cannot be split into scenes of {s} views")
        b = bs // s
        p = self.cfg.patch_size
        ph, pw = h // p, w // p
        tokens = self.patch_embed(x)  # (B*S, ph*pw, D)
        tokens = torch.cat([self.cls_token.expand(bs, -1, -1).to(tokens.dtype), tokens], dim=1)
        x = tokens + self._pos_embed(ph, pw, x.device).to(tokens.dtype)
        n, d = x.shape[1], x.shape[2]

        local_rope = self._rope(ph, pw, False, x.device)
        global_rope = self._rope(ph, pw, True, x.device)
        if s > 1:  # one sequence of S*N tokens per sample: the flat positions repeat per view
            global_rope = (global_rope[0].repeat(s, 1), global_rope[1].repeat(s, 1))
        ref = torch.zeros(b, dtype=torch.long, device=x.device)
        outs: list[Tensor] = []
        local_x = x
        prev = x
        camera = None
        last = max(self.cfg.out_layers)
        for i, blk in enumerate(self.blocks):
            if i == self.cfg.special_start - 1 and s > 1 and camera_tokens is None:
                ref = select_reference(x[:, 0].reshape(b, s, d), reference)
            if i == self.cfg.special_start and camera_tokens is not None:
                x = torch.cat([camera_tokens.to(x.dtype)[:, None], x[:, 1:]], dim=1)
            elif i == self.cfg.special_start:
                # the reference view of each scene gets camera_token[:, 0], the others [:, 1]
                is_ref = torch.arange(s, device=x.device)[None, :] == ref[:, None]  # (B, S)
                which = (~is_ref).long().reshape(bs)
                cam = self.camera_token[0].to(x.dtype)[which][:, None]  # (B*S, 1, D)
                x = torch.cat([cam, x[:, 1:]], dim=1)
            is_global = self._is_global(i)
            if i < self.cfg.special_start:
                rope = None
            else:
                rope = global_rope if is_global else local_rope
            prev = x
            if is_global and s > 1:
                x = blk(x.reshape(b, s * n, d), rope).reshape(bs, n, d)
            else:
                x = blk(x, rope)
            if not is_global:
                local_x = x
            if i in self.cfg.out_layers:
                normed = self.norm(x)
                outs.append(torch.cat([local_x[:, 1:], normed[:, 1:]], dim=-1))
            if i == last:  # camera feature: token 0 of the last two blocks, neither normalised
                camera = torch.cat([prev[:, 0], x[:, 0]], dim=-1)
                break
        assert camera is not None
        return outs, camera, ref


class Backbone(nn.Module):
    """Wrapper giving the official ``backbone.pretrained.`` names."""

    def __init__(self, cfg: DA3Config) -> None:
        super().__init__()
        self.pretrained = DinoVisionTransformer(cfg)

    def forward(
        self,
        x: Tensor,
        num_views: int = 1,
        reference: Reference = DEFAULT_STRATEGY,
        camera_tokens: Tensor | None = None,
    ) -> tuple[list[Tensor], Tensor, Tensor]:
        return self.pretrained(x, num_views, reference, camera_tokens)
