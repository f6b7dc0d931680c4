"""``depthgraph predict``: depth for images without a workflow file."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from depthgraph.batch import build_predict_definition, plan_jobs
from depthgraph.cli.batch import execute_jobs
from depthgraph.cli.common import (Backend, Device, ModelSize, OutputDir, Overwrite, Quiet, Recursive,
                                   Verbose, point_model_at, reported, use_backend, use_device, app)


@app.command()
def predict(
    images: Annotated[List[str], typer.Argument(help="Image files, folders or glob patterns.")],
    model: Annotated[ModelSize, typer.Option("--model", "-m", help="DA3 variant.")] = ModelSize.small,
    output_dir: OutputDir = Path("depthgraph_outputs"),
    colormap: Annotated[str, typer.Option(help="Colour map of the depth picture (turbo, inferno, magma, plasma, viridis, jet, bone, gray).")] = "turbo",
    point_cloud: Annotated[bool, typer.Option("--point-cloud", help="Also write a coloured point cloud (PLY).")] = False,
    device: Device = None,
    backend: Backend = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 1,
    weights: Annotated[Optional[Path], typer.Option(help="A model.safetensors to use instead of the weights directory.")] = None,
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
        workflow = Workflow.from_definition(definition)
        jobs = plan_jobs(workflow, images, recursive=recursive)
        code = execute_jobs(workflow, jobs, {}, output_dir, batch_size, verbose, quiet, overwrite)
    raise typer.Exit(code)
