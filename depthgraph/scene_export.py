"""Files people open elsewhere, for a multi-view scene: the fused cloud as PLY and GLB, the
cameras as Nerfstudio ``transforms.json`` and COLMAP text (``cameras.txt``, ``images.txt``,
an empty ``points3D.txt``).

Conventions. Input cameras are per view: ``K`` (3x3, pixels of an image of ``(height, width)``,
principal point in continuous pixel coordinates, i.e. the image spans ``[0, width]``, as COLMAP
and Nerfstudio expect) and ``E`` (3x4 world-to-camera, OpenCV camera axes: x right, y down,
z forward). COLMAP stores ``E`` as a quaternion ``(qw, qx, qy, qz)`` and ``t``; Nerfstudio
stores camera-to-world with OpenGL camera axes (y up, z backwards), so its matrix is
``inverse([E; 0 0 0 1]) @ diag(1, -1, -1, 1)``. Every file appears atomically and only inside the
folder it is written to. Imports numpy only (trimesh when a GLB is written).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FLIP_YZ = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Camera:
    """One view's camera for export."""

    name: str  # the image file name the camera belongs to (relative to the export folder)
    intrinsics: np.ndarray  # (3, 3) at (height, width)
    extrinsics: np.ndarray  # (3, 4) world-to-camera, OpenCV axes
    height: int
    width: int

    def camera_to_world(self) -> np.ndarray:
        """(4, 4) camera-to-world, OpenCV camera axes."""
        e = np.eye(4)
        e[:3] = np.asarray(self.extrinsics, dtype=np.float64)
        return np.linalg.inv(e)


def _atomic_write(path: Path, data: bytes) -> Path:
    from depthgraph.output_root import write_file

    return write_file(path, data, prop="output")


def rotation_to_quaternion(r: np.ndarray) -> np.ndarray:
    """A rotation matrix (3, 3) -> unit quaternion ``(w, x, y, z)`` with ``w >= 0``."""
    r = np.asarray(r, dtype=np.float64)
    trace = r[0, 0] + r[1, 1] + r[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = [(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
    elif r[1, 1] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def write_ply(path: str | Path, points: np.ndarray, colors: np.ndarray | None, frame: str = "world",
              unit: str = "relative") -> Path:
    """Binary little-endian PLY (float x, y, z; uchar red, green, blue) with the project's writer;
    its header names the frame and the ``unit`` of the points (``comment unit m``)."""
    from depthgraph.engine.values import PointCloud
    from depthgraph.ply import write_ply as _write

    path = Path(path)
    _write(path, PointCloud(points=points, colors=colors, frame=frame, unit=unit))
    return path


def write_glb(path: str | Path, points: np.ndarray, colors: np.ndarray | None, unit: str = "relative") -> Path:
    """A glTF binary holding one coloured point cloud (trimesh; ``pip install depthgraph[scene]``).

    The points are written as they are (no conversion) and ``unit`` goes into the scene's
    ``extras`` (``scenes[0].extras.unit``, which trimesh reads back as ``scene.metadata``):
    glTF's own convention is metres, so a reader that ignores ``extras`` takes a ``relative``
    (or centimetre, ...) cloud for metres.
    """
    from depthgraph.engine.values import check_unit

    check_unit(unit, "GLB")
    try:
        import trimesh
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("writing GLB needs trimesh: pip install 'depthgraph[scene]'") from exc
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    if colors is None:
        rgba = np.full((len(pts), 4), 255, dtype=np.uint8)
    else:
        rgba = np.concatenate([np.asarray(colors, np.uint8).reshape(-1, 3), np.full((len(pts), 1), 255, np.uint8)], axis=1)
    if not len(pts):  # trimesh refuses to export an empty scene; glTF allows one
        return _atomic_write(Path(path), _empty_glb(unit))
    scene = trimesh.Scene()
    scene.metadata["unit"] = unit
    scene.add_geometry(trimesh.PointCloud(vertices=pts, colors=rgba), node_name="points", geom_name="points")
    data = scene.export(file_type="glb")
    return _atomic_write(Path(path), data)


def _empty_glb(unit: str) -> bytes:
    """A glTF 2.0 binary with one empty scene and ``unit`` in its extras (no buffers, no nodes):
    a 12-byte header (magic, version 2, total length), then one JSON chunk padded with spaces to
    a multiple of 4 bytes."""
    import json
    import struct

    document = {"asset": {"version": "2.0", "generator": "depthgraph"}, "scene": 0,
                "scenes": [{"nodes": [], "extras": {"unit": unit}}]}
    chunk = json.dumps(document, separators=(",", ":")).encode("utf-8")
    chunk += b" " * (-len(chunk) % 4)
    return (struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(chunk))
            + struct.pack("<I4s", len(chunk), b"JSON") + chunk)


def write_transforms_json(path: str | Path, cameras: list[Camera]) -> Path:
    """Nerfstudio ``transforms.json``: per-frame pinhole intrinsics and an OpenGL camera-to-world."""
    frames = []
    for cam in cameras:
        k = np.asarray(cam.intrinsics, dtype=np.float64)
        frames.append({
            "file_path": cam.name,
            "fl_x": float(k[0, 0]), "fl_y": float(k[1, 1]),
            "cx": float(k[0, 2]), "cy": float(k[1, 2]),
            "w": int(cam.width), "h": int(cam.height),
            "transform_matrix": (cam.camera_to_world() @ FLIP_YZ).tolist(),
        })  # fmt: skip
    doc = {"camera_model": "OPENCV", "frames": frames}
    return _atomic_write(Path(path), (json.dumps(doc, indent=2) + "\n").encode())


def write_colmap_text(directory: str | Path, cameras: list[Camera]) -> list[Path]:
    """COLMAP's text model: ``cameras.txt`` (one PINHOLE camera per view), ``images.txt`` (pose
    as world-to-camera quaternion and translation; no 2D points) and an empty ``points3D.txt``."""
    directory = Path(directory)
    cam_lines = ["# Camera list with one line of data per camera:",
                 "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
                 f"# Number of cameras: {len(cameras)}"]  # fmt: skip
    img_lines = ["# Image list with two lines of data per image:",
                 "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
                 "#   POINTS2D[] as (X, Y, POINT3D_ID)",
                 f"# Number of images: {len(cameras)}, mean observations per image: 0"]  # fmt: skip
    for i, cam in enumerate(cameras, start=1):
        if any(c.isspace() for c in cam.name):
            raise ValueError(f"COLMAP image names may not contain whitespace: {cam.name!r}")
        k = np.asarray(cam.intrinsics, dtype=np.float64)
        e = np.asarray(cam.extrinsics, dtype=np.float64)
        cam_lines.append(f"{i} PINHOLE {int(cam.width)} {int(cam.height)} "
                         f"{k[0, 0]:.10g} {k[1, 1]:.10g} {k[0, 2]:.10g} {k[1, 2]:.10g}")  # fmt: skip
        q = rotation_to_quaternion(e[:, :3])
        t = e[:, 3]
        pose = " ".join(f"{v:.10g}" for v in (*q, *t))
        img_lines.append(f"{i} {pose} {i} {cam.name}")
        img_lines.append("")
    pts_lines = ["# 3D point list with one line of data per point:",
                 "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)",
                 "# Number of points: 0, mean track length: 0"]  # fmt: skip
    written = []
    for name, lines in (("cameras.txt", cam_lines), ("images.txt", img_lines), ("points3D.txt", pts_lines)):
        written.append(_atomic_write(directory / name, ("\n".join(lines) + "\n").encode()))
    return written


def read_colmap_images(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``images.txt`` -> name -> (world-to-camera rotation (3, 3), translation (3,)). For checks."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 10:
            continue
        w, x, y, z = map(float, parts[1:5])
        rot = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ])  # fmt: skip
        out[parts[9]] = (rot, np.array(list(map(float, parts[5:8]))))
    return out


# --- one call for everything -------------------------------------------------------------------


def unique_names(sources: list[Path]) -> list[str]:
    """File names for the views' copies: safe characters, no whitespace, unique (``_2``, ...).

    Unique without their extension and ignoring case (``a.png`` and ``a.jpg`` would share the
    folder ``views/a``), through :class:`depthgraph.output_root.OutputNames`.
    """
    from depthgraph.output_root import OutputNames
    from depthgraph.output_writer import safe_name

    names, used = [], OutputNames()
    for src in sources:
        stem, suffix = safe_name(Path(src).stem), Path(src).suffix.lower()
        suffix = suffix if suffix and safe_name(suffix.lstrip(".")) == suffix.lstrip(".") else ".png"
        names.append(used.claim(stem) + suffix)
    return names


def export_scene(directory: str | Path, prediction, sources: list[Path], *,
                 conf_threshold: float | None = None, colormap: str = "turbo",
                 extra: dict | None = None) -> dict:
    """Write every file of a scene into ``directory`` (which must exist) and return the summary.

    ``prediction`` is a ``ScenePrediction``; ``sources`` the image files of its views (copied
    into ``images/``). Files: ``views/<name>/`` (depth as ``predict`` writes it, colour map,
    confidence, intrinsics, extrinsics), ``transforms.json``, ``colmap/*.txt``, ``scene.ply``
    (world frame), ``scene.glb`` (the official display frame), ``scene.json`` (the summary). The
    clouds are in the prediction's unit (``relative`` unless aligned to cameras with units), said
    in the PLY header, the GLB's scene ``extras`` and ``scene.json``'s ``point_unit``.
    """
    from depthgraph.blocks.depth_utils import colorize_depth, mark_no_data
    from depthgraph.engine.values import DepthMap, WorkflowImageData
    from depthgraph.models.depth_anything_v3.scene import pose_summary
    from depthgraph.output_root import copy_user_file
    from depthgraph.output_writer import write_result

    root = Path(directory)
    names = unique_names(sources)
    (root / "images").mkdir()
    (root / "views").mkdir()
    (root / "colmap").mkdir()
    cameras = []
    no_data: dict[str, float] = {}
    for name, src, view in zip(names, sources, prediction.views):
        copy_user_file(src, root / "images" / name)  # never through a link
        depth = DepthMap(values=view.depth, unit=getattr(prediction, "unit", "relative"),
                         source=getattr(prediction, "depth_source", ""), parent_id=name)  # fmt: skip
        # views of another size than the reference have depth only where the network saw them
        # (the centre crop): the rest is NaN, drawn as a grey checkerboard, not as "farthest"
        picture, missing = mark_no_data(colorize_depth(depth.values, colormap), depth.values)
        if missing:
            no_data[name] = round(missing / depth.values.size, 4)
        result = {
            "depth": depth,
            "depth_color": WorkflowImageData(numpy_image=picture, parent_id=name),
            "confidence": np.asarray(view.confidence, dtype=np.float32),
            "intrinsics": np.asarray(view.intrinsics, dtype=np.float32),
            "extrinsics": np.asarray(view.extrinsics, dtype=np.float32),
        }
        write_result(result, root / "views" / Path(name).stem,
                     extra={"source": str(src), "view": name})  # fmt: skip
        h, w = depth.shape
        cameras.append(Camera(name, view.intrinsics, view.extrinsics, h, w))
    write_transforms_json(root / "transforms.json",
                          [Camera(f"images/{c.name}", c.intrinsics, c.extrinsics, c.height, c.width) for c in cameras])
    write_colmap_text(root / "colmap", cameras)
    cloud = prediction.point_cloud(conf_threshold=conf_threshold)
    unit = getattr(prediction, "unit", "relative")  # relative, or the given cameras' unit
    write_ply(root / "scene.ply", cloud.points, cloud.colors, frame="world", unit=unit)
    write_glb(root / "scene.glb", cloud.display_points(), cloud.colors, unit=unit)
    summary = {
        **(extra or {}),
        "num_views": len(names),
        "views": names,
        "reference_view": int(prediction.reference_view),
        "reference_image": names[int(prediction.reference_view)],
        "processed_size": list(prediction.processed_size),
        "num_points": len(cloud),
        "point_unit": unit,  # of scene.ply and scene.glb ("relative": no unit, not metres)
        "conf_threshold": float(cloud.threshold),
        # fraction of each view's pixels without depth (outside the crop the network saw)
        "no_data_fraction": no_data,
        "glb_alignment": np.asarray(cloud.alignment).tolist(),
        "cameras": [
            {"image": c.name, "width": c.width, "height": c.height,
             "intrinsics": np.asarray(c.intrinsics, dtype=np.float64).tolist(),
             "extrinsics_world_to_camera": np.asarray(c.extrinsics, dtype=np.float64).tolist()}
            for c in cameras
        ],  # fmt: skip
        **pose_summary(prediction),
        "files": ["scene.ply", "scene.glb", "transforms.json", "colmap/cameras.txt",
                  "colmap/images.txt", "colmap/points3D.txt", "images/", "views/"],  # fmt: skip
    }
    _atomic_write(root / "scene.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary
