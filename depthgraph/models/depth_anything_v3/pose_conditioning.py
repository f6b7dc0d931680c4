"""Known cameras through one scene pass (da3-poses spec): conditioning in, alignment out.

:func:`condition_on_cameras` turns the caller's validated cameras into what the network reads
(processed intrinsics, normalised poses, 9-number encodings); :func:`aligned_outputs` fits the
caller's cameras to the network's and returns the scene outputs in the caller's frame and unit
(``align_to_input_scale=True``) or the network's (False). numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...engine.values import LENGTH_UNITS_IN_METRES, RELATIVE
from .pose_alignment import PoseAlignment, align_poses
from .pose_input import CameraInputError, normalise_poses, pose_encoding, processed_intrinsics


@dataclass(frozen=True)
class PoseConditioning:
    """What the network was conditioned on (diagnostics; spec sections 3-5)."""

    extrinsics: np.ndarray  # (S, 4, 4) float64, the caller's world-to-camera
    intrinsics: np.ndarray  # (S, 3, 3) float64, pixels of the images as passed
    processed_intrinsics: np.ndarray  # (S, 3, 3) float64, pixels of the network input
    normalised_extrinsics: np.ndarray  # (S, 4, 4) float64, relative to view 0, over `median`
    median_distance: float  # m of spec section 4 (caller units, clamped to >= 0.1)
    encoding: np.ndarray  # (S, 9) float32 [c, q_xyzw, fov_h, fov_w]


def check_units(units: str | None) -> str:
    """``None`` -> ``"relative"``; a length unit of :data:`LENGTH_UNITS_IN_METRES` as given."""
    if units is None:
        return RELATIVE
    if not isinstance(units, str) or units not in LENGTH_UNITS_IN_METRES:
        known = ", ".join(repr(u) for u in LENGTH_UNITS_IN_METRES)
        raise CameraInputError(f"units: expected one of {known} (what the extrinsics' translations are in), got {units!r}")
    return units


def condition_on_cameras(
    extrinsics: np.ndarray,
    intrinsics: np.ndarray,
    input_hw: Sequence[tuple[int, int]],
    resized_hw: Sequence[tuple[int, int]],
    crop_offset: Sequence[tuple[int, int]],
    network_hw: tuple[int, int],
) -> PoseConditioning:
    """Validated float64 cameras + each view's preprocessing geometry -> :class:`PoseConditioning`."""
    k_proc = processed_intrinsics(intrinsics, input_hw, resized_hw, crop_offset)
    normalised, median = normalise_poses(extrinsics)
    enc = pose_encoding(normalised, k_proc, network_hw).astype(np.float32)
    return PoseConditioning(extrinsics, intrinsics, k_proc, normalised, median, enc)


@dataclass(frozen=True)
class AlignedOutputs:
    """Scene outputs after the fit (spec 8.5): what ``network_outputs()`` returns."""

    depth: np.ndarray  # (S, h, w) float32
    extrinsics: np.ndarray  # (S, 3, 4) float32
    intrinsics: np.ndarray  # (S, 3, 3) float32 (processed)
    alignment: PoseAlignment
    unit: str


def aligned_outputs(
    conditioning: PoseConditioning,
    depth: np.ndarray,
    predicted_extrinsics: np.ndarray,
    align_to_input_scale: bool,
    units: str,
) -> AlignedOutputs:
    """Fit the caller's cameras onto the predicted ones and express the outputs accordingly.

    True: depth divided by the fitted scale (caller's unit), the caller's extrinsics returned.
    False: depth in the network's unit, the caller's cameras moved into the network's frame.
    """
    alignment = align_poses(conditioning.extrinsics, predicted_extrinsics)
    k = conditioning.processed_intrinsics.astype(np.float32)
    if align_to_input_scale:
        out_depth = (depth / np.float32(alignment.scale)).astype(np.float32)
        extr = conditioning.extrinsics[:, :3].astype(np.float32)
        return AlignedOutputs(out_depth, extr, k, alignment, units)
    given = conditioning.extrinsics.astype(np.float32).astype(np.float64)
    extr = alignment.cameras_to_network(given).astype(np.float32)
    return AlignedOutputs(depth.astype(np.float32, copy=True), extr, k, alignment, RELATIVE)
