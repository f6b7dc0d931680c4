"""``depthgraph predict``: depth for images without a workflow file."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from depthgraph.batch import build_predict_definition, plan_jobs
from depthgraph.cli.batch import execute_jobs
from depthgraph.cli.common import (AnyModel, Backend, CLIError, Device, OutputDir, Overwrite, Quiet, Recursive,
                                   Verbose, point_model_at, reported, use_backend, use_device, app)


@app.command()
def predict(
    images: Annotated[List[str], typer.Argument(help="Image files, folders or glob patterns.")],
    model: Annotated[AnyModel, typer.Option("--model", "-m", help="DA3 variant (metric-large: depth in metres).")] = AnyModel.small,
    output_dir: OutputDir = Path("depthgraph_outputs"),
    colormap: Annotated[str, typer.Option(help="Colour map of the depth picture (turbo, inferno, magma, plasma, viridis, jet, bone, gray).")] = "turbo",
    point_cloud: Annotated[bool, typer.Option("--point-cloud", help="Also write a coloured point cloud (PLY).")] = False,
    device: Device = None,
    backend: Backend = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 1,
    weights: Annotated[Optional[Path], typer.Option(help="A model.safetensors to use instead of the weights directory.")] = None,
    fov: Annotated[Optional[float], typer.Option("--fov", min=0.001, max=179.999, help="metric-large: horizontal field of view in degrees (all images).")] = None,
    intrinsics: Annotated[Optional[Path], typer.Option("--intrinsics", help="metric-large: a 3x3 camera matrix in pixels of the input images (.json, .npy or .txt).")] = None,
    overwrite: Overwrite = False,
    recursive: Recursive = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Depth for images without a workflow file: depth (16-bit PNG + .npy), colour map, optional point cloud."""
    with reported(verbose):
        from depthgraph.engine.workflow import Workflow

        use_device(device)
        use_backend(backend)
        if weights is not None:
            point_model_at(weights, model.value)
        definition = build_predict_definition(model.value, colormap, point_cloud)
        params = _camera(definition, model.value, fov, intrinsics)
        workflow = Workflow.from_definition(definition)
        jobs = plan_jobs(workflow, images, recursive=recursive)
        code = execute_jobs(workflow, jobs, params, output_dir, batch_size, verbose, quiet, overwrite)
    raise typer.Exit(code)


def _camera(definition: dict, model: str, fov: float | None, intrinsics: Path | None) -> dict:
    """Put ``--fov`` / ``--intrinsics`` on the depth step (metric-large only); the parameters to run with."""
    if fov is None and intrinsics is None:
        return {}
    if model != "metric-large":
        raise CLIError(f"--fov and --intrinsics apply to --model metric-large only (got --model {model})")
    if fov is not None and intrinsics is not None:
        raise CLIError("give --fov or --intrinsics, not both")
    step = definition["steps"][0]
    if fov is not None:
        step["fov"] = float(fov)
        return {}
    definition["inputs"].append({"type": "WorkflowParameter", "name": "intrinsics", "kind": ["camera_intrinsics"]})
    step["intrinsics"] = "$inputs.intrinsics"
    return {"intrinsics": read_intrinsics_file(intrinsics)}


def read_intrinsics_file(path: Path) -> list[list[float]]:
    """A 3x3 camera matrix from ``.json`` (``[[...], [...], [...]]`` or ``{"intrinsics": ...}``),
    ``.npy`` or a text file of three rows; errors name the file."""
    import json

    import numpy as np

    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                data = data.get("intrinsics", data.get("K"))
            matrix = np.asarray(data, dtype=np.float64)
        elif path.suffix.lower() == ".npy":
            matrix = np.load(path, allow_pickle=False).astype(np.float64)
        else:
            matrix = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError, TypeError) as exc:
        raise CLIError(f"--intrinsics {path}: cannot read a 3x3 matrix ({exc})") from None
    if matrix.shape != (3, 3) or not np.isfinite(matrix).all() or matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        raise CLIError(f"--intrinsics {path}: expected a 3x3 matrix with positive fx, fy; got shape {matrix.shape}")
    return matrix.tolist()
