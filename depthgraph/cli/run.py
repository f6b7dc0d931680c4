"""``depthgraph run``: a workflow over images."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from depthgraph.batch import parse_params, plan_jobs
from depthgraph.cli.batch import execute_jobs
from depthgraph.cli.common import (Backend, CLIError, Device, OutputDir, Quiet, Recursive, Verbose,
                                   reported, use_backend, use_device, app)


@app.command()
def run(
    workflow_path: Annotated[Path, typer.Argument(metavar="WORKFLOW.json", help="Workflow definition (JSON).")],
    image: Annotated[List[str], typer.Option("--image", "-i", help="Image file, folder or glob; repeatable; NAME=PATH for a workflow with several image inputs.")] = [],  # noqa: B006
    param: Annotated[List[str], typer.Option("--param", "-p", help="Workflow parameter NAME=VALUE (VALUE read as JSON when it parses, else as text); repeatable.")] = [],  # noqa: B006
    output_dir: OutputDir = Path("depthgraph_outputs"),
    batch_size: Annotated[int, typer.Option(min=1, help="Images per workflow run.")] = 1,
    device: Device = None,
    backend: Backend = None,
    video: Annotated[Optional[str], typer.Option("--video", help="Run over a video instead of images: a file, a camera index (0) or an rtsp:// / http(s):// URL. Image outputs -> MP4, the rest -> results.jsonl (one line per frame).", rich_help_panel="Video")] = None,
    max_fps: Annotated[Optional[float], typer.Option("--max-fps", min=0.001, help="Keep at most N frames per second of video.", rich_help_panel="Video")] = None,
    frames: Annotated[Optional[str], typer.Option("--frames", metavar="START:END", help="Only these source frame numbers (END exclusive).", rich_help_panel="Video")] = None,
    ply_every: Annotated[int, typer.Option("--ply-every", min=0, help="Write point-cloud outputs as PLY every N frames (0: never).", rich_help_panel="Video")] = 0,
    preview: Annotated[bool, typer.Option("--preview", help="Show a preview window (needs a display and an OpenCV with GUI).", rich_help_panel="Video")] = False,
    codec: Annotated[str, typer.Option("--codec", help="MP4 codec: auto (H.264 with PyAV, else mp4v), h264 or mp4v.", rich_help_panel="Video")] = "auto",
    engine: Annotated[str, typer.Option("--engine", help="local: this process; ray: Ray Data actors (local Ray, or --ray-address); see docs/scale-out.md.", rich_help_panel="Scale-out")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Existing Ray cluster: auto or ray://HOST:10001 (default: start a local Ray for the run).", rich_help_panel="Scale-out")] = None,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", min=1, help="Ray actors running the workflow (default: one per CPU of a local Ray; 1 with GPUs or --ray-address).", rich_help_panel="Scale-out", show_default=False)] = None,
    num_cpus: Annotated[Optional[float], typer.Option("--num-cpus", min=0, help="CPUs per Ray actor (default: a local Ray's CPUs shared by the actors, at most 1 each; 1 with --ray-address).", rich_help_panel="Scale-out", show_default=False)] = None,
    num_gpus: Annotated[float, typer.Option("--num-gpus", min=0, help="GPUs per Ray actor.", rich_help_panel="Scale-out")] = 0.0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace result folders of an earlier run (default: stop before any work; the Ray engine skips the images whose results exist).")] = False,
    recursive: Recursive = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Run a workflow over every image; outputs written by kind, one folder per image."""
    with reported(verbose):
        from depthgraph.engine.workflow import Workflow

        use_device(device)
        use_backend(backend)
        if not workflow_path.is_file():
            raise CLIError(f"{workflow_path}: no such workflow file")
        workflow = Workflow.from_definition(workflow_path)
        params = parse_params(param, workflow)
        if video is not None:
            if image:
                raise CLIError("give --video or --image, not both")
            from depthgraph.cli.video import run_video_command

            raise typer.Exit(run_video_command(
                workflow, video, params, output_dir, batch_size=batch_size, max_fps=max_fps,
                frames=frames, ply_every=ply_every, preview=preview, codec=codec, quiet=quiet))
        if engine not in ("local", "ray"):
            raise CLIError(f"--engine {engine}: expected local or ray")
        if engine == "ray":
            from depthgraph.cli.ray import run_ray_command

            raise typer.Exit(run_ray_command(
                workflow.definition, image, params, output_dir, batch_size=batch_size,
                recursive=recursive, address=ray_address, concurrency=concurrency,
                num_cpus=num_cpus, num_gpus=num_gpus, overwrite=overwrite, quiet=quiet))
        if not image and list(workflow.image_input_names):
            raise CLIError("no --image given; the workflow needs "
                           + ", ".join(f"'{n}'" for n in workflow.image_input_names))
        jobs = plan_jobs(workflow, image, recursive=recursive)
        code = execute_jobs(workflow, jobs, params, output_dir, batch_size, verbose, quiet, overwrite)
    raise typer.Exit(code)
