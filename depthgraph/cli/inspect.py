"""``depthgraph validate`` and ``depthgraph describe``: workflows and blocks, without torch."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from typing_extensions import Annotated

from depthgraph.cli.common import EXIT_ERROR, CLIError, Verbose, reported, app, console, err_console


@app.command()
def validate(
    workflow_path: Annotated[Path, typer.Argument(metavar="WORKFLOW.json", help="Workflow definition (JSON).")],
    verbose: Verbose = False,
) -> None:
    """Check a workflow: prints "valid", or every error with its step and property (exit 1)."""
    with reported(verbose):
        from depthgraph.engine.compiler import validate_definition

        if not workflow_path.is_file():
            raise CLIError(f"{workflow_path}: no such workflow file")
        errors = validate_definition(workflow_path)
        if errors:
            err_console.print(f"[red]invalid:[/red] {workflow_path}: {len(errors)} error(s)",
                              highlight=False)
            for error in errors:
                err_console.print(f"  - {error.message}", markup=False, highlight=False)
                for detail in error.details[1:] if len(error.details) > 1 else []:
                    err_console.print(f"      {detail.message}", markup=False, highlight=False)
            raise typer.Exit(EXIT_ERROR)
        console.print(f"valid: {workflow_path}", highlight=False)


def _kind_names(kinds: Any) -> str:
    names = []
    for kind in kinds or []:
        names.append(kind.get("name", "?") if isinstance(kind, dict) else str(kind))
    return ", ".join(names) or "*"


@app.command()
def describe(
    as_json: Annotated[bool, typer.Option("--json", help="Print the full description as JSON.")] = False,
    verbose: Verbose = False,
) -> None:
    """List the blocks with their inputs, outputs and kinds."""
    with reported(verbose):
        from depthgraph.engine.describe import describe as describe_blocks

        data = describe_blocks()
        if as_json:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
            return
        table = Table(title="depthgraph blocks", show_lines=True)
        table.add_column("block", overflow="fold")
        table.add_column("inputs (kinds)", overflow="fold")
        table.add_column("outputs (kinds)", overflow="fold")
        for block in data.get("blocks", []):
            identifier = block.get("identifier") or block.get("manifest_type_identifier", "?")
            aliases = block.get("aliases") or block.get("manifest_type_identifier_aliases") or []
            label = identifier + "".join(f"\n  alias {a}" for a in aliases)
            inputs = "\n".join(f"{name}: {_kind_names(kinds)}"
                               for name, kinds in _block_inputs(block).items())
            outputs = "\n".join(f"{o.get('name')}: {_kind_names(o.get('kind'))}"
                                for o in block.get("outputs_manifest", block.get("outputs", [])))
            table.add_row(label, inputs or "-", outputs or "-")
        console.print(table)


def _block_inputs(block: dict[str, Any]) -> dict[str, Any]:
    """Input name -> kinds: selector inputs with their kinds, other properties as 'value'."""
    result: dict[str, Any] = dict(block.get("input_kinds") or {})
    for name in block.get("block_schema", {}).get("properties", {}):
        if name not in ("type", "name") and name not in result:
            result[name] = ["value"]
    return result
