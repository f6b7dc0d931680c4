"""The Parquet table of a scale-out run: one row per input (``OUT/_rows.parquet``).

Columns:

- ``input``: the image as listed (local path or URI); ``key``: its results folder under OUT.
- ``outputs``: the workflow's non-file outputs as JSON text, exactly as in that folder's
  ``results.json`` (numbers, lists, dictionaries); outputs written as files are left out here and
  listed in ``files`` (paths relative to OUT).
- ``error``: why the input failed (null when it did not); ``seconds``: the workflow's time for
  this image (its batch's time divided by the batch size; null for a row rebuilt on resume).

The table always holds exactly one row per input of the latest run's plan: a re-run keeps the
rows of the inputs it skipped (rebuilding a row from ``results.json`` when an interrupted run
never wrote it) and replaces the rows of the inputs it ran. It is written to a temporary file
and renamed into place, so readers never see half a table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from depthgraph.output_writer import RESULTS_FILE
from depthgraph.scale.inputs import InputImage

ROWS_FILE = "_rows.parquet"
COLUMNS = ("input", "key", "outputs", "files", "error", "seconds")


def schema() -> Any:
    import pyarrow as pa

    return pa.schema([
        ("input", pa.string()), ("key", pa.string()), ("outputs", pa.string()),
        ("files", pa.list_(pa.string())), ("error", pa.string()), ("seconds", pa.float64()),
    ])


def non_file_outputs(results: dict[str, Any]) -> dict[str, Any]:
    """``results.json``'s outputs without the ones written as files."""
    outputs = results.get("outputs", {})
    return {name: value for name, value in outputs.items()
            if not (isinstance(value, dict) and value.get("type") == "file")}


def row_from_folder(item: InputImage, output: Path, seconds: float | None = None) -> dict[str, Any]:
    """The row of a finished input, read back from its results folder."""
    folder = Path(output) / item.key
    results = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
    files = sorted(p.relative_to(output).as_posix() for p in folder.rglob("*") if p.is_file())
    return {"input": item.input, "key": item.key,
            "outputs": json.dumps(non_file_outputs(results), sort_keys=True),
            "files": files, "error": None, "seconds": seconds}


def error_row(item: InputImage, error: str, seconds: float | None) -> dict[str, Any]:
    return {"input": item.input, "key": item.key, "outputs": None, "files": [],
            "error": error, "seconds": seconds}


def read_rows(output: Path) -> list[dict[str, Any]]:
    """The rows in ``OUT/_rows.parquet`` (empty when there is none)."""
    import pyarrow.parquet as pq

    path = Path(output) / ROWS_FILE
    if not path.is_file():
        return []
    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # noqa: BLE001 - ArrowInvalid, OSError...: a damaged table
        import warnings

        # the rows are rebuilt from the result folders (each folder is whole or absent)
        warnings.warn(f"{path.name} cannot be read ({type(exc).__name__}); rebuilding it from "
                      "the result folders", stacklevel=2)
        return []


def write_rows(output: Path, plan: list[InputImage], new_rows: Iterable[dict[str, Any]],
               skipped: list[InputImage]) -> Path:
    """Write the run's table in ``plan`` order: ``new_rows``, and the earlier rows of the
    ``skipped`` inputs (rebuilt from their folders where missing). Inputs in neither (a run
    interrupted before them) have no row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    output = Path(output)
    earlier = {(r["key"], r["input"]): r for r in read_rows(output) if r.get("error") is None}
    fresh = {(r["key"], r["input"]): r for r in new_rows}
    skipped_keys = {(i.key, i.input) for i in skipped}
    rows: list[dict[str, Any]] = []
    for item in plan:
        ident = (item.key, item.input)
        if ident in fresh:
            rows.append(fresh[ident])
        elif ident in skipped_keys:
            row = earlier.get(ident)
            rows.append(row if row is not None else row_from_folder(item, output))
    table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in rows], schema=schema())
    from depthgraph.output_root import write_file

    return write_file(output / ROWS_FILE, lambda temporary: pq.write_table(table, temporary),
                      prop="output")
