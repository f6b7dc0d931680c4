"""Camera encoder (``model.cam_enc.``): the caller's poses -> one token per view (da3-poses spec 6).

(B, S, 9) pose encodings -> pose_branch MLP -> LayerNorm -> four pre-norm transformer blocks
over the S views of each sample (16 heads, LayerNorm eps 1e-5, no positions) -> LayerNorm ->
(B, S, D). Always float32. The tokens replace token 0 of every view before block 4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .backbone import Block

ENCODER_HEADS = 16
ENCODER_DEPTH = 4
ENCODER_EPS = 1e-5
POSE_DIM = 9


class PoseBranch(nn.Module):
    """fc1 (9 -> D/2) -> exact GELU -> fc2 (D/2 -> D)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(POSE_DIM, dim // 2)
        self.fc2 = nn.Linear(dim // 2, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def _encoder_block(dim: int) -> Block:
    """The backbone's block with 16 heads, no QK-norm and LayerNorm eps 1e-5."""
    block = Block(dim, ENCODER_HEADS, 4.0, qk_norm=False)
    block.norm1 = nn.LayerNorm(dim, eps=ENCODER_EPS)
    block.norm2 = nn.LayerNorm(dim, eps=ENCODER_EPS)
    return block


class CameraEncoder(nn.Module):
    """Pose encodings (B, S, 9) -> camera tokens (B, S, D); the views of one sample attend to each other."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % ENCODER_HEADS:
            raise ValueError(f"camera encoder width {dim} is not a multiple of {ENCODER_HEADS} heads")
        self.pose_branch = PoseBranch(dim)
        self.token_norm = nn.LayerNorm(dim, eps=ENCODER_EPS)
        self.trunk = nn.Sequential(*(_encoder_block(dim) for _ in range(ENCODER_DEPTH)))
        self.trunk_norm = nn.LayerNorm(dim, eps=ENCODER_EPS)

    def forward(self, pose_enc: Tensor) -> Tensor:
        if pose_enc.dim() != 3 or pose_enc.shape[-1] != POSE_DIM:
            raise ValueError(f"pose encoding must have shape (B, S, {POSE_DIM}), got {tuple(pose_enc.shape)}")
        x = self.token_norm(self.pose_branch(pose_enc.float()))
        for block in self.trunk:
            x = block(x)
        return self.trunk_norm(x)
