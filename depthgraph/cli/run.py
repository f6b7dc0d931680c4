"""``depthgraph run``: a workflow over images."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer
from typing_extensions import Annotated

from depthgraph.cli.batch import execute_jobs
from depthgraph.cli.common import (CLIError, Device, OutputDir, Quiet, Recursive, Verbose,
                                   reported, use_device, app)
from depthgraph.cli_runner import parse_params, plan_jobs


@app.command()
def run(
    workflow_path: Annotated[Path, typer.Argument(metavar="WORKFLOW.json", help="Workflow definition (JSON).")],
    image: Annotated[List[str], typer.Option("--image", "-i", help="Image file, folder or glob; repeatable; NAME=PATH for a workflow with several image inputs.")] = [],  # noqa: B006
    param: Annotated[List[str], typer.Option("--param", "-p", help="Workflow parameter NAME=VALUE (VALUE read as JSON when it parses, else as text); repeatable.")] = [],  # noqa: B006
    output_dir: OutputDir = Path("depthgraph_outputs"),
    batch_size: Annotated[int, typer.Option(min=1, help="Images per workflow run.")] = 1,
    device: Device = None,
    recursive: Recursive = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Run a workflow over every image; outputs written by kind, one folder per image."""
    with reported(verbose):
        from depthgraph.engine.workflow import Workflow

        use_device(device)
        if not workflow_path.is_file():
            raise CLIError(f"{workflow_path}: no such workflow file")
        workflow = Workflow.from_definition(workflow_path)
        params = parse_params(param, workflow)
        if not image and list(workflow.image_input_names):
            raise CLIError("no --image given; the workflow needs "
                           + ", ".join(f"'{n}'" for n in workflow.image_input_names))
        jobs = plan_jobs(workflow, image, recursive=recursive)
        code = execute_jobs(workflow, jobs, params, output_dir, batch_size, verbose, quiet)
    raise typer.Exit(code)
