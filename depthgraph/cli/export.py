"""``depthgraph export onnx``: the DA3 network as one ONNX file (contract in docs/model.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from depthgraph.cli.common import CLIError, ModelSize, Verbose, app, console, reported

export_app = typer.Typer(help="Export the DA3 network for other runtimes.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("onnx")
def export_onnx(
    model: Annotated[ModelSize, typer.Option("--model", "-m", help="DA3 variant.")] = ModelSize.small,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The .onnx file to write (default: da3-<model>[-fp16].onnx here).")] = None,
    opset: Annotated[int, typer.Option(min=14, max=23, help="ONNX opset.")] = 18,
    fp16: Annotated[bool, typer.Option("--fp16", help="Store and run the network in float16 (input and outputs stay uint8/float32).")] = False,
    weights: Annotated[Optional[Path], typer.Option(help="A model.safetensors to use instead of the weights directory.")] = None,
    verbose: Verbose = False,
) -> None:
    """Write DA3 as ONNX: uint8 RGB (N, H, W, 3) in; depth, confidence (N, H, W) and intrinsics (N, 3, 3) out."""
    with reported(verbose):
        target = output or Path(f"da3-{model.value}{'-fp16' if fp16 else ''}.onnx")
        if target.suffix.lower() != ".onnx":
            raise CLIError(f"--output {target}: the file name must end in .onnx")
        if target.is_dir():
            raise CLIError(f"--output {target}: is a folder; give a file name ending in .onnx")
        if weights is not None:
            from depthgraph.weights_store import WeightsError, check_user_weights

            try:
                weights = check_user_weights(weights, model.value)
            except WeightsError as exc:
                raise CLIError(f"--weights {exc}") from None
        from depthgraph.models.depth_anything_v3 import AutoModel

        da3 = AutoModel.from_pretrained(f"depth-anything-v3/{model.value}", weights=weights, device="cpu", backend="torch")
        path = da3.export_onnx(target, opset=opset, fp16=fp16)
        size = path.stat().st_size / 1e6
        console.print(f"wrote {path} ({size:.1f} MB, opset {opset}, {'fp16' if fp16 else 'fp32'})", highlight=False)
