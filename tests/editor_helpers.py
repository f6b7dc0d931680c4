"""Helpers for the editor's browser tests: a real ``depthgraph serve`` process, Debian's chromium
through Playwright, and real mouse drags on the page.

The browser tests skip with a reason when Playwright or a chromium binary is missing; they never
download a browser (``playwright install`` is not used).
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from cli_helpers import REPO_ROOT, serve_process

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
BROWSER_ARGS = [
    "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    # WebGL through SwiftShader (software) for the point-cloud view, with no GPU
    "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
]
EXAMPLES = REPO_ROOT / "examples" / "workflows"
PHOTO = REPO_ROOT / "examples" / "images" / "coffee.jpg"


def chromium_path() -> str | None:
    """A chromium binary: $DEPTHGRAPH_CHROMIUM, then Debian's and friends' usual paths."""
    configured = os.environ.get("DEPTHGRAPH_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


def browser_skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright; the test extra has it)"
    if chromium_path() is None:
        return ("no chromium binary (apt-get install -y --no-install-recommends chromium, "
                "or set DEPTHGRAPH_CHROMIUM)")
    return None


@contextmanager
def editor_server(env: dict[str, str] | None = None, args: list[str] | None = None) -> Iterator[str]:
    """``depthgraph serve`` on a free 127.0.0.1 port; yields its base URL, stops it afterwards."""
    process_env = dict(os.environ)
    process_env.update(env or {})
    with serve_process(args, env=process_env) as (base, _):
        yield base


@contextmanager
def browser() -> Iterator[Any]:
    """A headless chromium (Playwright), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def open_editor(instance: Any, base: str, width: int = 1600, height: int = 1000) -> Any:
    """A fresh context (empty local storage) with the editor loaded and ready."""
    context = instance.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(f"console.{msg.type}: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    page.goto(f"{base}/")
    wait_ready(page)
    return page


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless chromium per test module (import this fixture into the module)."""
    with browser() as instance:
        yield instance


@contextmanager
def checked_editor(instance: Any, base: str, *size: int) -> Iterator[Any]:
    """:func:`open_editor` for one test; afterwards the page must have logged no errors."""
    page = open_editor(instance, base, *size)
    yield page
    assert page.errors == [], f"errors in the page: {page.errors}"
    page.context.close()


def wait_ready(page: Any) -> None:
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    page.evaluate("window.depthgraphEditor.ready")


def tid(page: Any, name: str) -> Any:
    return page.locator(f'[data-testid="{name}"]')


def node(page: Any, name: str, role: str = "step") -> Any:
    """The drawn node ``name``, looked up once the page shows exactly the workflow's nodes.

    Undo, redo, paste and load rebuild the graph; until the browser has drawn the result, the old
    node can stand beside its replacement under the same name. Every lookup waits for that
    (``settle``), so no test can act on a node from the graph before.
    """
    settle(page)
    return page.locator(f'.baklava-node[data-role="{role}"][data-step="{name}"]')


def port(page: Any, name: str, key: str, io: str, role: str = "step") -> Any:
    return node(page, name, role).locator(
        f'.baklava-node-interface[data-socket="{key}"][data-io="{io}"] .__port')


def centre(locator: Any) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not on the page"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 12) -> None:
    """A real mouse drag: press at ``start``, move in steps, release at ``end``."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 4, start[1] + 4, steps=2)
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def drag_block(page: Any, identifier: str, x: float, y: float) -> None:
    """Drag a palette entry onto the canvas, dropping it ``x, y`` pixels into the canvas."""
    canvas = tid(page, "canvas").bounding_box()
    item = tid(page, f"palette-item-{identifier}")
    item.scroll_into_view_if_needed()
    drag(page, centre(item), (canvas["x"] + x, canvas["y"] + y))


def settle(page: Any) -> None:
    """Wait until the page shows exactly the workflow's nodes (a rebuilt graph's old nodes gone)."""
    page.wait_for_function(
        """async () => {
            const d = await window.depthgraphEditor.definition();
            const n = d.inputs.length + d.steps.length + d.outputs.length;
            return document.querySelectorAll('.baklava-node').length === n;
        }""")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def wire(page: Any, source: Any, target: Any, point: tuple[float, float] | None = None) -> None:
    """Drag a wire from one socket to another (or to ``point``, page pixels)."""
    settle(page)
    drag(page, centre(source), point if target is None else centre(target))


def settle_validation(page: Any) -> list[dict[str, Any]]:
    """Wait for the debounced live validation, then the errors the page shows."""
    page.wait_for_timeout(450)
    page.wait_for_function(
        "document.querySelector('[data-testid=validate-status]').dataset.state !== 'busy'")
    return page.evaluate("window.depthgraphEditor.validate()")


def canvas_non_blank_pixels(page: Any, selector: str) -> int:
    """How many pixels of the canvas at ``selector`` differ from its top-left (background) pixel."""
    return page.evaluate(
        """sel => {
            const src = document.querySelector(sel);
            const c = document.createElement('canvas');
            c.width = src.width; c.height = src.height;
            const ctx = c.getContext('2d');
            ctx.drawImage(src, 0, 0);
            const d = ctx.getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (Math.abs(d[i] - d[0]) + Math.abs(d[i + 1] - d[1]) + Math.abs(d[i + 2] - d[2]) > 30) n++;
            }
            return n;
        }""", selector)
