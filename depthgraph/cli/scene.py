"""``depthgraph scene``: several photos of one scene -> depth per view, cameras, a fused 3D cloud."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from depthgraph.cli.common import (EXIT_OK, CLIError, Device, ModelSize, Quiet, Recursive, Verbose, app,
                                   console, err_console, point_model_at, reported, use_device)

#: What ``--reference`` accepts besides a view index.
REFERENCE_HELP = ("Reference view (defines the world frame): saddle_balanced (default; chosen from the "
                  "images when there are 3 or more), first, middle, saddle_sim_range, or a view index.")


def _move_into(staging: Path, output_dir: Path) -> None:
    """Move every entry of ``staging`` into ``output_dir`` (replacing a previous scene's files;
    never through a link: see depthgraph.output_root)."""
    from depthgraph.output_root import check_target, replace_folder

    for entry in sorted(staging.iterdir()):
        target = output_dir / entry.name
        if entry.is_dir():
            replace_folder(entry, target)
        else:
            os.replace(entry, check_target(target, prop="output"))


@app.command()
def scene(
    images: Annotated[List[str], typer.Argument(help="The views: image files, folders or glob patterns (one scene).")],
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Where the scene's files go.")] = Path("depthgraph_scene"),
    model: Annotated[ModelSize, typer.Option("--model", "-m", help="DA3 variant.")] = ModelSize.small,
    reference: Annotated[str, typer.Option("--reference", help=REFERENCE_HELP)] = "saddle_balanced",
    conf_threshold: Annotated[Optional[float], typer.Option(help="Confidence threshold of the fused cloud (default: the official percentile rule).")] = None,
    colormap: Annotated[str, typer.Option(help="Colour map of the per-view depth pictures.")] = "turbo",
    cameras: Annotated[Optional[Path], typer.Option("--cameras", help="Known cameras: a transforms.json (Nerfstudio/NeRF) or a COLMAP model folder (text or binary); matched to the images by file name. The scene then comes back in their frame and unit.")] = None,
    units: Annotated[Optional[str], typer.Option("--units", help="What the cameras' translations are in (m, cm, mm, km, ft, in), so the depth carries that unit. Needs --cameras.")] = None,
    network_frame: Annotated[bool, typer.Option("--network-frame", help="With --cameras: keep depth and cloud in the network's frame and unit (the cameras are moved into it).")] = False,
    device: Device = None,
    weights: Annotated[Optional[Path], typer.Option(help="A model.safetensors to use instead of the weights directory.")] = None,
    recursive: Recursive = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Several photos of ONE scene in one pass: per-view depth, cameras (transforms.json, COLMAP
    text), the fused cloud (scene.ply, scene.glb) and scene.json. With --cameras, the network is
    conditioned on known cameras and everything comes back in their frame and unit."""
    with reported(verbose):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from depthgraph.image_files import collect_images, read_image
        from depthgraph.models.depth_anything_v3.reference import check_reference

        paths = collect_images(images, recursive=recursive)
        if not paths:
            raise CLIError("no image given")
        try:
            ref = check_reference(reference, len(paths))
        except ValueError as exc:
            raise CLIError(f"--reference: {exc}") from None
        if cameras is None and (units is not None or network_frame):
            raise CLIError("--units and --network-frame describe known cameras: pass --cameras too")
        known = None
        if cameras is not None:
            from depthgraph.models.depth_anything_v3.pose_conditioning import check_units
            from depthgraph.scene_io import CameraImportError, read_cameras

            try:
                check_units(units)
                known = read_cameras(cameras.expanduser())
            except (CameraImportError, ValueError) as exc:
                raise CLIError(f"--cameras: {exc}" if isinstance(exc, CameraImportError) else f"--units: {exc}") from None
        use_device(device)
        if weights is not None:
            point_model_at(weights, model.value)
        output_dir = output_dir.expanduser()
        if os.path.lexists(output_dir) and not output_dir.is_dir():
            raise CLIError(f"--output-dir {output_dir}: exists and is not a folder")
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CLIError(f"--output-dir {output_dir}: cannot create it "
                           f"({exc.strerror or type(exc).__name__})") from None
        started = time.perf_counter()
        progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                            TimeElapsedColumn(), console=err_console, transient=False, disable=quiet)
        staging = output_dir / f".depthgraph-scene-{uuid.uuid4().hex[:8]}"
        try:
            with progress:
                task = progress.add_task("reading images", total=len(paths) + 3)
                bgrs = []
                for path in paths:
                    bgrs.append(read_image(path))
                    progress.advance(task)
                progress.update(task, description=f"loading DA3-{model.value}")
                from depthgraph.models.loading import get_model

                da3 = get_model(f"depth-anything-v3/{model.value}", backend="torch")
                progress.update(task, advance=1, description=f"network: {len(paths)} view(s) in one pass")
                t0 = time.perf_counter()
                if known is None:
                    prediction = da3.predict_scene(bgrs, reference=ref)
                else:
                    from depthgraph.scene_io import CameraImportError, match_cameras

                    try:
                        ext, intr, _ = match_cameras(known, [str(p) for p in paths], [b.shape[:2] for b in bgrs])
                        prediction = da3.predict_scene(bgrs, ext, intr, align_to_input_scale=not network_frame,
                                                       units=units)  # fmt: skip
                    except (CameraImportError, ValueError) as exc:
                        raise CLIError(f"--cameras {cameras}: {exc}") from None
                network_seconds = time.perf_counter() - t0
                progress.update(task, advance=1, description="writing files")
                from depthgraph.scene_export import export_scene

                staging.mkdir()
                summary = export_scene(staging, prediction, paths, conf_threshold=conf_threshold, colormap=colormap,
                                       extra={"model": f"depth-anything-v3/{model.value}",
                                              "network_seconds": round(network_seconds, 3)})  # fmt: skip
                _move_into(staging, output_dir)
                progress.update(task, advance=1, description="done")
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        frame = ""
        if summary.get("pose_alignment"):
            where = "the network's frame" if network_frame else f"your cameras' frame, depth unit {summary['depth_unit']}"
            frame = f"in {where} (fitted scale {summary['pose_alignment']['scale']:.6g}), "
        console.print(
            f"scene of {summary['num_views']} view(s) at {summary['processed_size'][0]}x{summary['processed_size'][1]}: "
            f"{frame}reference view {summary['reference_view']} ({summary['reference_image']}), "
            f"{summary['num_points']} points; {time.perf_counter() - started:.1f} s; outputs in {output_dir}",
            highlight=False,
        )
        for view, fraction in summary.get("no_data_fraction", {}).items():
            console.print(f"{view}: {fraction:.0%} of its pixels have no depth (outside the centre "
                          "crop the network saw, as its size differs from the reference view's); "
                          "drawn as a grey checkerboard, NaN in depth.npy", highlight=False)
    raise typer.Exit(EXIT_OK)
