"""Shared helpers for the known-cameras (da3-poses) tests: fixture cases and cached runs.

``fixtures/da3-poses`` holds reduced copies of the shared official outputs (see its
``shrink.py``): depth and confidence on every second row and column, the case-a network input
on every fourth, everything else as the official files hold it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from scene_helpers import case_id, check_maps, rel_err  # noqa: F401  (shared with the scene tests)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "da3-poses"
GRID = 2


def manifest() -> dict:
    return json.loads((FIXTURES / "manifest.json").read_text())


def cases() -> list[dict]:
    return manifest()["cases"]


@lru_cache(maxsize=None)
def reference(file: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / file) as data:
        return {k: data[k] for k in data.files}


@lru_cache(maxsize=None)
def alignment_only() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "alignment_only.npz") as data:
        return {k: data[k] for k in data.files}


def case_images(case: dict) -> list[np.ndarray]:
    """The case's input images, BGR as OpenCV reads them."""
    out = []
    for name in case["images"]:
        image = cv2.imread(str(FIXTURES / name), cv2.IMREAD_COLOR)
        assert image is not None, name
        out.append(image)
    return out


class Capture:
    """Forward hooks on the camera encoder's stages and the camera decoder (spec 6, 7)."""

    def __init__(self, network) -> None:
        self.values: dict[str, np.ndarray] = {}
        enc, dec = network.cam_enc, network.cam_dec
        self._handles = [
            enc.pose_branch.register_forward_hook(self._keep("cam_enc_pose_branch")),
            enc.token_norm.register_forward_hook(self._keep("cam_enc_token_norm")),
            enc.register_forward_hook(self._keep("cam_tokens")),
            dec.register_forward_pre_hook(self._keep_input("cam_feat")),
            dec.fc_t.register_forward_hook(self._keep("fc_t")),
            dec.fc_qvec.register_forward_hook(self._keep("fc_qvec")),
            dec.fc_fov.register_forward_hook(self._keep("fc_fov")),
        ]
        for i, block in enumerate(enc.trunk):
            self._handles.append(block.register_forward_hook(self._keep(f"cam_enc_trunk_{i}")))

    def _keep(self, name):
        def hook(module, args, output):
            self.values[name] = output.detach().float().cpu().numpy().reshape(-1, output.shape[-1])

        return hook

    def _keep_input(self, name):
        def hook(module, args):
            self.values[name] = args[0].detach().float().cpu().numpy()

        return hook

    def net_pose_enc(self) -> np.ndarray:
        v = self.values
        return np.concatenate([v["fc_t"], v["fc_qvec"], v["fc_fov"]], axis=1)

    def close(self) -> None:
        for h in self._handles:
            h.remove()


@lru_cache(maxsize=None)
def posed_run(file: str, align: bool = True):
    """Our ``predict_scene`` with the case's cameras (recipe weights), plus captured stages."""
    from model_helpers import pretrained

    (case,) = [c for c in cases() if c["file"] == file]
    ref = reference(file)
    model = pretrained(case["variant"].split("-")[1])
    old = model.process_res
    model.process_res = case["process_res"]
    capture = Capture(model.network)
    try:
        scene = model.predict_scene(
            case_images(case), ref["input_extrinsics"], ref["input_intrinsics"], align_to_input_scale=align
        )
    finally:
        capture.close()
        model.process_res = old
    return scene, capture
