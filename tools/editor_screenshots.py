"""Take the screenshots of docs/editor.md: the editor driven in headless chromium (Playwright)
against a real ``depthgraph serve`` on 127.0.0.1.

    python tools/editor_screenshots.py --out docs/images [--recipe-weights]

``--recipe-weights`` writes the deterministic "recipe" DA3 weights (no download; the pictures
then show the editor, not the depth quality) into a temporary folder and serves with them;
without it the server uses the weights it finds (``depthgraph weights download``). Chromium is
``$DEPTHGRAPH_CHROMIUM`` or ``/usr/bin/chromium``. Look at every picture before committing it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "examples" / "images" / "coffee.jpg"
SIZE = {"width": 1440, "height": 900}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped (exit status {process.returncode})")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"no answer from {url} within {timeout} s")


def shoot(base: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("DEPTHGRAPH_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--disable-gpu", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"])
        page = browser.new_context(viewport=SIZE).new_page()
        page.goto(f"{base}/")
        page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)
        page.wait_for_timeout(600)
        page.screenshot(path=str(out / "editor-empty.png"))

        example = json.loads((REPO / "examples" / "workflows" / "depth_colormap.json").read_text())
        page.locator('[data-testid="examples-menu"]').select_option("depth_colormap")
        page.wait_for_function("document.querySelector('[data-testid=validate-status]').dataset.state === 'ok'")
        page.wait_for_timeout(800)
        page.locator('.baklava-node[data-role="step"][data-step="overlay"] > .__title').first.click()
        page.wait_for_timeout(400)
        page.screenshot(path=str(out / "editor-workflow.png"))
        assert page.evaluate("window.depthgraphEditor.definition()") == example

        page.locator('[data-testid="run-image-image"]').set_input_files(str(PHOTO))
        page.wait_for_selector('[data-testid="run-thumbs-image"] img')
        page.locator('.baklava-node[data-role="step"][data-step="depth"] > .__title').first.click()
        page.locator('[data-testid="run-button"]').click()
        page.wait_for_selector('.baklava-node[data-run="running"]', timeout=60_000)
        page.wait_for_timeout(700)
        page.screenshot(path=str(out / "editor-running.png"))
        page.wait_for_selector('[data-testid="preview-overlay"] img', timeout=300_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(out / "editor-run.png"))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--recipe-weights", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ, DEPTHGRAPH_DEVICE=os.environ.get("DEPTHGRAPH_DEVICE", "cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        if args.recipe_weights:
            from depthgraph.models.depth_anything_v3.recipe import weights_folder_name, write_recipe_checkpoint

            write_recipe_checkpoint("small", Path(tmp) / weights_folder_name("small"))
            env["DEPTHGRAPH_WEIGHTS_DIR"] = tmp
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "depthgraph.cli", "serve", "--port", str(port),
                                   "--log-level", "warning"], env=env, cwd=REPO)
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", server)
            args.out.mkdir(parents=True, exist_ok=True)
            shoot(f"http://127.0.0.1:{port}", args.out)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"screenshots written to {args.out}: editor-empty.png, editor-workflow.png, editor-running.png, editor-run.png")


if __name__ == "__main__":
    main()
