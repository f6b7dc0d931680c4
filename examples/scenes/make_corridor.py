"""Render the `corridor/` example: 4 small views of a made-up room along a metric trajectory.

A floor, two side walls and a back wall (textured so that every view has detail), rendered by ray
casting from 4 cameras that walk forward 0.4 m per step along a gentle curve to the right (eye
height 1.6 m, bobbing 3 cm), turning 5 degrees each step: not on one line, so the fit of the
camera centres is fully determined. The cameras go into `corridor/transforms.json` (Nerfstudio conventions: camera-to-world,
OpenGL camera axes, metres). Run from the repository root:

    python examples/scenes/make_corridor.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parent / "corridor"
H, W, F = 120, 160, 140.0  # image size and focal length (pixels)
#: planes as (normal n, offset d) with n . x = d, in a world with y UP, metres
PLANES = [((0, 1, 0), 0.0), ((1, 0, 0), -1.5), ((-1, 0, 0), -1.5), ((0, 0, 1), -6.0)]


def texture(points: np.ndarray, which: np.ndarray) -> np.ndarray:
    """A colour per hit point: tiles of 0.5 m, a different tint per plane, a soft stripe pattern."""
    tint = np.array([[200, 170, 120], [90, 140, 200], [120, 200, 110], [210, 120, 150]], np.float64)
    u = np.floor(points[:, 0] * 2) + np.floor(points[:, 1] * 2) + np.floor(points[:, 2] * 2)
    check = (u % 2)[:, None] * 0.35 + 0.65
    stripe = 0.85 + 0.15 * np.sin(points[:, [0, 2]].sum(axis=1) * 9)[:, None]
    return np.clip(tint[which] * check * stripe, 0, 255)


def render(c2w_gl: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3) seen by a camera with camera-to-world ``c2w_gl`` (OpenGL axes)."""
    v, u = np.mgrid[0:H, 0:W] + 0.5
    dirs_cam = np.stack([(u - W / 2) / F, -(v - H / 2) / F, -np.ones_like(u)], axis=-1).reshape(-1, 3)
    dirs = dirs_cam @ c2w_gl[:3, :3].T
    origin = c2w_gl[:3, 3]
    best_t = np.full(len(dirs), np.inf)
    which = np.zeros(len(dirs), int)
    for i, (n, d) in enumerate(PLANES):
        n = np.asarray(n, np.float64)
        denom = dirs @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (d - origin @ n) / denom
        hit = (t > 1e-6) & (t < best_t)
        best_t[hit], which[hit] = t[hit], i
    points = origin + dirs * best_t[:, None]
    rgb = texture(points, which).reshape(H, W, 3)
    return np.ascontiguousarray(rgb[:, :, ::-1]).astype(np.uint8)


def trajectory(n: int = 4) -> list[np.ndarray]:
    """Camera-to-world (OpenGL axes: x right, y up, z backwards) along a gentle walk at 1.6 m."""
    out = []
    for i in range(n):
        yaw = math.radians(-5.0 * i)  # turning right
        r = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
        c2w = np.eye(4)
        c2w[:3, :3] = r
        c2w[:3, 3] = (0.05 * i * i, 1.6 + 0.03 * (i % 2), -0.4 * i)  # forward is -z; a curve, not a line
        out.append(c2w)
    return out


def main() -> None:
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    frames = []
    for i, c2w in enumerate(trajectory()):
        name = f"images/view_{i}.png"
        cv2.imwrite(str(OUT / name), render(c2w))
        frames.append({"file_path": name, "transform_matrix": np.round(c2w, 12).tolist()})
    doc = {"camera_model": "OPENCV", "fl_x": F, "fl_y": F, "cx": W / 2, "cy": H / 2, "w": W, "h": H, "frames": frames}
    (OUT / "transforms.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(frames)} views and transforms.json to {OUT}")


if __name__ == "__main__":
    main()
