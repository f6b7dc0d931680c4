"""DA3 on ONNX Runtime or OpenVINO: the exported graph (:mod:`.export`) with the torch path's
pre- and post-processing around it, so blocks, the CLI, the server and video run unchanged.

The exported file is cached next to the weights (``<weights folder>/onnx/``, or
``~/.cache/depthgraph/onnx`` when that folder is read-only), keyed by the weights' SHA-256,
the opset and the dtype: a new checkpoint or another opset gives a new file, never a stale one.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .export import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAMES, check_multiple_of_patch, export_network
from .network import NetworkOutput
from .preprocess import resize_for_network, to_rgb_uint8

RUNTIMES = ("onnxruntime", "openvino")
_INSTALL = {
    "onnxruntime": 'pip install "depthgraph[onnx]"',
    "openvino": 'pip install "depthgraph[onnx,openvino]"',
}
_EXPORT_LOCK = threading.Lock()


class BackendUnavailableError(RuntimeError):
    """The runtime a backend needs is not installed (the message says what to install)."""


def weights_sha256(path: Path) -> str:
    """Hex SHA-256 of a weights file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def exported_path(weights_path: Path, variant: str, *, opset: int = DEFAULT_OPSET, fp16: bool = False) -> Path:
    """Where the export of ``weights_path`` lives: ``<folder>/onnx/da3-<variant>-<sha16>-opset<N>-<dtype>.onnx``."""
    weights_path = Path(weights_path)
    name = f"da3-{variant}-{weights_sha256(weights_path)[:16]}-opset{int(opset)}-{'fp16' if fp16 else 'fp32'}.onnx"
    folder = weights_path.parent / "onnx"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError:  # read-only weights folder (a mounted volume): the user cache instead
        folder = Path("~/.cache/depthgraph/onnx").expanduser()
        folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def cached_export(network_factory, weights_path: Path, variant: str, *, opset: int, fp16: bool) -> Path:
    """The cached export for these weights, written first (from ``network_factory()``) if missing."""
    path = exported_path(weights_path, variant, opset=opset, fp16=fp16)
    with _EXPORT_LOCK:
        if not path.is_file():
            export_network(network_factory(), path, opset=opset, fp16=fp16)
    return path


def _require(backend: str):
    try:
        if backend == "onnxruntime":
            import onnxruntime

            return onnxruntime
        import openvino

        return openvino
    except ImportError:
        raise BackendUnavailableError(
            f"backend {backend!r} needs the {backend} package: {_INSTALL[backend]}"
        ) from None


class _OrtRunner:
    def __init__(self, path: Path, threads: int) -> None:
        ort = _require("onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        return self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: image})


class _OpenVinoRunner:
    def __init__(self, path: Path, threads: int) -> None:
        ov = _require("openvino")
        core = ov.Core()
        # f32 explicitly: on CPUs with bf16 units OpenVINO would otherwise pick bf16
        config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.outputs = [self.compiled.output(name) for name in OUTPUT_NAMES]

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        request = self.compiled.create_infer_request()  # one per call: thread-safe
        result = request.infer({INPUT_NAME: image})
        return [np.array(result[port]) for port in self.outputs]


class ExportedDepthModel:
    """The exported DA3 graph on a runtime, with :class:`.model.DepthAnything3`'s predict API.

    Monocular only: :meth:`predict_scene` (several views in one pass) needs the torch backend.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        backend: str,
        model_id: str,
        process_res: int = 504,
        patch_size: int = 14,
        weights_path: Path | None = None,
        threads: int | None = None,
    ) -> None:
        if backend not in RUNTIMES:
            raise ValueError(f"unknown runtime backend {backend!r}; use one of {', '.join(RUNTIMES)}")
        self.path = Path(path)
        self.backend = backend
        self.model_id = model_id
        self.process_res = int(process_res)
        self.patch_size = int(patch_size)
        self.weights_path = weights_path
        self.load_seconds: float | None = None
        n = int(threads) if threads else torch.get_num_threads()
        self._run = (_OrtRunner if backend == "onnxruntime" else _OpenVinoRunner)(self.path, n)

    @property
    def device(self) -> str:
        """Always ``"cpu"``: the exported graph runs on the runtime's CPU provider."""
        return "cpu"

    def __repr__(self) -> str:
        return f"ExportedDepthModel(model_id={self.model_id!r}, backend={self.backend!r}, path={str(self.path)!r})"

    def __call__(self, images: Any, batch_size: int | None = None) -> list[torch.Tensor]:
        """Depth (larger = farther) per image, float32 CPU tensors (H, W) at each input size."""
        return [torch.from_numpy(p.depth) for p in self.predict(images, batch_size=batch_size)]

    def predict(self, images: Any, batch_size: int | None = None) -> list:
        """:meth:`.model.DepthAnything3.predict` on this runtime: the same inputs and outputs."""
        items = list(images) if isinstance(images, (list, tuple)) else [images]
        return self.predict_rgb([to_rgb_uint8(img, i) for i, img in enumerate(items)], batch_size=batch_size)

    def predict_rgb(self, rgbs: Sequence[np.ndarray], batch_size: int | None = None) -> list:
        """Like :meth:`predict` for already-decoded RGB uint8 (H, W, 3) arrays."""
        from .model import _postprocess, group_by_size  # torch-side post-processing, shared

        resized = [resize_for_network(rgb, self.process_res, self.patch_size) for rgb in rgbs]
        results: list = [None] * len(resized)
        for chunk in group_by_size([r.shape[:2] for r in resized], batch_size):
            out = self.forward_rgb(np.stack([resized[i] for i in chunk]))
            for j, i in enumerate(chunk):
                results[i] = _postprocess(out, j, rgbs[i].shape[:2])
        return results

    def forward_rgb(self, batch: np.ndarray) -> NetworkOutput:
        """Run the graph on uint8 RGB (N, h, w, 3) at the network size; outputs as torch tensors."""
        batch = np.ascontiguousarray(batch, dtype=np.uint8)
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"expected uint8 RGB of shape (N, h, w, 3), got shape {batch.shape}")
        check_multiple_of_patch(batch.shape[1], batch.shape[2], self.patch_size)
        depth, confidence, intrinsics = self._run(batch)
        n = batch.shape[0]
        extrinsics = torch.eye(3, 4).expand(n, 3, 4).clone()  # one view: the camera is the world frame
        return NetworkOutput(
            torch.from_numpy(np.asarray(depth, dtype=np.float32)),
            torch.from_numpy(np.asarray(confidence, dtype=np.float32)),
            torch.from_numpy(np.asarray(intrinsics, dtype=np.float32)),
            extrinsics,
        )

    def predict_scene(self, *_: Any, **__: Any):
        raise ValueError(
            f"several views of one scene need the torch backend (this model runs on {self.backend}); "
            "unset DEPTHGRAPH_BACKEND or pass backend='torch'"
        )

    predict_scene_rgb = predict_scene


__all__ = ["BackendUnavailableError", "ExportedDepthModel", "cached_export", "exported_path", "weights_sha256"]
