"""The pixel limit every decoder honours: ours, OpenCV's and Pillow's, set from one number.

Our own check reads the size from the header before decoding (``depthgraph.image_decoding``).
A crafted header can disagree with what a decoder then allocates, so the decoders are also told
the same limit: OpenCV reads ``OPENCV_IO_MAX_IMAGE_PIXELS`` once, when its library loads, so
``depthgraph`` sets the variable when it is imported (before any of its modules loads cv2);
Pillow's ``Image.MAX_IMAGE_PIXELS`` is set whenever an image is decoded.

This module imports nothing but the standard library (``import depthgraph`` stays light).
"""

from __future__ import annotations

import os
import sys

DEFAULT_MAX_PIXELS = 40_000_000
MAX_PIXELS_ENV = "DEPTHGRAPH_MAX_IMAGE_PIXELS"
OPENCV_ENV = "OPENCV_IO_MAX_IMAGE_PIXELS"


def default_max_pixels() -> int | None:
    """The pixel limit used when none is given: ``$DEPTHGRAPH_MAX_IMAGE_PIXELS``, else 40 MP.

    ``0``, ``none`` or ``off`` in the variable mean no limit; anything else not a positive
    integer raises :class:`ValueError` naming the variable.
    """
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    if raw.lower() in ("0", "none", "off"):
        return None
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = -1
    if value <= 0:
        raise ValueError(f"{MAX_PIXELS_ENV}={raw!r}: expected a positive number of pixels, or 0 for no limit")
    return value


def set_opencv_limit() -> None:
    """Give OpenCV our limit, unless cv2 is already loaded or the operator set the variable."""
    if "cv2" in sys.modules or OPENCV_ENV in os.environ:
        return
    try:
        limit = default_max_pixels()
    except ValueError:
        return  # reported where the limit is used
    if limit is not None:
        os.environ[OPENCV_ENV] = str(limit)


def set_pillow_limit(limit: int | None) -> None:
    """Give Pillow (when it is loaded) the limit in force for this decode."""
    pil = sys.modules.get("PIL.Image")
    if pil is not None:
        # Pillow warns above this and refuses above twice this; None turns the check off
        pil.MAX_IMAGE_PIXELS = limit
