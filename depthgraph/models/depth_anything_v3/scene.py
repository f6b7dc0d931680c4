"""Several views of one scene in one pass (da3-multiview spec): inputs, outputs, fused cloud.

:func:`prepare_views` preprocesses each view as for one image and centre-crops all of them to
the smallest processed height and width; :class:`ScenePrediction` holds the network outputs and
maps them back to each input; :meth:`ScenePrediction.point_cloud` is the official fused
world-frame cloud (spec section 9).

Mapping back to an input image: a view's network maps cover the crop window
``[top, top + h) x [left, left + w)`` of that view resized to ``resized_hw``. Each input pixel
centre is mapped into that window (``y_net = (y + 0.5) * rh / H0 - 0.5 - top``, likewise x) and
sampled bilinearly; input pixels whose centre falls outside the window by more than half a
network pixel get NaN depth and confidence. Without a crop this is exactly the monocular resize.
Intrinsics: the crop offsets are added to ``cx, cy``, then both rows are scaled by
``input / resized`` (spec section 2.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .preprocess import MEAN, STD, preprocess

#: Parameters of the official point-cloud export (spec section 9).
CONF_THRESH = 1.05
CONF_PERCENTILE = 40.0
ENSURE_PERCENTILE = 90.0
MAX_POINTS = 1_000_000
#: OpenCV camera axes -> glTF / OpenGL axes (y up, z backwards)
FLIP_YZ = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class ViewGeometry:
    """Where one view's network maps sit in its input image."""

    input_hw: tuple[int, int]  # (H0, W0) of the image the caller passed
    resized_hw: tuple[int, int]  # (h_s, w_s) after the monocular preprocessing, before the crop
    crop_offset: tuple[int, int]  # (top, left) of the crop window in the resized image

    @property
    def cropped(self) -> bool:
        return self.crop_offset != (0, 0)


def prepare_views(rgbs: Sequence[np.ndarray], process_res: int) -> tuple[np.ndarray, list[ViewGeometry]]:
    """RGB uint8 views -> network input (S, 3, h, w) and each view's geometry.

    Every view is preprocessed as a single image; when the processed sizes differ, all views are
    centre-cropped to ``(min h, min w)`` (the minima taken independently), never resized again.
    """
    if len(rgbs) == 0:
        raise ValueError("a scene needs at least one image")
    pixels = [preprocess(rgb, process_res) for rgb in rgbs]
    h = min(p.shape[1] for p in pixels)
    w = min(p.shape[2] for p in pixels)
    out = np.empty((len(pixels), 3, h, w), dtype=np.float32)
    geometry = []
    for s, (rgb, p) in enumerate(zip(rgbs, pixels)):
        rh, rw = p.shape[1:]
        top, left = (rh - h) // 2, (rw - w) // 2
        out[s] = p[:, top : top + h, left : left + w]
        geometry.append(ViewGeometry((int(rgb.shape[0]), int(rgb.shape[1])), (int(rh), int(rw)), (top, left)))
    return out, geometry


def processed_images(pixels: np.ndarray) -> np.ndarray:
    """(S, 3, h, w) normalised pixels -> (S, h, w, 3) RGB uint8 as the official API makes them
    (float64, clipped to [0, 1], times 255, truncated)."""
    x = pixels.astype(np.float64).transpose(0, 2, 3, 1)
    x = x * STD.astype(np.float64) + MEAN.astype(np.float64)
    return (np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _to_input_size(maps: torch.Tensor, geo: ViewGeometry) -> torch.Tensor:
    """(C, h, w) network maps -> (C, H0, W0) at the input size (NaN outside the crop window)."""
    c, h, w = maps.shape
    h0, w0 = geo.input_hw
    if not geo.cropped and geo.resized_hw == (h, w):
        if (h0, w0) == (h, w):
            return maps.clone()
        return F.interpolate(maps[None], size=(h0, w0), mode="bilinear", align_corners=False)[0]
    rh, rw = geo.resized_hw
    top, left = geo.crop_offset
    ys = (torch.arange(h0, dtype=torch.float64) + 0.5) * (rh / h0) - 0.5 - top
    xs = (torch.arange(w0, dtype=torch.float64) + 0.5) * (rw / w0) - 0.5 - left
    gy = ((2 * ys + 1) / h - 1).float()
    gx = ((2 * xs + 1) / w - 1).float()
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None]  # (1, H0, W0, 2)
    out = F.grid_sample(maps[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    inside = ((ys >= -0.5) & (ys <= h - 0.5))[:, None] & ((xs >= -0.5) & (xs <= w - 0.5))[None, :]
    return out.masked_fill(~inside[None], float("nan"))


def _input_intrinsics(k: np.ndarray, geo: ViewGeometry) -> np.ndarray:
    out = k.astype(np.float64).copy()
    top, left = geo.crop_offset
    out[0, 2] += left
    out[1, 2] += top
    out[0, :] *= geo.input_hw[1] / geo.resized_hw[1]
    out[1, :] *= geo.input_hw[0] / geo.resized_hw[0]
    out[2] = (0.0, 0.0, 1.0)
    return out.astype(np.float32)


@dataclass
class SceneCloud:
    """The fused, coloured cloud of a scene (spec section 9).

    ``points`` are in the network's shared WORLD frame (OpenCV axes: the frame the extrinsics
    map from); ``alignment`` is the official display transform ``A`` (view 0's camera frame with
    y and z flipped, then median-centred) and :meth:`display_points` applies it, which is what
    the official ``scene.glb`` holds.
    """

    points: np.ndarray  # (M, 3) float32, world frame
    colors: np.ndarray  # (M, 3) uint8 RGB
    view_index: np.ndarray  # (M,) int32, input order
    pixels: np.ndarray  # (M, 2) int32 (u, v) at the network resolution
    threshold: float  # the confidence threshold used
    mask: np.ndarray  # (S, h, w) bool, pixels that entered the cloud (before any cap)
    alignment: np.ndarray  # (4, 4) float64

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def display_points(self) -> np.ndarray:
        """Points in the official GLB frame (y up, z backwards, median-centred), float32."""
        a = self.alignment
        return (self.points.astype(np.float64) @ a[:3, :3].T + a[:3, 3]).astype(np.float32)


def fuse_point_cloud(
    depth: np.ndarray,
    conf: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    images: np.ndarray,
    conf_threshold: float | None = None,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> SceneCloud:
    """The official fused cloud of S views at the network resolution (spec section 9).

    ``conf_threshold`` None: one threshold for all views, ``min(max(1.05, P40), P90)`` of all
    confidences; a number is used as given. Above ``max_points`` a seeded random subset is kept
    (the official export's subset is unseeded).
    """
    s, h, w = depth.shape
    if conf_threshold is None:
        lo = float(np.percentile(conf, CONF_PERCENTILE))
        hi = float(np.percentile(conf, ENSURE_PERCENTILE))
        thr = min(max(CONF_THRESH, lo), hi)
    else:
        thr = float(conf_threshold)
        if not math.isfinite(thr):
            raise ValueError(f"conf_threshold must be a finite number, got {conf_threshold!r}")
    mask = np.isfinite(depth) & (depth > 0) & (conf >= thr)
    pts, cols, views, pix = [], [], [], []
    for v in range(s):
        rows, us = np.nonzero(mask[v])
        k_inv = np.linalg.inv(intrinsics[v].astype(np.float32)).astype(np.float64)
        e4 = np.eye(4, dtype=np.float32)
        e4[:3] = extrinsics[v]
        c2w = np.linalg.inv(e4).astype(np.float64)
        rays = np.stack([us, rows, np.ones_like(us)], axis=1).astype(np.float64) @ k_inv.T
        cam = rays * depth[v, rows, us].astype(np.float64)[:, None]
        pts.append(cam @ c2w[:3, :3].T + c2w[:3, 3])
        cols.append(images[v, rows, us])
        views.append(np.full(len(us), v, dtype=np.int32))
        pix.append(np.stack([us, rows], axis=1).astype(np.int32))
    world = np.concatenate(pts) if pts else np.zeros((0, 3))
    e0 = np.eye(4)
    e0[:3] = extrinsics[0].astype(np.float64)
    a0 = FLIP_YZ @ e0
    q = world @ a0[:3, :3].T + a0[:3, 3]
    centre = np.median(q, axis=0) if len(q) else np.zeros(3)
    shift = np.eye(4)
    shift[:3, 3] = -centre
    alignment = shift @ a0
    colors = np.concatenate(cols) if cols else np.zeros((0, 3), np.uint8)
    view_index = np.concatenate(views) if views else np.zeros(0, np.int32)
    pixels = np.concatenate(pix) if pix else np.zeros((0, 2), np.int32)
    finite = np.isfinite(world).all(axis=1)
    world, colors, view_index, pixels = world[finite], colors[finite], view_index[finite], pixels[finite]
    if len(world) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(world), max_points, replace=False))
        world, colors, view_index, pixels = world[keep], colors[keep], view_index[keep], pixels[keep]
    return SceneCloud(world.astype(np.float32), colors, view_index, pixels, thr, mask, alignment)


@dataclass
class ScenePrediction:
    """What DA3 predicts for S views of one scene (all lists in INPUT order).

    ``views[s]`` is a :class:`DepthPrediction` at input ``s``'s own size with its extrinsics
    (world-to-camera, one shared world frame; the unit is the depth's unknown scale).
    """

    views: list  # list[DepthPrediction]
    reference_view: int
    processed_size: tuple[int, int]  # (h, w) the network saw, shared by all views
    geometry: list[ViewGeometry]
    _depth: np.ndarray = field(repr=False)  # (S, h, w)
    _confidence: np.ndarray = field(repr=False)
    _intrinsics: np.ndarray = field(repr=False)  # (S, 3, 3) at (h, w)
    _extrinsics: np.ndarray = field(repr=False)  # (S, 3, 4)
    _images: np.ndarray = field(repr=False)  # (S, h, w, 3) uint8 RGB the network saw
    #: known cameras (da3-poses spec): the fit of the caller's cameras onto the network's, the
    #: network's own camera estimate (S, 3, 4) / (S, 3, 3) at (h, w), what the network was
    #: conditioned on, and the depth's unit ("relative" unless aligned with ``units`` given)
    pose_alignment: Any = None  # PoseAlignment | None
    predicted_extrinsics: np.ndarray | None = field(default=None, repr=False)
    predicted_intrinsics: np.ndarray | None = field(default=None, repr=False)
    pose_conditioning: Any = field(default=None, repr=False)  # PoseConditioning | None
    unit: str = "relative"
    aligned_to_input: bool = False  # outputs in the caller's frame (and unit) when True

    def __len__(self) -> int:
        return len(self.views)

    @property
    def depth_source(self) -> str:
        """Where the depth's scale came from (``DepthMap.source``): empty for relative depth."""
        if self.pose_alignment is None or not self.aligned_to_input:
            return ""
        return "aligned to given cameras" + ("" if self.unit != "relative" else " (their unit was not given)")

    def network_outputs(self) -> dict[str, np.ndarray]:
        """Copies of the raw outputs at the network resolution, input view order."""
        return {
            "depth": self._depth.copy(),
            "confidence": self._confidence.copy(),
            "intrinsics": self._intrinsics.copy(),
            "extrinsics": self._extrinsics.copy(),
        }

    @property
    def processed_images(self) -> np.ndarray:
        """(S, h, w, 3) RGB uint8: what the network saw (after any crop), as colours."""
        return self._images

    def point_cloud(self, conf_threshold: float | None = None, max_points: int = MAX_POINTS) -> SceneCloud:
        """The fused world-frame cloud as the official export computes it (see :func:`fuse_point_cloud`)."""
        return fuse_point_cloud(
            self._depth, self._confidence, self._intrinsics, self._extrinsics, self._images,
            conf_threshold=conf_threshold, max_points=max_points,
        )  # fmt: skip


def build_scene_prediction(
    out, geometry: list[ViewGeometry], pixels: np.ndarray, postprocess, record, posed=None
) -> ScenePrediction:
    """Assemble a :class:`ScenePrediction` from one scene's network output (batch axis 1 of 1).

    ``postprocess(out, j, input_hw)`` is the monocular mapping, used for views without a crop,
    so that one view through the scene path equals the monocular result bit for bit;
    ``record`` is the per-view record type (``DepthPrediction``) for the cropped ones.
    ``posed``: ``(AlignedOutputs, PoseConditioning, align_to_input_scale)`` when the caller gave cameras; its depth
    and cameras replace the network's (the network's own cameras stay as ``predicted_*``).
    """
    depth, conf = out.depth[0], out.confidence[0]
    intr, extr = out.intrinsics[0], out.extrinsics[0]
    predicted = (extr.numpy().copy(), intr.numpy().copy())
    if posed is not None:
        aligned = posed[0]
        depth = torch.from_numpy(aligned.depth)
        intr = torch.from_numpy(aligned.intrinsics)
        extr = torch.from_numpy(aligned.extrinsics)
    h, w = depth.shape[-2:]
    views = []
    flat = type(out)(depth, conf, intr, extr)
    for s, geo in enumerate(geometry):
        if not geo.cropped:
            views.append(postprocess(flat, s, geo.input_hw))
            continue
        with torch.inference_mode():
            maps = _to_input_size(torch.stack([depth[s], conf[s]]), geo)
        k = _input_intrinsics(intr[s].numpy(), geo)
        h0, w0 = geo.input_hw
        fx, fy = float(k[0, 0]), float(k[1, 1])
        fov = (math.degrees(2 * math.atan(w0 / (2 * fx))), math.degrees(2 * math.atan(h0 / (2 * fy))))
        views.append(record(
            depth=maps[0].numpy().copy(),
            confidence=maps[1].numpy().copy(),
            intrinsics=k,
            fov=fov,
            processed_size=(int(h), int(w)),
            extrinsics=extr[s].numpy().astype(np.float32),
        ))  # fmt: skip
    return ScenePrediction(
        views=views,
        reference_view=int(out.reference[0]),
        processed_size=(int(h), int(w)),
        geometry=list(geometry),
        _depth=depth.numpy().copy(),
        _confidence=conf.numpy().copy(),
        _intrinsics=intr.numpy().copy(),
        _extrinsics=extr.numpy().copy(),
        _images=processed_images(pixels),
        pose_alignment=None if posed is None else posed[0].alignment,
        predicted_extrinsics=None if posed is None else predicted[0],
        predicted_intrinsics=None if posed is None else predicted[1],
        pose_conditioning=None if posed is None else posed[1],
        unit="relative" if posed is None else posed[0].unit,
        aligned_to_input=posed is not None and bool(posed[2]),
    )


def pose_summary(prediction: Any) -> dict[str, Any]:
    """Summary fields of a scene run (the multi-view block's ``scene`` value, ``scene.json``): with
    known cameras (da3-poses) the depth's unit, the frame and the fit; nothing otherwise."""
    alignment = getattr(prediction, "pose_alignment", None)
    if alignment is None:
        return {}
    return {
        "depth_unit": prediction.unit,
        "frame": "given cameras" if prediction.aligned_to_input else "network",
        "pose_alignment": alignment.to_dict(),
    }
