"""Cameras from other tools, in depthgraph's conventions (da3-poses spec section 9). numpy only.

Our conventions: extrinsics are WORLD-TO-CAMERA 4x4 with OpenCV camera axes (x right, y down,
z forward); intrinsics are pinhole 3x3 in pixels of the image they are used with.

- :func:`read_colmap` reads a COLMAP model folder, text (``cameras.txt``, ``images.txt``) or
  binary (``cameras.bin``, ``images.bin``). COLMAP's poses are already world-to-camera with our
  axes; its quaternions are (w, x, y, z).
- :func:`read_transforms_json` reads a Nerfstudio / Instant-NGP / NeRF ``transforms.json``:
  camera-to-world with OpenGL camera axes (y up, z backwards), converted by negating the 2nd
  and 3rd columns and inverting.
- :func:`match_cameras` picks the cameras of a list of images by file name and rescales each
  camera's intrinsics to the size of the image actually given.

Distortion is not modelled by DA3: cameras with distortion parameters are read as their pinhole
part and the parameters are kept in :attr:`ImportedCamera.distortion` (undistort the images
first for exact results). Fisheye and other non-pinhole models are refused.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np

#: COLMAP camera models we read (pinhole, with or without distortion): name -> (model id, number of params)
_COLMAP_MODELS = {
    "SIMPLE_PINHOLE": (0, 3),
    "PINHOLE": (1, 4),
    "SIMPLE_RADIAL": (2, 4),
    "RADIAL": (3, 5),
    "OPENCV": (4, 8),
}
#: every model COLMAP defines: id -> (name, number of params), for the binary format
_COLMAP_ALL = {
    0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5),
    4: ("OPENCV", 8), 5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5),
    8: ("SIMPLE_RADIAL_FISHEYE", 4), 9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12),
}  # fmt: skip
FLIP_YZ = np.diag([1.0, -1.0, -1.0, 1.0])
#: Largest camera file read (COLMAP's images.bin holds every 2D point; 1 GiB is a big model)
MAX_FILE_BYTES = 1 << 30


class CameraImportError(ValueError):
    """A camera file cannot be read or does not fit the images (names the file and the entry)."""


@dataclass(frozen=True)
class ImportedCamera:
    """One image's camera as a file describes it, in our conventions.

    ``intrinsics`` is for an image of ``size`` = (height, width); None with ``fov_x`` set for
    files that only give ``camera_angle_x`` (the focal length then follows the image width).
    """

    name: str  # the image name as the file writes it
    extrinsics: np.ndarray  # (4, 4) float64 world-to-camera, OpenCV axes
    intrinsics: np.ndarray | None  # (3, 3) float64
    size: tuple[int, int] | None  # (height, width) the intrinsics refer to
    fov_x: float | None = None  # radians (NeRF-style files)
    distortion: dict = field(default_factory=dict)

    def intrinsics_for(self, height: int, width: int) -> np.ndarray:
        """The intrinsics for an image of ``height x width`` (spec 9.1: rows scaled by the size ratio)."""
        if self.intrinsics is None:
            f = (width / 2.0) / math.tan(self.fov_x / 2.0)
            return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
        k = np.array(self.intrinsics, dtype=np.float64)
        if self.size is not None and tuple(self.size) != (height, width):
            k[0] *= width / self.size[1]
            k[1] *= height / self.size[0]
            k[2] = (0.0, 0.0, 1.0)
        return k

    @property
    def centre(self) -> np.ndarray:
        r, t = self.extrinsics[:3, :3], self.extrinsics[:3, 3]
        return -r.T @ t


def quaternion_wxyz_to_matrix(q: Sequence[float]) -> np.ndarray:
    """Hamilton quaternion (w, x, y, z), normalised first -> rotation matrix (3, 3)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def _pinhole(model: str, params: Sequence[float], where: str) -> tuple[np.ndarray, dict]:
    p = [float(v) for v in params]
    if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        extra = dict(zip(("k1", "k2"), p[3:]))
    elif model in ("PINHOLE", "OPENCV"):
        fx, fy, cx, cy = p[:4]
        extra = dict(zip(("k1", "k2", "p1", "p2"), p[4:]))
    else:
        supported = ", ".join(_COLMAP_MODELS)
        raise CameraImportError(f"{where}: camera model {model} is not a pinhole model; supported: {supported} "
                                "(undistort the images with COLMAP's image_undistorter first)")
    if not (fx > 0 and fy > 0 and all(map(math.isfinite, (fx, fy, cx, cy)))):
        raise CameraImportError(f"{where}: invalid focal length or principal point {p[:4]}")
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return k, {n: v for n, v in extra.items() if v != 0.0}


def _pose(q, t, where: str) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if not np.isfinite(q).all() or not np.isfinite(t).all() or np.linalg.norm(q) == 0:
        raise CameraImportError(f"{where}: invalid pose (quaternion {q.tolist()}, translation {list(t)})")
    e = np.eye(4)
    e[:3, :3] = quaternion_wxyz_to_matrix(q)
    e[:3, 3] = t
    return e


# --- COLMAP --------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """A camera file's bytes; unreadable or oversized files give an error naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CameraImportError(f"{path}: {size} bytes is larger than the {MAX_FILE_BYTES} bytes a camera file may have")
        return path.read_bytes()
    except OSError as exc:
        raise CameraImportError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_text(path: Path) -> str:
    try:
        return _read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CameraImportError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _data_lines(path: Path):
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


def _read_cameras_txt(path: Path) -> dict[int, tuple[str, int, int, list[float], str]]:
    cams = {}
    for number, line in _data_lines(path):
        parts = line.split()
        where = f"{path}:{number}"
        try:
            cam_id, model, width, height = int(parts[0]), parts[1], int(parts[2]), int(parts[3])
            params = [float(v) for v in parts[4:]]
        except (IndexError, ValueError):
            raise CameraImportError(f"{where}: expected 'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...', got {line!r}") from None
        cams[cam_id] = (model, width, height, params, where)
    return cams


def _read_images_txt(path: Path) -> list[tuple[str, np.ndarray, int, str]]:
    out = []
    expect_pose = True
    for number, line in _numbered_all(path):
        if line.lstrip().startswith("#"):
            continue
        if not expect_pose:  # the POINTS2D line (may be empty)
            expect_pose = True
            continue
        if not line.strip():
            continue
        parts = line.split()
        where = f"{path}:{number}"
        if len(parts) < 10:
            raise CameraImportError(f"{where}: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME', got {line!r}")
        try:
            q = [float(v) for v in parts[1:5]]
            t = [float(v) for v in parts[5:8]]
            cam_id = int(parts[8])
        except ValueError:
            raise CameraImportError(f"{where}: cannot read the pose numbers in {line!r}") from None
        name = line.split(None, 9)[9].strip()
        out.append((name, _pose(q, np.array(t), where), cam_id, where))
        expect_pose = False
    return out


def _numbered_all(path: Path):
    yield from enumerate(_read_text(path).splitlines(), start=1)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = _read_bytes(path)
        self.pos = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise CameraImportError(f"{self.path}: file ends early (at byte {self.pos} of {len(self.data)})")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def name(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise CameraImportError(f"{self.path}: image name without its terminating NUL at byte {self.pos}")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CameraImportError(f"{self.path}: image name at byte {self.pos} is not UTF-8") from None


def _read_cameras_bin(path: Path) -> dict[int, tuple[str, int, int, list[float], str]]:
    r = _Reader(path)
    (count,) = r.take("Q")
    cams = {}
    for i in range(count):
        cam_id, model_id, width, height = r.take("iiQQ")
        if model_id not in _COLMAP_ALL:
            raise CameraImportError(f"{path}: camera {cam_id} has unknown model id {model_id}")
        model, n = _COLMAP_ALL[model_id]
        cams[cam_id] = (model, int(width), int(height), list(r.take("d" * n)), f"{path}: camera {cam_id}")
    return cams


def _read_images_bin(path: Path) -> list[tuple[str, np.ndarray, int, str]]:
    r = _Reader(path)
    (count,) = r.take("Q")
    out = []
    for _ in range(count):
        (image_id,) = r.take("I")
        q = r.take("dddd")
        t = np.array(r.take("ddd"))
        (cam_id,) = r.take("I")
        name = r.name()
        (n_points,) = r.take("Q")
        r.pos += n_points * struct.calcsize("<ddq")  # each 2D point: x, y (double), point3D_id (int64)
        if r.pos > len(r.data):
            raise CameraImportError(f"{path}: file ends inside the 2D points of image {image_id}")
        where = f"{path}: image {image_id} ({name})"
        out.append((name, _pose(q, t, where), int(cam_id), where))
    return out


def colmap_model_folder(folder: str | Path) -> Path:
    """The folder holding ``cameras``/``images`` (``.txt`` or ``.bin``): ``folder`` itself, or
    ``sparse/0`` / ``sparse`` inside it (COLMAP's usual layout)."""
    root = Path(folder)
    for candidate in (root, root / "sparse" / "0", root / "sparse"):
        for ext in (".txt", ".bin"):
            if (candidate / f"cameras{ext}").is_file() and (candidate / f"images{ext}").is_file():
                return candidate
    raise CameraImportError(
        f"{root}: no COLMAP model here (expected cameras.txt + images.txt or cameras.bin + images.bin, "
        "in the folder or in sparse/0)"
    )


def read_colmap(folder: str | Path) -> list[ImportedCamera]:
    """Every registered image of a COLMAP model (text or binary), in the file's order."""
    model = colmap_model_folder(folder)
    if (model / "cameras.txt").is_file() and (model / "images.txt").is_file():
        cams, images = _read_cameras_txt(model / "cameras.txt"), _read_images_txt(model / "images.txt")
    else:
        cams, images = _read_cameras_bin(model / "cameras.bin"), _read_images_bin(model / "images.bin")
    out = []
    for name, extrinsics, cam_id, where in images:
        if cam_id not in cams:
            raise CameraImportError(f"{where}: refers to camera {cam_id}, which the cameras file does not define")
        model_name, width, height, params, cam_where = cams[cam_id]
        expected = _COLMAP_MODELS.get(model_name, (None, None))[1]
        if expected is not None and len(params) != expected:
            raise CameraImportError(f"{cam_where}: {model_name} takes {expected} parameters, got {len(params)}")
        k, distortion = _pinhole(model_name, params, cam_where)
        out.append(ImportedCamera(name, extrinsics, k, (height, width), None, distortion))
    if not out:
        raise CameraImportError(f"{model}: the model has no registered images")
    return out


# --- transforms.json ------------------------------------------------------------------------------


def _number(doc: dict, key: str, where: str) -> float | None:
    if key not in doc:
        return None
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CameraImportError(f"{where}: {key!r} must be a finite number, got {value!r}")
    return float(value)


def read_transforms_json(path: str | Path) -> list[ImportedCamera]:
    """The frames of a Nerfstudio / Instant-NGP / NeRF ``transforms.json`` in our conventions."""
    path = Path(path)
    try:
        doc = json.loads(_read_text(path))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CameraImportError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list) or not doc["frames"]:
        raise CameraImportError(f"{path}: expected an object with a non-empty 'frames' list")
    model = doc.get("camera_model", "OPENCV")
    if "FISHEYE" in str(model).upper():
        raise CameraImportError(f"{path}: camera_model {model} is not a pinhole model (undistort the images first)")
    out = []
    for i, frame in enumerate(doc["frames"]):
        where = f"{path}: frames[{i}]"
        if not isinstance(frame, dict):
            raise CameraImportError(f"{where}: expected an object")
        name = frame.get("file_path")
        if not isinstance(name, str) or not name:
            raise CameraImportError(f"{where}: missing 'file_path'")
        try:
            c2w = np.asarray(frame["transform_matrix"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise CameraImportError(f"{where}: missing or unreadable 'transform_matrix'") from None
        if c2w.shape not in ((4, 4), (3, 4)) or not np.isfinite(c2w).all():
            raise CameraImportError(f"{where}: 'transform_matrix' must be a finite 4x4 matrix, got shape {c2w.shape}")
        full = np.eye(4)
        full[: c2w.shape[0]] = c2w
        opencv_c2w = full @ FLIP_YZ  # OpenGL camera axes -> OpenCV: negate the y and z COLUMNS
        r = opencv_c2w[:3, :3]
        scale = np.linalg.norm(r, axis=0)
        if np.abs(scale - 1).max() > 1e-3:
            raise CameraImportError(f"{where}: 'transform_matrix' has a scaled rotation (column norms {scale.round(4).tolist()})")
        e = np.eye(4)
        e[:3, :3] = r.T
        e[:3, 3] = -r.T @ opencv_c2w[:3, 3]

        def get(key):
            value = _number(frame, key, where)
            return value if value is not None else _number(doc, key, str(path))

        fx, fy, cx, cy, w, h = (get(k) for k in ("fl_x", "fl_y", "cx", "cy", "w", "h"))
        distortion = {k: v for k in ("k1", "k2", "k3", "k4", "p1", "p2") if (v := get(k))}
        if fx is not None or fy is not None:
            fx = fx if fx is not None else fy
            fy = fy if fy is not None else fx
            if w is None or h is None:
                raise CameraImportError(f"{where}: focal lengths given without the image size 'w', 'h'")
            k = np.array([[fx, 0.0, w / 2 if cx is None else cx], [0.0, fy, h / 2 if cy is None else cy], [0, 0, 1.0]])
            if fx <= 0 or fy <= 0:
                raise CameraImportError(f"{where}: focal lengths must be > 0, got fl_x={fx}, fl_y={fy}")
            out.append(ImportedCamera(name, e, k, (int(h), int(w)), None, distortion))
            continue
        angle = get("camera_angle_x")
        if angle is None or not 0 < angle < math.pi:
            raise CameraImportError(f"{where}: no intrinsics (need fl_x/fl_y, w, h or camera_angle_x in (0, pi))")
        out.append(ImportedCamera(name, e, None, None, angle, distortion))
    return out


def read_cameras(path: str | Path) -> list[ImportedCamera]:
    """A ``transforms.json`` file or a COLMAP model folder, whichever ``path`` is."""
    path = Path(path)
    if path.is_dir():
        return read_colmap(path)
    if path.is_file():
        return read_transforms_json(path)
    raise CameraImportError(f"{path}: no such file or folder (expected a transforms.json or a COLMAP model folder)")


# --- matching -------------------------------------------------------------------------------------


def _keys(name: str) -> tuple[str, str]:
    p = PurePosixPath(str(name).replace("\\", "/"))
    return p.name.lower(), p.stem.lower()


def match_cameras(
    cameras: Sequence[ImportedCamera], image_names: Sequence[str], image_sizes: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray, list[ImportedCamera]]:
    """The cameras of the given images, by file name: ``(extrinsics (S, 4, 4), intrinsics (S, 3, 3)
    for each image's own (height, width), the matched cameras)``.

    A name matches on its file name (``images/a.jpg`` and ``a.jpg`` match), else on its stem
    (NeRF files often omit the extension). An image without a camera, or one matching two, is an
    error naming it.
    """
    by_name: dict[str, list[ImportedCamera]] = {}
    by_stem: dict[str, list[ImportedCamera]] = {}
    for cam in cameras:
        name, stem = _keys(cam.name)
        by_name.setdefault(name, []).append(cam)
        by_stem.setdefault(stem, []).append(cam)
    chosen = []
    for image in image_names:
        name, stem = _keys(image)
        found = by_name.get(name) or by_stem.get(stem) or []
        if not found:
            known = ", ".join(sorted({c.name for c in cameras})[:5])
            raise CameraImportError(f"image {image!r}: no camera with that name in the camera file (it has: {known}...)")
        if len(found) > 1:
            raise CameraImportError(f"image {image!r}: {len(found)} cameras match the name ({', '.join(c.name for c in found)})")
        chosen.append(found[0])
    extr = np.stack([c.extrinsics for c in chosen])
    intr = np.stack([c.intrinsics_for(int(h), int(w)) for c, (h, w) in zip(chosen, image_sizes)])
    return extr, intr, chosen
