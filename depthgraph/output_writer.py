"""Writing one workflow result (one input image) to files, by kind.

Used by ``depthgraph run`` and ``depthgraph predict`` alike. For each output of a result:

- ``image`` (a :class:`WorkflowImageData`) -> ``<name>.png``
- ``depth_map`` (a float HxW array, declared with that kind) -> ``<name>.png`` (16-bit, the
  array's min..max scaled linearly to 0..65535) and ``<name>.npy`` (the exact float32 values)
- ``point_cloud`` (a :class:`PointCloud`) -> ``<name>.ply`` (:mod:`depthgraph.ply`: binary
  little-endian, float x y z, uchar red green blue, written atomically)
- other arrays of 2+ dimensions and more than 64 values (confidence maps...) -> ``<name>.npy``
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

from depthgraph.engine.values import PointCloud, WorkflowImageData
from depthgraph.output_root import write_file
from depthgraph.ply import write_ply  # noqa: F401 - also imported from here by the video sinks

RESULTS_FILE = "results.json"
#: Arrays (2-D or more) with more elements than this go to ``.npy`` files instead of JSON.
INLINE_ARRAY_LIMIT = 64
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


def write_depth_png16(path: Path, depth: np.ndarray) -> dict[str, float]:
    """Write a depth map as a 16-bit PNG scaled min..max -> 0..65535; returns the scale used.

    Non-finite values are written as 0. ``depth = min + png / 65535 * (max - min)`` recovers
    the depth up to quantisation.
    """
    values = np.asarray(depth, dtype=np.float64)
    finite = np.isfinite(values)
    low = float(values[finite].min()) if finite.any() else 0.0
    high = float(values[finite].max()) if finite.any() else 0.0
    span = high - low
    scaled = np.zeros(values.shape, dtype=np.float64)
    if span > 0:
        scaled[finite] = (values[finite] - low) / span * 65535.0
    write_png(path, np.clip(np.round(scaled), 0, 65535).astype(np.uint16))
    return {"min": low, "max": high}


def _finite(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None (JSON has no spelling for them)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _serialize(value: Any) -> Any:
    from depthgraph.engine.serialization import serialize_value

    return _finite(serialize_value(value))


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

    def write(self, name: str, value: Any, kinds: list[str]) -> Any:
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
        if (
            isinstance(value, np.ndarray)
            and value.ndim == 2
            and "depth_map" in kinds
            and np.issubdtype(value.dtype, np.number)
        ):
            png = self._path(name, ".png")
            scale = write_depth_png16(png, value)
            npy = self._path(name, ".npy")
            np.save(npy, np.asarray(value, dtype=np.float32))
            return {"type": "file", "kind": "depth_map", "path": png.name, "npy": npy.name,
                    "png_encoding": "uint16, linear from min (0) to max (65535)", **scale,
                    "height": int(value.shape[0]), "width": int(value.shape[1])}
        if isinstance(value, np.ndarray) and value.ndim >= 2 and value.size > INLINE_ARRAY_LIMIT:
            npy = self._path(name, ".npy")
            np.save(npy, value)
            return {"type": "file", "kind": "numpy_array", "npy": npy.name,
                    "shape": list(value.shape), "dtype": str(value.dtype)}
        if isinstance(value, dict):
            return {k: self.write(f"{name}_{k}", v, kinds) for k, v in value.items()}
        if isinstance(value, (list, tuple)) and any(
            isinstance(v, (WorkflowImageData, PointCloud, dict, list, tuple)) for v in value
        ):
            return [self.write(f"{name}_{i}", v, kinds) for i, v in enumerate(value)]
        return _serialize(value)


def write_result(
    result: dict[str, Any],
    directory: str | Path,
    output_kinds: dict[str, list[str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """Write one result (``{output_name: value}``) into ``directory``; returns the files written.

    ``output_kinds`` (``Workflow.output_kinds``) tells which arrays are depth maps. ``extra``
    (the source image path, for instance) is stored at the top of ``results.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    writer = _Writer(directory)
    kinds = output_kinds or {}
    body: dict[str, Any] = dict(extra or {})
    body["outputs"] = {name: writer.write(name, value, list(kinds.get(name, [])))
                       for name, value in result.items()}
    results_path = directory / RESULTS_FILE
    write_file(results_path,
               (json.dumps(body, indent=2, allow_nan=False, default=str) + "\n").encode("utf-8"))
    return [*writer.files, results_path]
