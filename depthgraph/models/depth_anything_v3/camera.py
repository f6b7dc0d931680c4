"""Camera decoder (``model.cam_dec.``): camera feature -> field of view, pose, intrinsics."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def quaternion_to_matrix(q: Tensor) -> Tensor:
    """Unit quaternions (..., 4) in xyzw order -> rotation matrices (..., 3, 3)."""
    q = F.normalize(q, dim=-1)
    x, y, z, w = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).unflatten(-1, (3, 3))


class CameraDecoder(nn.Module):
    """MLP on the camera token: ``fc_fov`` (fov_h, fov_w radians), ``fc_t``, ``fc_qvec`` (xyzw)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim), nn.ReLU(inplace=True)
        )
        self.fc_t = nn.Linear(dim, 3)
        self.fc_qvec = nn.Linear(dim, 4)
        self.fc_fov = nn.Sequential(nn.Linear(dim, 2), nn.ReLU())

    def forward(self, feat: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
        """``feat`` (B, dim) -> intrinsics (B, 3, 3) at (height, width) and extrinsics (B, 3, 4)
        world-to-camera."""
        h = self.backbone(feat.float())
        fov = self.fc_fov(h)
        fov_h, fov_w = fov[:, 0], fov[:, 1]
        fx = (width / 2) / torch.clamp(torch.tan(fov_w / 2), min=1e-6)
        fy = (height / 2) / torch.clamp(torch.tan(fov_h / 2), min=1e-6)
        intr = torch.zeros(feat.shape[0], 3, 3, dtype=torch.float32, device=feat.device)
        intr[:, 0, 0] = fx
        intr[:, 1, 1] = fy
        intr[:, 0, 2] = width / 2
        intr[:, 1, 2] = height / 2
        intr[:, 2, 2] = 1.0
        rot = quaternion_to_matrix(self.fc_qvec(h))  # camera-to-world rotation
        t = self.fc_t(h)
        rot_t = rot.transpose(-1, -2)
        extr = torch.cat([rot_t, -(rot_t @ t[..., None])], dim=-1)
        return intr, extr
