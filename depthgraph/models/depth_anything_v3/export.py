"""ONNX export of the monocular DA3 network: one file, dynamic batch and image size.

The graph's contract (see ``docs/model.md``):

- input ``image``: uint8 ``(N, H, W, 3)`` RGB, ``N``, ``H``, ``W`` dynamic, ``H`` and ``W``
  multiples of 14; the ImageNet normalisation happens inside the graph;
- outputs ``depth`` float32 ``(N, H, W)`` (larger = farther, relative), ``confidence`` float32
  ``(N, H, W)`` (>= 1), ``intrinsics`` float32 ``(N, 3, 3)`` in pixels of that ``H x W``.

Resizing to the processing size and back stays outside, in :mod:`.preprocess` and the model's
post-processing, so the file does one thing.

Exporter: the TorchScript-based ``torch.onnx.export(..., dynamo=False)``. While it traces, every
size read from a tensor is itself a traced value, so the size-dependent tables (the resized
position embedding, the RoPE tables, the head's UV embedding, the intrinsics) become graph
operations written below in plain tensor arithmetic, and the axes are really dynamic. The
``torch.export``-based exporter would need the network to be symbolic-shape clean throughout
(its per-size caches are keyed by Python ints) and ``onnxscript``; it can replace this one once
the network is. While exporting, :func:`_dynamic_tables` swaps the network's cached table
builders for the graph versions on that one instance only, and restores them afterwards.

``fp16``: the weights are stored as float16 (half the file) and cast to float32 inside the graph,
which computes in float32. Tracing the network in float16 gives a graph that neither ONNX
Runtime nor OpenVINO loads (the exporter's ``addcmul`` casts to float32 and mixes types), and
CPU runtimes have few float16 kernels anyway; a GPU runtime that wants float16 arithmetic
(TensorRT ``--fp16``) converts the float32 file itself.
"""

from __future__ import annotations

import contextlib
import os
import types
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depthgraph.output_root import write_file, writing_under

from .backbone import rope_from_positions
from .network import DA3Network
from .preprocess import MEAN, STD

INPUT_NAME = "image"
OUTPUT_NAMES = ("depth", "confidence", "intrinsics")
DEFAULT_OPSET = 18
MIN_OPSET = 14  # scaled_dot_product_attention and the Resize modes used here


# --- size-dependent tables as graph operations ------------------------------------------------
def _cubic_weights(count: Tensor, size: int, scale: Tensor) -> Tensor:
    """(count, size) matrix of PyTorch's bicubic resize (A = -0.75, align_corners=False, edge
    indices clamped) from ``size`` input samples to ``count`` outputs at ``scale`` = out/in."""
    a = -0.75
    dst = torch.arange(count, dtype=torch.float32)
    src = (dst + 0.5) / scale - 0.5
    base = torch.floor(src)
    t = src - base
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    u = 1 - t
    w2 = ((a + 2) * u - (a + 3)) * u * u + 1
    w3 = ((a * (u + 1) - 5 * a) * (u + 1) + 8 * a) * (u + 1) - 4 * a
    taps = torch.stack([w0, w1, w2, w3], dim=1)  # (count, 4)
    index = (base[:, None] - 1 + torch.arange(4, dtype=torch.float32)[None]).clamp(0, size - 1)
    onehot = (index[:, :, None] == torch.arange(size, dtype=torch.float32)[None, None]).float()
    return (taps[:, :, None] * onehot).sum(dim=1)  # (count, size)


def _identity_rows(count: Tensor, size: int) -> Tensor:
    """(count, size) with ones where row index == column index."""
    dst = torch.arange(count, dtype=torch.float32)
    return (dst[:, None] == torch.arange(size, dtype=torch.float32)[None]).float()


def _pos_embed_table(vit, ph: Tensor, pw: Tensor) -> Tensor:
    """The (1, 1 + ph*pw, D) position table: the 37x37 grid resized bicubically by
    ``(ph + 0.1) / 37`` per axis (as the network does), as two matrix products."""
    g = vit.cfg.pos_grid
    table = vit.pos_embed.float()
    grid = table[0, 1:].reshape(g, g, -1)  # (g rows, g cols, D)
    rows = _cubic_weights(ph, g, (ph + 0.1) / g)  # (ph, g)
    cols = _cubic_weights(pw, g, (pw + 0.1) / g)  # (pw, g)
    # at exactly the stored grid the network uses the table as it is (no resize): identity
    same = torch.as_tensor((ph == g) & (pw == g))
    rows = torch.where(same, _identity_rows(ph, g), rows)
    cols = torch.where(same, _identity_rows(pw, g), cols)
    out = torch.einsum("ri,ijd->rjd", rows, grid)
    out = torch.einsum("cj,rjd->rcd", cols, out)  # (ph, pw, D)
    return torch.cat([table[:, :1], out.reshape(1, -1, out.shape[-1])], dim=1)


def _rope_table(vit, ph: Tensor, pw: Tensor, flat: bool) -> tuple[Tensor, Tensor]:
    """:func:`.backbone.rope_tables` with the grid size as graph values."""
    idx = torch.arange(ph * pw, dtype=torch.float32)
    pw_f = pw.float() if isinstance(pw, Tensor) else float(pw)
    if flat:
        rows = torch.ones_like(idx)
        cols = torch.ones_like(idx)
    else:
        rows = torch.floor(idx / pw_f) + 1
        cols = idx - (rows - 1) * pw_f + 1
    return rope_from_positions(rows, cols, vit.cfg.head_dim, vit.cfg.rope_base)


def _uv_table(channels: int, h: Tensor, w: Tensor, aspect: Tensor) -> Tensor:
    """:func:`.head.uv_pos_embed` with the size and aspect as graph values."""
    diag = torch.sqrt(aspect * aspect + 1.0)
    span_x, span_y = aspect / diag, 1.0 / diag

    def axis(n: Tensor, span: Tensor) -> Tensor:  # torch.linspace(-e, e, n) with e = span (n-1)/n
        nf = n.float() if isinstance(n, Tensor) else torch.tensor(float(n))
        end = span * (nf - 1) / nf
        step = 2 * end / torch.clamp(nf - 1, min=1.0)
        return -end + torch.arange(n, dtype=torch.float32) * step

    u, v = axis(w, span_x), axis(h, span_y)
    quarter = channels // 4
    omega = 1.0 / 100.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter)

    def emb(p: Tensor) -> Tensor:
        angles = p[None, :] * omega[:, None]
        return torch.cat([angles.sin(), angles.cos()], dim=0)

    eu = emb(u)[:, None, :] + torch.zeros_like(v)[None, :, None]  # (C/2, h, w)
    ev = emb(v)[:, :, None] + torch.zeros_like(u)[None, None, :]
    return torch.cat([eu, ev], dim=0)


@contextlib.contextmanager
def _dynamic_tables(network: DA3Network):
    """Swap the network's cached, int-keyed table builders for the graph versions above."""
    vit = network.backbone.pretrained
    head = network.head

    def pos_embed(self, ph, pw, device):
        return _pos_embed_table(self, ph, pw)

    def rope(self, ph, pw, flat, device):
        return _rope_table(self, ph, pw, flat)

    def head_pos(self, channels, h, w, aspect, like):
        return (_uv_table(channels, h, w, aspect) * self.cfg.pos_embed_ratio)[None].to(like.dtype)

    vit._pos_embed = types.MethodType(pos_embed, vit)
    vit._rope = types.MethodType(rope, vit)
    head._pos = types.MethodType(head_pos, head)
    try:
        yield
    finally:
        for obj, name in ((vit, "_pos_embed"), (vit, "_rope"), (head, "_pos")):
            obj.__dict__.pop(name, None)


class ExportGraph(nn.Module):
    """uint8 RGB (N, H, W, 3) -> depth, confidence (N, H, W) and intrinsics (N, 3, 3)."""

    def __init__(self, network: DA3Network) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.from_numpy(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.from_numpy(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        # the same float32 operations in the same order as preprocess.normalize
        x = image.permute(0, 3, 1, 2).float().div(255.0).sub(self.mean).div(self.std)
        h, w = x.shape[-2], x.shape[-1]
        net = self.network
        feats, camera, _ = net.backbone(x)
        depth, confidence = net.head(feats, h, w)
        intrinsics = _intrinsics(net.cam_dec, camera, h, w)
        return depth, confidence, intrinsics


def _intrinsics(cam_dec, camera: Tensor, h, w) -> Tensor:
    """The camera decoder's intrinsics, built by stacking (no in-place writes in the graph)."""
    feat = cam_dec.backbone(camera)
    fov = cam_dec.fc_fov(feat).float()
    hf = h.float() if isinstance(h, Tensor) else torch.tensor(float(h))
    wf = w.float() if isinstance(w, Tensor) else torch.tensor(float(w))
    fx = (wf / 2) / torch.clamp(torch.tan(fov[:, 1] / 2), min=1e-6)
    fy = (hf / 2) / torch.clamp(torch.tan(fov[:, 0] / 2), min=1e-6)
    zero = torch.zeros_like(fx)
    one = torch.ones_like(fx)
    cx = zero + wf / 2
    cy = zero + hf / 2
    rows = [torch.stack(row, dim=-1) for row in ((fx, zero, cx), (zero, fy, cy), (zero, zero, one))]
    return torch.stack(rows, dim=1)  # (N, 3, 3)


def export_network(
    network: DA3Network,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    sample_hw: tuple[int, int] = (28, 42),
) -> Path:
    """Write the ONNX graph of ``network`` to ``path`` (written to a temporary name, then
    renamed, so a half-written file never sits at ``path``). ``fp16`` stores the network's
    weights as float16, cast to float32 in the graph (see the module docstring)."""
    opset = int(opset)
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is too old: the graph needs opset >= {MIN_OPSET}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = ExportGraph(copy_network(network)).eval()
    h, w = sample_hw
    sample = torch.randint(0, 256, (2, h, w, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    def write(tmp: Path) -> None:
        with _dynamic_tables(graph.network), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings and the exporter's deprecation note
            torch.onnx.export(
                graph,
                (sample,),
                str(tmp),
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                opset_version=opset,
                dynamic_axes={
                    INPUT_NAME: {0: "N", 1: "H", 2: "W"},
                    "depth": {0: "N", 1: "H", 2: "W"},
                    "confidence": {0: "N", 1: "H", 2: "W"},
                    "intrinsics": {0: "N"},
                },
                do_constant_folding=True,
            )
        if fp16:
            _store_weights_fp16(tmp)

    # confined to the export's own folder (the weights cache, or the folder the user chose), not
    # to the output root of a run that happens to need the file (a backend exports lazily)
    with writing_under(path.parent):
        write_file(path, write, prop="path")
    return path


def copy_network(network: DA3Network) -> DA3Network:
    """A standalone float32 copy in the plain (contiguous) layout; the caller's network is left
    untouched (it may be serving requests)."""
    clone = DA3Network(network.cfg)
    clone.load_state_dict({k: v.detach().float().cpu() for k, v in network.state_dict().items()})
    clone = clone.eval().requires_grad_(False)
    for p in clone.parameters():
        p.data = p.data.contiguous()
    return clone


def _store_weights_fp16(path: Path, min_elements: int = 16) -> None:
    """Rewrite an exported file with its float32 weights stored as float16, each followed by a
    Cast back to float32 (small tensors, such as constants of the size arithmetic, stay)."""
    import numpy as np

    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise RuntimeError('--fp16 / fp16=True needs the onnx package: pip install "depthgraph[onnx]"') from None

    model = onnx.load(str(path))
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        if values.size < min_elements:
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(values.astype(np.float16), name + "__fp16"))
        casts.append(helper.make_node("Cast", [name + "__fp16"], [name], to=onnx.TensorProto.FLOAT, name=name + "__to_fp32"))
    for node in reversed(casts):
        graph.node.insert(0, node)
    onnx.save(model, str(path))


def check_multiple_of_patch(h: int, w: int, patch: int = 14) -> None:
    """The graph's size rule, as a clear error before a runtime's own."""
    if h % patch or w % patch or h < patch or w < patch:
        raise ValueError(f"image size {h}x{w}: height and width must be positive multiples of {patch}")


__all__ = ["ExportGraph", "export_network", "INPUT_NAME", "OUTPUT_NAMES", "DEFAULT_OPSET", "MIN_OPSET"]
