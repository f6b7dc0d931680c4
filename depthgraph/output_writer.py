"""Writing one workflow result (one input image) to files, by kind.

Used by ``depthgraph run`` and ``depthgraph predict`` alike. For each output of a result:

- ``image`` (a :class:`WorkflowImageData`) -> ``<name>.png``
- ``depth_map`` (a :class:`DepthMap`) -> ``<name>.png`` (16-bit, the finite min..max scaled
  linearly to 0..65535) and ``<name>.npy`` (the exact float32 values); its entry in
  ``results.json`` says the unit (``relative`` or a length unit)
- ``point_cloud`` (a :class:`PointCloud`) -> ``<name>.ply`` (:mod:`depthgraph.ply`: binary
  little-endian, float x y z, uchar red green blue, written atomically, the unit in a header
  comment); its entry in ``results.json`` says the unit too
- other arrays of 2+ dimensions and more than 64 values (confidence maps...) -> ``<name>.npy``

Every encoding is :mod:`depthgraph.engine.encoders`' (shared with the video sinks and the JSON
serializer).
- everything else, and a reference to every file above -> ``results.json``

Dictionaries and lists (``$steps.x.*`` outputs, per-object lists) are walked, their file names
joined with ``_``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from depthgraph.engine.encoders import (
    INLINE_ARRAY_VALUES,
    PNG16_DECODE,
    depth_header,
    json_safe,
    npy_bytes,
    png16_encode,
)
from depthgraph.engine.values import DepthMap, PointCloud, WorkflowImageData
from depthgraph.output_root import write_file
from depthgraph.ply import write_ply

RESULTS_FILE = "results.json"
_SAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def safe_name(name: str) -> str:
    """A file-name-safe version of an output name."""
    cleaned = _SAFE.sub("_", str(name)).strip("._")
    return cleaned or "output"


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an image array as PNG (raises OSError naming the path when it cannot)."""
    import cv2

    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: could not encode PNG")
    write_file(path, encoded.tobytes())


def _serialize(value: Any) -> Any:
    from depthgraph.engine.serialization import serialize_value

    return json_safe(serialize_value(value))


class _Writer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: list[Path] = []
        self.used: set[str] = set()

    def _path(self, stem: str, suffix: str) -> Path:
        base = safe_name(stem)
        name, counter = base, 1
        while f"{name}{suffix}" in self.used or f"{name}{suffix}" == RESULTS_FILE:
            counter += 1
            name = f"{base}_{counter}"
        self.used.add(f"{name}{suffix}")
        path = self.directory / f"{name}{suffix}"
        self.files.append(path)
        return path

    def write(self, name: str, value: Any) -> Any:
        """Write files for ``value`` and return what goes into results.json in its place."""
        if isinstance(value, WorkflowImageData):
            path = self._path(name, ".png")
            write_png(path, value.numpy_image)
            return {"type": "file", "kind": "image", "path": path.name,
                    "width": value.width, "height": value.height}
        if isinstance(value, PointCloud):
            path = self._path(name, ".ply")
            write_ply(path, value)
            return {"type": "file", "kind": "point_cloud", "path": path.name, **value.summary()}
        if isinstance(value, DepthMap):
            png = self._path(name, ".png")
            data, scale = png16_encode(value.values)  # NaN pixels written as 0
            write_file(png, data)
            npy = self._path(name, ".npy")
            write_file(npy, npy_bytes(value))
            header = depth_header(value)
            del header["type"]
            return {"type": "file", "kind": "depth_map", "path": png.name, "npy": npy.name,
                    "png_encoding": "uint16, linear from min (0) to max (65535)",
                    "decode": PNG16_DECODE, **scale, **header}
        if isinstance(value, np.ndarray) and value.ndim >= 2 and value.size > INLINE_ARRAY_VALUES:
            npy = self._path(name, ".npy")
            write_file(npy, npy_bytes(value))
            return {"type": "file", "kind": "numpy_array", "npy": npy.name,
                    "shape": list(value.shape), "dtype": str(value.dtype)}
        if isinstance(value, dict):
            return {k: self.write(f"{name}_{k}", v) for k, v in value.items()}
        if isinstance(value, (list, tuple)) and any(
            isinstance(v, (WorkflowImageData, PointCloud, DepthMap, dict, list, tuple)) for v in value
        ):
            return [self.write(f"{name}_{i}", v) for i, v in enumerate(value)]
        return _serialize(value)


def write_result(
    result: dict[str, Any],
    directory: str | Path,
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """Write one result (``{output_name: value}``) into ``directory``; returns the files written.

    ``extra`` (the source image path, for instance) is stored at the top of ``results.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    writer = _Writer(directory)
    body: dict[str, Any] = dict(extra or {})
    body["outputs"] = {name: writer.write(name, value) for name, value in result.items()}
    results_path = directory / RESULTS_FILE
    write_file(results_path,
               (json.dumps(body, indent=2, allow_nan=False, default=str) + "\n").encode("utf-8"))
    return [*writer.files, results_path]
