"""Imports only point down: every module's imports, read with ``ast``, against docs/architecture.md.

The layer order is the table between the ``<!-- layers`` markers of ``docs/architecture.md``.
Every import counts: at module level, inside a function, under ``if TYPE_CHECKING:``. A module
may import its own layer or lower ones; a front end may import another front end only through
that front end's package (``depthgraph.video``, not ``depthgraph.video.pipeline``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "depthgraph"
ARCHITECTURE = REPO / "docs" / "architecture.md"
ROOT = "depthgraph"


def read_layers(text: str) -> list[tuple[int, str, list[str]]]:
    """(layer number, name, module prefixes) per row of the layer table."""
    start, end = text.index("<!-- layers"), text.index("<!-- /layers -->")
    rows = []
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            rows.append((int(cells[0]), cells[1], re.findall(r"`([\w.]+)`", cells[2])))
    return rows


LAYERS = read_layers(ARCHITECTURE.read_text(encoding="utf-8"))
FRONT_END_LAYER = max(number for number, _, _ in LAYERS)


def layer_of(module: str) -> int | None:
    """The layer of a module: the row naming it or its closest enclosing package.

    The root ``depthgraph`` names only the package's own ``__init__`` (the façade).
    """
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for number, _, prefixes in LAYERS:
        for prefix in prefixes:
            covers = module == prefix or (prefix != ROOT and module.startswith(prefix + "."))
            if covers and (best is None or len(prefix) > best[0]):
                best = (len(prefix), number)
    return None if best is None else best[1]


def front_end_package(module: str) -> str:
    """``depthgraph.video.pipeline`` -> ``depthgraph.video`` (the root stays the root)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = all_modules()


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) for every depthgraph module that ``source`` imports, wherever it does."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package, up level - 1
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if candidate in known else base))
    return [(line, name) for line, name in found if name == ROOT or name.startswith(ROOT + ".")]


def violations(module: str, source: str, is_package: bool, known: set[str]) -> list[str]:
    """What is wrong with ``module``'s imports (empty when every arrow points down)."""
    own = layer_of(module)
    if own is None:
        return [f"{module}: in no layer of docs/architecture.md"]
    problems = []
    for line, target in imported_modules(source, module, is_package, known):
        theirs = layer_of(target)
        if theirs is None:
            problems.append(f"{module}:{line} imports {target}, which is in no layer")
        elif theirs > own:
            problems.append(f"{module}:{line} imports {target} (layer {theirs}) from layer {own}: "
                            "an upward import")
        elif (own == theirs == FRONT_END_LAYER and target != ROOT and module != ROOT
              and front_end_package(target) != front_end_package(module)
              and target != front_end_package(target)):
            problems.append(f"{module}:{line} imports {target}: another front end's internals "
                            f"(import {front_end_package(target)} instead)")
    return problems


def test_the_layer_table_is_read() -> None:
    numbers = [number for number, _, _ in LAYERS]
    assert numbers == sorted(numbers) and len(numbers) >= 6
    assert layer_of("depthgraph.engine.compiler") < layer_of("depthgraph.blocks.colormap")
    assert layer_of("depthgraph.cli.run") == FRONT_END_LAYER == layer_of(ROOT)


def test_every_module_is_in_a_layer() -> None:
    assert [m for m in MODULES if layer_of(m) is None] == []


def test_no_import_points_up() -> None:
    known = set(MODULES)
    problems = [problem for module, path in MODULES.items()
                for problem in violations(module, path.read_text(encoding="utf-8"),
                                          path.name == "__init__.py", known)]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("source, expected", [
    ("import depthgraph.blocks.colormap\n", "upward"),
    ("def f():\n    from depthgraph.video import run_video\n", "upward"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from depthgraph import cli\n", "upward"),
    ("from depthgraph import blocks\n", "upward"),
    ("import depthgraph\n", "upward"),
    ("from depthgraph.engine import values\nfrom depthgraph.errors import FatalError\n", None),
])
def test_the_checker_sees_every_kind_of_import(source: str, expected: str | None) -> None:
    found = violations("depthgraph.engine.compiler", source, False, set(MODULES))
    assert (expected is None and found == []) or (expected and found and expected in found[0])


def test_the_checker_resolves_relative_imports_and_front_end_internals() -> None:
    known = set(MODULES)
    relative = imported_modules("from .recipe import weights_folder_name\nfrom . import model\n",
                                "depthgraph.models.depth_anything_v3.weights", False, known)
    assert relative == [(1, "depthgraph.models.depth_anything_v3.recipe"),
                        (2, "depthgraph.models.depth_anything_v3.model")]
    upward_relative = violations("depthgraph.engine.compiler", "from .. import blocks\n", False, known)
    assert upward_relative and "upward" in upward_relative[0]
    internals = violations("depthgraph.cli.run", "from depthgraph.video.pipeline import run_video\n", False, known)
    assert internals and "internals" in internals[0]
    assert violations("depthgraph.cli.run", "from depthgraph.video import run_video\n", False, known) == []
