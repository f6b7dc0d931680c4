"""Image input handling and the official DA3 preprocessing (resize to 504, multiples of 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthgraph.image_decoding import (
    ImageReadError,
    is_pil_image,
    pil_to_bgr_uint8,
    read_image,
    to_bgr_uint8,
)

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _describe(image: Any) -> str:
    if isinstance(image, np.ndarray):
        return f"numpy array of shape {image.shape} and dtype {image.dtype}"
    return type(image).__name__


def to_rgb_uint8(image: Any, index: int = 0) -> np.ndarray:
    """Turn one input into a contiguous RGB uint8 (H, W, 3) array.

    Accepted: numpy BGR arrays as OpenCV reads them (HxW grey and HxWx4 BGRA too; uint16, bool
    and float converted by the rules of :mod:`depthgraph.image_decoding`), PIL images (RGB), and
    ``str`` / ``Path`` read from disk by the same decoder as the CLI and server (pixel limit
    from the header, truncated files refused). Anything else raises ``ValueError`` naming ``index``.
    """
    where = f"image {index}"
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise ValueError(f"{where}: file not found: {path}")
        try:
            bgr = read_image(path)
        except ImageReadError as exc:
            raise ValueError(f"{where}: cannot read an image from {exc}") from None
    elif isinstance(image, np.ndarray):
        bgr = to_bgr_uint8(image, where)
    elif is_pil_image(image):
        bgr = pil_to_bgr_uint8(image, where)
    else:
        raise ValueError(
            f"{where}: expected a numpy array (BGR), a PIL image or a file path, got {_describe(image)}"
        )
    _check_size(bgr, where)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _check_size(arr: np.ndarray, where: str) -> np.ndarray:
    h, w = arr.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"{where}: the image is empty ({h}x{w} pixels)")
    return arr  # any other size works: resize_for_network upsizes small sides to the patch grid


def nearest_multiple(x: int, base: int = 14) -> int:
    """``x`` rounded to the nearest multiple of ``base`` (ties up, never 0)."""
    down = (x // base) * base
    up = down if down == x else down + base
    if down == 0:
        return up if up else base
    return up if abs(up - x) <= abs(x - down) else down


def processed_size(height: int, width: int, process_res: int = 504, patch: int = 14) -> tuple[int, int]:
    """The network input size (h, w) for an image of (height, width)."""
    longest = max(height, width)
    if longest != process_res:
        height = max(1, int(round(height * process_res / longest)))
        width = max(1, int(round(width * process_res / longest)))
    return nearest_multiple(height, patch), nearest_multiple(width, patch)


def resize_for_network(rgb: np.ndarray, process_res: int = 504, patch: int = 14) -> np.ndarray:
    """The two official resizes: longer side to ``process_res``, then sides to multiples of 14."""
    h, w = rgb.shape[:2]
    longest = max(h, w)
    if longest != process_res:
        nh = max(1, int(round(h * process_res / longest)))
        nw = max(1, int(round(w * process_res / longest)))
        interp = cv2.INTER_AREA if longest > process_res else cv2.INTER_CUBIC
        rgb = cv2.resize(rgb, (nw, nh), interpolation=interp)
        h, w = nh, nw
    th, tw = nearest_multiple(h, patch), nearest_multiple(w, patch)
    if (th, tw) != (h, w):
        interp = cv2.INTER_CUBIC if (th > h or tw > w) else cv2.INTER_AREA
        rgb = cv2.resize(rgb, (tw, th), interpolation=interp)
    return rgb


def normalize(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (h, w, 3) -> float32 (3, h, w), ImageNet mean/std normalised.

    ``(x / 255 - mean) / std`` in float32, the same IEEE operations in the same order as the
    official numpy code (so the same bits), but in place and on torch's threads: about 3x faster.
    """
    import torch

    h, w = rgb.shape[:2]
    out = torch.empty((3, h, w), dtype=torch.float32)
    out.copy_(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1))
    out.div_(255.0).sub_(torch.from_numpy(MEAN).view(3, 1, 1)).div_(torch.from_numpy(STD).view(3, 1, 1))
    return out.numpy()


def preprocess(rgb: np.ndarray, process_res: int = 504) -> np.ndarray:
    """RGB uint8 image -> network input (3, h, w) float32."""
    return normalize(resize_for_network(rgb, process_res))
