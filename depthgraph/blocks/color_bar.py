"""A colour bar for a colour-mapped depth picture: the map's gradient with the depth at its two
ends and the depth's unit ("m", or "relative" for a depth without one). numpy and OpenCV only."""

from __future__ import annotations

import numpy as np

from depthgraph.blocks.depth_utils import COLORMAPS


def _label(value: float, unit: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    # three significant digits below 100, whole numbers up to a million, exponents beyond (a
    # diverged depth must not print thirty digits and stretch the panel across the frame)
    text = f"{value:.3g}" if abs(value) < 100 or abs(value) >= 1e6 else f"{value:.0f}"
    return text if unit == "relative" else f"{text} {unit}"


def depth_range_ends(low: float, high: float, mode: str) -> tuple[float, float]:
    """(depth at the hot end, depth at the cold end) for a display range ``low..high`` in the
    mode's values (inverse depth: hot = near = 1/high; depth: hot = far = high)."""
    if mode == "inverse_depth":
        return (1.0 / high if high > 0 else float("inf"), 1.0 / low if low > 0 else float("inf"))
    return high, low


def add_color_bar(picture: np.ndarray, colormap: str, hot_depth: float, cold_depth: float, unit: str) -> np.ndarray:
    """``picture`` (BGR uint8 HxWx3) with a bar appended on its right: hot end at the top, the
    depth at both ends written beside it, the unit under the bottom label."""
    import cv2

    h = picture.shape[0]
    bar_w = max(12, h // 24)
    ramp = np.linspace(255, 0, h).astype(np.uint8)[:, None].repeat(bar_w, axis=1)
    if colormap == "gray":
        bar = np.repeat(ramp[:, :, None], 3, axis=2)
    else:
        bar = cv2.applyColorMap(ramp, getattr(cv2, COLORMAPS[colormap]))
    scale = max(0.3, min(1.0, h / 600))
    thickness = 1
    line = int(22 * scale) + 4
    hot, cold = _label(hot_depth, unit), _label(cold_depth, unit)
    unit_line = ("relative" if unit == "relative" else f"depth ({unit})") if h > 3 * line else ""
    # the panel is as wide as its widest text, so a label or the unit is never cut off
    widest = max(cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0]
                 for text in (hot, cold, unit_line))  # fmt: skip
    text_w = max(72, h // 5, widest + 8)
    panel = np.full((h, text_w, 3), 255, np.uint8)
    cv2.putText(panel, hot, (4, line), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    cv2.putText(panel, cold, (4, h - 6 - (line if unit_line else 0)),
                cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness, cv2.LINE_AA)  # fmt: skip
    if unit_line:
        cv2.putText(panel, unit_line, (4, h - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (80, 80, 80), thickness, cv2.LINE_AA)
    return np.ascontiguousarray(np.concatenate([picture, bar, panel], axis=1))
