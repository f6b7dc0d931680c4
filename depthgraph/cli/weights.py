"""``depthgraph weights list|import|download``: the local weights directory."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from typing_extensions import Annotated

from depthgraph.cli.common import AnyModel, Verbose, reported, console, weights_app


@weights_app.command("list")
def weights_list(verbose: Verbose = False) -> None:
    """Show which checkpoints the weights directory holds."""
    with reported(verbose):
        from depthgraph.weights_store import list_weights, weights_dir

        root = weights_dir()
        table = Table(title=f"weights in {root}")
        for column in ("model", "status", "size", "path"):
            table.add_column(column, overflow="fold")
        for entry in list_weights(root):
            if not entry.present:
                state = "[yellow]missing[/yellow]"
            elif entry.problem:
                state = f"[red]broken[/red]: {entry.problem}"
            else:
                state = f"[green]ok[/green] ({entry.tensors_found} tensors)"
            size = f"{entry.size_bytes / 1e6:.1f} MB" if entry.present else "-"
            table.add_row(entry.variant, state, size, str(entry.path))
        console.print(table)


@weights_app.command("import")
def weights_import(
    path: Annotated[Path, typer.Argument(help="A model.safetensors file or a folder holding one.")],
    model: Annotated[AnyModel, typer.Option("--model", "-m", help="Which DA3 variant it is.")],
    verbose: Verbose = False,
) -> None:
    """Check a checkpoint against the DA3 tensor names and copy it into the weights directory."""
    with reported(verbose):
        from depthgraph.weights_store import import_weights, weights_folder_name

        target = import_weights(path, model.value)
        console.print(f"imported {path} as {weights_folder_name(model.value)} -> {target}", highlight=False)


@weights_app.command("download")
def weights_download(
    model: Annotated[AnyModel, typer.Option("--model", "-m", help="Which DA3 variant.")],
    verbose: Verbose = False,
) -> None:
    """Download a checkpoint from the Hugging Face hub into the weights directory."""
    with reported(verbose):
        from depthgraph.weights_store import download_weights, weights_folder_name

        target = download_weights(model.value)
        console.print(f"{weights_folder_name(model.value)} from the hub is in place: {target}", highlight=False)
