"""Command-line values -> what the batch runner runs: parameters and one job per image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from depthgraph.batch.errors import RunSetupError
from depthgraph.batch.jobs import ImageJob
from depthgraph.engine.workflow import Workflow
from depthgraph.image_files import ImageReadError, collect_images
from depthgraph.output_root import OutputNames
from depthgraph.output_writer import safe_name


def parse_params(items: list[str], workflow: Workflow) -> dict[str, Any]:
    """``NAME=VALUE`` strings -> parameters.

    VALUE is read as JSON when it parses (``0.5``, ``true``, ``["a"]``), else kept as text; it is
    always kept as text for a parameter whose default value is text.
    """
    defaults = workflow.parameter_names
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise RunSetupError(f"--param {item!r}: expected NAME=VALUE")
        if name not in defaults:
            listing = ", ".join(defaults) or "none"
            raise RunSetupError(f"--param {name}: the workflow has no such parameter "
                                f"(its parameters: {listing})")
        if isinstance(defaults[name], str):  # a text parameter: "123" stays text
            params[name] = raw
            continue
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def plan_jobs(workflow: Workflow, specs: list[str], recursive: bool = False) -> list[ImageJob]:
    """Image arguments -> jobs. ``NAME=PATH`` names an image input; bare paths go to the only one.

    With several image inputs, their lists are paired by position (a single image is used with
    every image of the others).
    """
    names = workflow.image_input_names
    if not names:
        if specs:
            raise RunSetupError("the workflow has no image input; drop --image")
        return [ImageJob(label="(no image)", images={}, folder="run")]
    per_input: dict[str, list[str]] = {n: [] for n in names}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if sep and name in per_input:
            per_input[name].append(rest)
        elif len(names) == 1:
            per_input[names[0]].append(spec)
        else:
            raise RunSetupError(f"--image {spec}: the workflow has image inputs "
                                f"{', '.join(names)}; write --image NAME=PATH")
    files: dict[str, list[Path]] = {}
    for name, items in per_input.items():
        if not items:
            raise RunSetupError(f"no image given for the workflow's image input '{name}'")
        try:
            files[name] = collect_images(items, recursive=recursive)
        except ImageReadError as exc:
            raise RunSetupError(str(exc)) from None
    counts = {n: len(f) for n, f in files.items()}
    total = max(counts.values())
    if any(c not in (1, total) for c in counts.values()):
        listing = ", ".join(f"'{n}' has {c}" for n, c in counts.items())
        raise RunSetupError(f"image inputs need the same number of images (or one): {listing}")
    primary = max(names, key=lambda n: counts[n])
    jobs: list[ImageJob] = []
    used = OutputNames()  # folders differ in more than case
    for index in range(total):
        images: dict[str, str | Path] = {n: f[index if len(f) > 1 else 0] for n, f in files.items()}
        main = Path(images[primary])
        folder = used.claim(safe_name(main.stem))
        jobs.append(ImageJob(label=str(main), images=images, folder=folder))
    return jobs
