"""The editor in a real browser (Debian's chromium via Playwright) against a real
``depthgraph serve`` on 127.0.0.1, driven with real mouse drags.

Covers: building image -> depth -> colour map -> output from an empty canvas by dragging blocks
and wires; a kind-mismatched wire refused with its reason; undo/redo; the exported JSON accepted
by ``depthgraph validate``; every example workflow imported from the menu and exported unchanged;
a validation error shown on the node and property it names; a run on an example photo showing the
colour-mapped image and a non-blank 3D point cloud; the work kept across a reload.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from cli_helpers import depthgraph_command
from editor_helpers import (EXAMPLES, PHOTO, browser_skip_reason, canvas_non_blank_pixels, centre,
                            checked_editor, chromium, drag, drag_block, editor_server, node, port, settle,
                            settle_validation, tid, wait_ready, wire)

pytestmark = pytest.mark.skipif(browser_skip_reason() is not None,
                                reason=browser_skip_reason() or "")


@pytest.fixture(scope="module")
def base():
    from model_helpers import recipe_weights_root

    # the depth model runs on deterministic recipe weights (no download)
    env = {"DEPTHGRAPH_WEIGHTS_DIR": str(recipe_weights_root("small")), "DEPTHGRAPH_DEVICE": "cpu"}
    with editor_server(env=env) as url:
        yield url


@pytest.fixture
def page(chromium, base):
    with checked_editor(chromium, base) as page:
        yield page


def definition(page):
    return page.evaluate("window.depthgraphEditor.definition()")


def test_build_depth_colour_map_from_empty_canvas(page, tmp_path):
    assert definition(page)["steps"] == []
    drag_block(page, "WorkflowImage", 40, 120)
    drag_block(page, "depthgraph/depth_estimation@v1", 300, 120)
    drag_block(page, "depthgraph/depth_colormap@v1", 580, 120)
    for name, role in (("image", "input"), ("depth_estimation", "step"), ("depth_colormap", "step")):
        node(page, name, role).wait_for()

    wire(page, port(page, "image", "image", "out", "input"), port(page, "depth_estimation", "images", "in"))
    wire(page, port(page, "depth_estimation", "depth", "out"), port(page, "depth_colormap", "depth", "in"))
    steps = {s["name"]: s for s in definition(page)["steps"]}
    assert steps["depth_estimation"]["images"] == "$inputs.image"
    assert steps["depth_colormap"]["depth"] == "$steps.depth_estimation.depth"

    # a camera_intrinsics output cannot feed an image input: refused, with the reason shown
    wire(page, port(page, "depth_estimation", "intrinsics", "out"), port(page, "depth_colormap", "image", "in"))
    status = tid(page, "status").inner_text()
    assert "cannot connect" in status and "camera_intrinsics" in status and "image" in status
    assert "image" not in {s["name"]: s for s in definition(page)["steps"]}["depth_colormap"]

    # undo takes the last wire away, redo brings it back
    page.keyboard.press("Control+z")
    assert "depth" not in {s["name"]: s for s in definition(page)["steps"]}["depth_colormap"]
    page.keyboard.press("Control+Shift+z")
    assert {s["name"]: s for s in definition(page)["steps"]}["depth_colormap"]["depth"] == \
        "$steps.depth_estimation.depth"

    # a wire dropped on empty canvas offers what can take it; picking "Output" adds and connects it
    canvas = tid(page, "canvas").bounding_box()
    wire(page, port(page, "depth_colormap", "image", "out"), None, (canvas["x"] + 860, canvas["y"] + 160))
    suggestions = tid(page, "suggestions")
    suggestions.wait_for(state="visible")
    assert suggestions.locator('[data-testid="suggestion-depthgraph/bounding_box_visualization@v1-image"]').count() == 1
    assert suggestions.locator('[data-testid="suggestion-depthgraph/depth_colormap@v1-depth"]').count() == 0
    suggestions.locator('[data-testid="suggestion-JsonField-selector"]').click()
    node(page, "output", "output").wait_for()
    assert settle_validation(page) == []
    assert tid(page, "validate-status").inner_text().endswith("valid")

    with page.expect_download() as download:
        tid(page, "export").click()
    exported = tmp_path / "built.json"
    download.value.save_as(exported)
    built = json.loads(exported.read_text())
    assert built == definition(page)
    assert built["outputs"] == [{"type": "JsonField", "name": "output",
                                 "selector": "$steps.depth_colormap.image"}]
    assert "position" not in exported.read_text()  # positions never go into the definition
    check = subprocess.run([*depthgraph_command(), "validate", str(exported)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_examples_import_and_export_unchanged(page):
    menu = tid(page, "examples-menu")
    offered = [o for o in menu.locator("option").evaluate_all("os => os.map(o => o.value)") if o]
    assert sorted(offered) == sorted(p.stem for p in EXAMPLES.glob("*.json"))
    for name in offered:
        expected = json.loads((EXAMPLES / f"{name}.json").read_text())
        menu.select_option(name)
        deadline = time.monotonic() + 20
        while definition(page) != expected and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert definition(page) == expected, name  # dict equality: key order aside
        settle(page)  # and every node drawn
    # what the editor cannot know is kept as written: no version, extra keys, unknown blocks and
    # properties, a selector to nowhere, lists
    odd = {
        "inputs": [{"type": "WorkflowImage", "name": "image"},
                   {"type": "WorkflowParameter", "name": "k", "default_value": [1, 2], "kind": ["integer"]}],
        "steps": [
            {"type": "somebody/unknown_block@v3", "name": "mystery", "image": "$inputs.image",
             "size": {"w": 3}, "many": ["$inputs.image", "$inputs.image"]},
            {"type": "depthgraph/depth_estimation@v1", "name": "depth", "image": "$steps.mystery.out",
             "model_version": "$inputs.nowhere"},
        ],
        "outputs": [{"type": "JsonField", "name": "depth", "selector": "$steps.depth.depth",
                     "coordinates_system": "own"},
                    {"type": "JsonField", "name": "all", "selector": "$steps.mystery.*"}],
        "note": {"kept": True},
    }
    page.evaluate("d => window.depthgraphEditor.load(d)", odd)
    assert definition(page) == odd
    assert list(definition(page)) == list(odd)
    assert [list(s) for s in definition(page)["steps"]] == [list(s) for s in odd["steps"]]


def test_validation_error_shown_on_the_right_node(page):
    page.evaluate("d => window.depthgraphEditor.load(d)",
                  json.loads((EXAMPLES / "depth_colormap.json").read_text()))
    assert settle_validation(page) == []
    node(page, "depth").locator(".__title").click()
    wired = tid(page, "prop-model_version")
    assert wired.locator("select").is_disabled()  # literal-or-selector property, wired: greyed out
    assert "wired from $inputs.model_version" in wired.inner_text()
    assert not tid(page, "prop-colormap").locator("select").is_disabled()
    overlay = node(page, "overlay")
    overlay.locator(".__title").click()
    assert tid(page, "prop-colormap").locator("select").input_value() == "inferno"
    field = tid(page, "prop-percentile_low").locator("input")
    field.fill("150")
    field.press("Enter")
    field.blur()
    errors = settle_validation(page)
    assert [(e["step"], e["property"]) for e in errors] == [("overlay", "percentile_low")]
    page.wait_for_function(
        "() => (document.querySelector('.baklava-node[data-step=overlay][data-role=step]')"
        ".dataset.error || '').includes('percentile_low')")
    assert node(page, "depth").get_attribute("data-error") is None
    item = tid(page, "error-list").locator("li")
    assert item.count() == 1 and item.get_attribute("data-step") == "overlay"
    assert tid(page, "prop-percentile_low").get_attribute("data-error")
    assert tid(page, "validate-status").get_attribute("data-state") == "error"
    assert "1 problem" in tid(page, "validate-status").inner_text()

    # Run is blocked while there is a problem, and says which; then until an image is picked
    assert tid(page, "run-button").is_disabled()
    assert "percentile_low" in tid(page, "run-blocked").inner_text()
    field.fill("2")
    field.press("Enter")
    page.wait_for_function("document.querySelector('[data-testid=run-blocked]').textContent.includes(\"input 'image'\")")
    assert tid(page, "run-button").is_disabled()

    # Delete removes the selected node and its wires; undo brings both back
    overlay.locator(".__title").click()
    page.keyboard.press("Delete")
    assert [s["name"] for s in definition(page)["steps"]] == ["depth"]
    page.keyboard.press("Control+z")
    assert definition(page) == json.loads((EXAMPLES / "depth_colormap.json").read_text()) | {
        "steps": [json.loads((EXAMPLES / "depth_colormap.json").read_text())["steps"][0],
                  {**json.loads((EXAMPLES / "depth_colormap.json").read_text())["steps"][1],
                   "percentile_low": 2}]}


def test_run_on_a_photo_shows_colour_map_and_point_cloud(page):
    workflow = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {"type": "roboflow_core/depth_estimation@v1", "name": "depth", "images": "$inputs.image"},
            {"type": "depthgraph/depth_colormap@v1", "name": "colour", "depth": "$steps.depth.depth"},
            {"type": "depthgraph/point_cloud_projection@v1", "name": "cloud", "depth": "$steps.depth.depth",
             "image": "$inputs.image", "intrinsics": "$steps.depth.intrinsics", "stride": 4},
        ],
        "outputs": [
            {"type": "JsonField", "name": "colour", "selector": "$steps.colour.image"},
            {"type": "JsonField", "name": "points", "selector": "$steps.cloud.point_cloud"},
            {"type": "JsonField", "name": "depth", "selector": "$steps.depth.depth"},
        ],
    }
    page.evaluate("d => window.depthgraphEditor.load(d)", workflow)
    tid(page, "run-image-image").set_input_files(str(PHOTO))
    page.wait_for_selector('[data-testid="run-thumbs-image"] img')
    tid(page, "run-button").click()
    colour = tid(page, "output-colour").locator("img.dg-after")
    colour.wait_for(timeout=120_000)
    assert tid(page, "run-error").inner_text() == ""
    assert colour.evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])") == [600, 400]
    assert "s" in tid(page, "run-time").inner_text()
    # the depth map is drawn with its unit: small/base depth is relative, never shown as metres
    depth = tid(page, "output-depth")
    assert depth.get_attribute("data-unit") == "relative"
    assert depth.locator("canvas").evaluate("c => [c.width, c.height]") == [600, 400]
    assert "relative depth, no unit" in tid(page, "depth-readout-depth").inner_text()
    # so is the point cloud made from it: its points are in relative units, not metres
    points = tid(page, "output-points")
    assert points.get_attribute("data-unit") == "relative"
    assert "points in relative units (no unit, not metres)" in tid(page, "points-unit-points").inner_text()
    page.wait_for_selector('[data-testid="viewer-points"][data-ready="true"]', timeout=60_000)
    assert "3D point cloud in relative units" in tid(page, "viewer-canvas-points").get_attribute("aria-label")
    lit = canvas_non_blank_pixels(page, '[data-testid="viewer-canvas-points"]')
    assert lit > 500, f"the point cloud view drew only {lit} pixels"
    # orbiting with the mouse redraws the view
    before = page.locator('[data-testid="viewer-canvas-points"]').screenshot()
    start = centre(page.locator('[data-testid="viewer-canvas-points"]'))
    drag(page, start, (start[0] + 120, start[1] + 40))
    assert page.locator('[data-testid="viewer-canvas-points"]').screenshot() != before


def test_reload_keeps_the_work(page):
    page.evaluate("d => window.depthgraphEditor.load(d)",
                  json.loads((EXAMPLES / "face_distances.json").read_text()))
    title = node(page, "boxes").locator(".__title-label")
    x, y = centre(title)
    drag(page, (x, y), (x + 90, y + 160))
    moved = page.evaluate("window.depthgraphEditor.positions()")
    before = definition(page)
    page.reload()
    wait_ready(page)
    assert definition(page) == before
    assert page.evaluate("window.depthgraphEditor.positions()") == moved


def test_a_server_with_an_api_key_asks_once(chromium):
    with editor_server(env={"DEPTHGRAPH_API_KEY": "s3cret-key"}) as url:
        context = chromium.new_context(viewport={"width": 1400, "height": 900})
        try:
            page = context.new_page()
            page.goto(f"{url}/editor")
            dialog = tid(page, "key-dialog")
            dialog.wait_for(state="visible")
            tid(page, "api-key-input").fill("wrong")
            tid(page, "api-key-ok").click()
            dialog.wait_for(state="visible")  # refused: asked again
            tid(page, "api-key-input").fill("s3cret-key")
            tid(page, "api-key-ok").click()
            wait_ready(page)
            assert tid(page, "palette-item-depthgraph/depth_estimation@v1").is_visible()
            assert page.evaluate("window.depthgraphEditor.validate()") == []
            page.reload()  # kept for the session: not asked again
            wait_ready(page)
            assert not dialog.is_visible()
        finally:
            context.close()


def test_palette_search_copy_paste_and_one_step_undo(page):
    search = tid(page, "palette-search")
    search.fill("colour")
    shown = page.locator(".dg-palette-item").evaluate_all("items => items.map(i => i.dataset.block)")
    assert "depthgraph/depth_colormap@v1" in shown and "depthgraph/depth_estimation@v1" not in shown
    assert "WorkflowImage" not in shown
    search.fill("")
    page.evaluate("d => window.depthgraphEditor.load(d)",
                  json.loads((EXAMPLES / "depth_colormap.json").read_text()))
    settle(page)
    node(page, "overlay").locator(".__title").click()
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    steps = {s["name"]: s for s in definition(page)["steps"]}
    assert steps["overlay_2"] == {**steps["overlay"], "name": "overlay_2"}  # wires to the same sources
    settle(page)
    assert node(page, "overlay_2").count() == 1
    page.keyboard.press("Control+z")  # the paste was one step
    assert [s["name"] for s in definition(page)["steps"]] == ["depth", "overlay"]
    # layout is one step too
    before = page.evaluate("window.depthgraphEditor.positions()")
    title = node(page, "overlay").locator(".__title-label")
    x, y = centre(title)
    drag(page, (x, y), (x + 200, y + 250))
    moved = page.evaluate("window.depthgraphEditor.positions()")
    assert moved != before
    tid(page, "layout").click()
    laid_out = page.evaluate("window.depthgraphEditor.positions()")
    assert laid_out != moved
    assert laid_out["step:overlay"]["x"] > laid_out["step:depth"]["x"]  # columns by generation
    tid(page, "undo").click()
    assert page.evaluate("window.depthgraphEditor.positions()") == moved
    tid(page, "redo").click()
    assert page.evaluate("window.depthgraphEditor.positions()") == laid_out
