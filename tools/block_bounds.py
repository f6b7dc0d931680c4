"""Print (or check) the table of property bounds in docs/blocks.md, from the block registry.

Every number and string a client can set is bounded in its manifest; this table is made from the
manifests' JSON schemas, so it cannot drift from what validation enforces:

- ``python tools/block_bounds.py``: print the table (markdown);
- ``python tools/block_bounds.py --write``: replace the table in docs/blocks.md;
- ``python tools/block_bounds.py --check``: exit status 1 when docs/blocks.md is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

BEGIN = "<!-- bounds:begin (made by tools/block_bounds.py --write) -->"
END = "<!-- bounds:end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "blocks.md"


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e7:
        return str(int(value))
    return f"{value:g}"


def _branch_bound(branch: dict[str, Any]) -> str | None:
    if branch.get("reference"):
        return None
    kind = branch.get("type")
    if "enum" in branch:
        return None  # choices are listed in the table above
    if kind in ("number", "integer"):
        low = ("[" + _number(branch["minimum"])) if "minimum" in branch else (
            "(" + _number(branch["exclusiveMinimum"]) if "exclusiveMinimum" in branch else "(-inf")
        high = (_number(branch["maximum"]) + "]") if "maximum" in branch else (
            _number(branch["exclusiveMaximum"]) + ")" if "exclusiveMaximum" in branch else "inf)")
        return f"{'integer' if kind == 'integer' else 'number'} {low}, {high}"
    if kind == "string":
        parts = [f"at most {branch['maxLength']} characters"] if "maxLength" in branch else []
        if "pattern" in branch:
            parts.append(f"pattern `{branch['pattern']}`")
        return "string, " + ", ".join(parts) if parts else "string"
    return None


def _branches(node: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf"):
        if key in node:
            return [b for sub in node[key] for b in _branches(sub)]
    return [node]


def bounds_table() -> str:
    """The markdown table: block, property, bounds (numbers and strings only)."""
    from depthgraph.engine.registry import get_registry

    rows = ["| Block | Property | Bounds |", "|-------|----------|--------|"]
    registry = get_registry()
    for identifier in sorted(registry.blocks):
        schema = registry.blocks[identifier].manifest_class.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            if name in ("type", "name"):
                continue
            bounds = [b for b in (_branch_bound(x) for x in _branches(prop)) if b]
            if bounds:
                rows.append(f"| `{identifier}` | `{name}` | {'; '.join(bounds)} |")
    return "\n".join(rows) + "\n"


def _with_table(text: str, table: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/blocks.md")
    parser.add_argument("--check", action="store_true", help="fail when docs/blocks.md differs")
    args = parser.parse_args(argv)
    table = bounds_table()
    if not (args.write or args.check):
        sys.stdout.write(table)
        return 0
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"{DOC.name} has no bounds markers", file=sys.stderr)
        return 1
    wanted = _with_table(text, table)
    if args.check:
        if wanted != text:
            print("docs/blocks.md: the bounds table is out of date; run "
                  "python tools/block_bounds.py --write", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
