"""Choosing the reference view of a scene (da3-multiview spec, section 3.3).

The reference view is the one that receives the first learned camera token. For S >= 3 views it
is chosen from the data, from each view's token 0 after backbone block 2; for S < 3 it is always
view 0 (whatever strategy is named). A caller may also name a view by its index.
"""

from __future__ import annotations

import torch
from torch import Tensor

STRATEGIES = ("saddle_balanced", "first", "middle", "saddle_sim_range")
DEFAULT_STRATEGY = "saddle_balanced"

Reference = str | int


def check_reference(reference: Reference, num_views: int) -> Reference:
    """Validate a strategy name or a view index for ``num_views`` views; return it normalised."""
    if isinstance(reference, bool):
        raise ValueError(f"reference must be a strategy name or a view index, got {reference!r}")
    if isinstance(reference, int):
        if not 0 <= reference < num_views:
            raise ValueError(f"reference view index {reference} is out of range for {num_views} view(s)")
        return int(reference)
    if isinstance(reference, str):
        key = reference.strip().lower()
        if key.lstrip("-").isdigit():
            return check_reference(int(key), num_views)
        if key not in STRATEGIES:
            raise ValueError(
                f"unknown reference strategy {reference!r}; use one of {', '.join(STRATEGIES)} or a view index"
            )
        return key
    raise ValueError(f"reference must be a strategy name or a view index, got {type(reference).__name__}")


def _minmax(m: Tensor) -> Tensor:
    lo = m.min(dim=-1, keepdim=True).values
    hi = m.max(dim=-1, keepdim=True).values
    return (m - lo) / (hi - lo + 1e-8)


def balance_scores(cls_tokens: Tensor) -> Tensor:
    """``saddle_balanced`` scores (B, S) of token-0 features (B, S, D); the smallest wins."""
    c = cls_tokens.float()
    s = c.shape[1]
    norms = c.norm(dim=-1)  # (B, S)
    f = c / norms[..., None]
    sim = (f @ f.transpose(1, 2)).sum(dim=-1)  # includes f_s . f_s
    sim = (sim - 1.0) / (s - 1)
    spread = f.var(dim=-1, unbiased=True)
    return (_minmax(sim) - 0.5).abs() + (_minmax(norms) - 0.5).abs() + (_minmax(spread) - 0.5).abs()


def sim_range(cls_tokens: Tensor) -> Tensor:
    """``saddle_sim_range`` scores (B, S): range of each view's cosine similarities; the largest wins."""
    c = cls_tokens.float()
    f = c / c.norm(dim=-1, keepdim=True)
    g = f @ f.transpose(1, 2)
    eye = torch.eye(g.shape[-1], dtype=g.dtype, device=g.device)
    g = g - eye  # diagonal: f_s . f_s - 1
    return g.max(dim=-1).values - g.min(dim=-1).values


def select_reference(cls_tokens: Tensor, reference: Reference) -> Tensor:
    """Reference view per sample (B,) int64 from token-0 features (B, S, D) after block 2."""
    b, s, _ = cls_tokens.shape
    device = cls_tokens.device
    if isinstance(reference, int):
        return torch.full((b,), reference, dtype=torch.long, device=device)
    if s < 3 or reference == "first":
        return torch.zeros(b, dtype=torch.long, device=device)
    if reference == "middle":
        return torch.full((b,), s // 2, dtype=torch.long, device=device)
    if reference == "saddle_balanced":
        return balance_scores(cls_tokens).argmin(dim=-1)  # first index on an exact tie
    if reference == "saddle_sim_range":
        return sim_range(cls_tokens).argmax(dim=-1)
    raise ValueError(f"unknown reference strategy {reference!r}")
