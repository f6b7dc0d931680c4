"""The one PLY writer: binary little-endian, float x, y, z and uchar red, green, blue per vertex.

Used by the point-cloud export block, ``depthgraph run`` / ``predict`` output folders and the
video sinks, so every ``.ply`` depthgraph writes has the same layout:

- every vertex has colours (points of a cloud without colours are written white), so readers
  see one layout whatever the workflow;
- three comments: ``written by depthgraph``, ``frame opencv`` / ``frame opengl`` / ``frame world``
  (the coordinate frame of the points) and ``unit m`` / ``unit relative`` / ... (what the
  coordinates are in: :attr:`PointCloud.unit`; ``relative`` means no unit, never metres);
- the file appears atomically: it is written to a hidden temporary file in the same folder and
  renamed over ``path``, so a reader never sees half a cloud and a failed write leaves nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depthgraph.engine.values import PointCloud

PLY_DTYPE = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
)
#: Colour of points from a cloud without colours.
DEFAULT_COLOUR = (255, 255, 255)


def ply_bytes(cloud: PointCloud) -> bytes:
    """The whole PLY file for ``cloud`` (header and binary vertex records)."""
    points = np.asarray(cloud.points, dtype=np.float32).reshape(-1, 3)
    records = np.empty(len(points), dtype=PLY_DTYPE)
    records["x"], records["y"], records["z"] = points.T
    if cloud.colors is None:
        colours = np.empty((len(points), 3), dtype=np.uint8)
        colours[:] = DEFAULT_COLOUR
    else:
        colours = np.asarray(cloud.colors, dtype=np.uint8).reshape(-1, 3)
    records["red"], records["green"], records["blue"] = colours.T
    header = (
        "ply\n"
        "format binary_little_endian 1.0\n"
        "comment written by depthgraph\n"
        f"comment frame {cloud.frame}\n"
        f"comment unit {cloud.unit}\n"
        f"element vertex {len(points)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        "end_header\n"
    )
    return header.encode("ascii") + records.tobytes()


def write_ply(path: str | Path, cloud: PointCloud) -> Path:
    """Write ``cloud`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    from depthgraph.output_root import write_file

    return write_file(Path(path), ply_bytes(cloud))
