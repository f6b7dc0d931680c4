"""The editor as a node-editor user expects it (issue 21), in real chromium against a real
``depthgraph serve`` on 127.0.0.1, with the real mouse and keyboard, at 1440x900.

The server loads the test plugin blocks (``test_cli/fake_depth@v1``: an image in, an image and a
number out, fast; ``test_cli/sleep@v1``: a step that takes as long as asked), so a run is quick
and a step is still running long enough to be seen.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from cli_helpers import fake_depth_workflow, gradient_image, plugin_env, write_image
from editor_helpers import (EXAMPLES, PHOTO, browser_skip_reason, centre, checked_editor, chromium, drag,
                            editor_server, node, port, settle, settle_validation, tid, wait_ready)

pytestmark = pytest.mark.skipif(browser_skip_reason() is not None, reason=browser_skip_reason() or "")

W, H = 1440, 900

NAP_WORKFLOW = {
    "version": "1.0",
    "inputs": [{"type": "WorkflowImage", "name": "image"},
               {"type": "WorkflowParameter", "name": "seconds", "default_value": 3.0}],
    "steps": [{"type": "test_cli/fake_depth@v1", "name": "fake", "image": "$inputs.image"},
              {"type": "test_cli/sleep@v1", "name": "nap", "seconds": "$inputs.seconds"}],
    "outputs": [{"type": "JsonField", "name": "inverted", "selector": "$steps.fake.inverted"},
                {"type": "JsonField", "name": "mean", "selector": "$steps.fake.mean"},
                {"type": "JsonField", "name": "done", "selector": "$steps.nap.done"}],
}


@pytest.fixture(scope="module")
def base():
    with editor_server(env=plugin_env()) as url:
        yield url


@pytest.fixture
def page(chromium, base):
    with checked_editor(chromium, base, W, H) as page:
        yield page


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    return write_image(tmp_path_factory.mktemp("img") / "gradient.png", gradient_image(64, 48))


def definition(page):
    return page.evaluate("window.depthgraphEditor.definition()")


def load(page, d):
    page.evaluate("d => window.depthgraphEditor.load(d)", d)
    settle(page)


def in_viewport(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["width"] > 0 and box["x"] >= 0 and box["y"] >= 0 \
        and box["x"] + box["width"] <= W and box["y"] + box["height"] <= H


def test_a_run_shows_its_progress_then_results_in_view(page, picture):
    load(page, NAP_WORKFLOW)
    # a long property form does not push Run out of view
    node(page, "fake").locator(".__title").click()
    tid(page, "run-image-image").set_input_files(str(picture))
    page.wait_for_selector('[data-testid="run-thumbs-image"] img')
    assert in_viewport(tid(page, "run-button")) and in_viewport(tid(page, "run-thumbs-image").locator("img"))
    settle_validation(page)
    tid(page, "run-button").click()
    # while the nap runs: its node is marked and the page says which step runs
    page.wait_for_selector('.baklava-node[data-step="nap"][data-run="running"]', timeout=20_000)
    progress = tid(page, "run-progress").inner_text()
    assert "nap" in progress and "of 2" in progress
    assert node(page, "fake").get_attribute("data-run") == "done"
    assert in_viewport(tid(page, "run-progress"))
    # then: results beside the graph and previews on the output nodes, all without scrolling
    preview = tid(page, "preview-inverted").locator("img")
    preview.wait_for(timeout=30_000)
    assert in_viewport(preview)
    assert preview.evaluate("img => img.decode().then(() => img.naturalWidth)") == 64
    assert tid(page, "preview-mean").inner_text().strip() != ""
    assert in_viewport(tid(page, "results-panel"))
    assert in_viewport(tid(page, "output-inverted").locator("img").first)
    assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")
    expect(node(page, "nap")).to_have_attribute("data-run", "done")
    assert tid(page, "run-progress-box").is_hidden()
    # the results panel can be hidden and shown again
    tid(page, "results-close").click()
    assert tid(page, "results-panel").is_hidden()
    tid(page, "results-open").click()
    assert tid(page, "results-panel").is_visible()


def test_double_click_search_enter_adds_a_block_at_the_cursor(page):
    canvas = tid(page, "canvas").bounding_box()
    x, y = canvas["x"] + 260, canvas["y"] + 220
    page.mouse.dblclick(x, y)
    search = tid(page, "quick-add-search")
    search.wait_for()
    page.keyboard.type("dept")  # hits in block titles come before hits in descriptions
    first = tid(page, "suggestions").locator("button").first.inner_text()
    assert first.lower().startswith("depth"), first
    search.fill("")
    page.keyboard.type("image input")
    page.keyboard.press("Enter")
    node(page, "image", "input").wait_for()
    box = node(page, "image", "input").bounding_box()
    assert abs(box["x"] - x) < 30 and abs(box["y"] - y) < 40, (box, x, y)
    # from a dropped wire: the box lists what can take it; Enter adds the top hit, wired
    settle(page)
    drag(page, centre(port(page, "image", "image", "out", "input")), (x + 420, y + 60))
    search.wait_for()
    page.keyboard.type("depth estimation images")
    page.keyboard.press("Enter")
    node(page, "depth_estimation").wait_for()
    steps = {s["name"]: s for s in definition(page)["steps"]}
    assert steps["depth_estimation"]["images"] == "$inputs.image"
    assert tid(page, "suggestions").is_hidden()
    # Enter in the palette's search adds its top hit too
    tid(page, "palette-search").fill("colour map")
    tid(page, "palette-search").press("Enter")
    node(page, "depth_colormap").wait_for()


def test_refused_wire_reason_at_the_cursor_and_sockets_by_kind(page):
    load(page, json.loads((EXAMPLES / "depth_colormap.json").read_text()))
    # sockets are coloured by kind, named on hover, with a legend
    image_socket = node(page, "depth").locator('.baklava-node-interface[data-socket="images"]')
    intr_socket = node(page, "depth").locator('.baklava-node-interface[data-socket="intrinsics"][data-io="out"]')
    assert image_socket.get_attribute("data-kind") == "image"
    assert "takes image" in image_socket.get_attribute("title")
    colour = lambda s: s.locator(".__port").evaluate("p => getComputedStyle(p).backgroundColor")  # noqa: E731
    assert colour(image_socket) != colour(intr_socket)
    legend = tid(page, "kind-legend").inner_text()
    assert "image" in legend and "camera_intrinsics" in legend
    # while a wire is dragged, the sockets it cannot reach are dimmed
    start = centre(port(page, "depth", "intrinsics", "out"))
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 60, start[1] + 30, steps=4)
    overlay_image = node(page, "overlay").locator('.baklava-node-interface[data-socket="image"][data-io="in"]')
    assert overlay_image.get_attribute("data-unreachable")
    target = centre(port(page, "overlay", "image", "in"))
    page.mouse.move(*target, steps=8)
    page.mouse.up()
    tip = tid(page, "refusal")
    tip.wait_for()
    assert "cannot connect" in tip.inner_text() and "camera_intrinsics" in tip.inner_text()
    tip_box = tip.bounding_box()
    assert abs(tip_box["x"] - target[0]) < 40 and abs(tip_box["y"] - target[1]) < 40
    assert overlay_image.get_attribute("data-unreachable") is None  # cleared after the drag
    # a cycle is refused with its reason, at the cursor too
    target = centre(port(page, "depth", "images", "in"))
    drag(page, centre(port(page, "overlay", "image", "out")), target)
    page.wait_for_function("document.querySelector('[data-testid=refusal]').textContent.includes('cycle')")


def test_run_blocked_by_problems_and_server_errors_placed_then_cleared(page, picture):
    # sinks are off on this server: the PLY example is not "valid" here, and Run says why
    tid(page, "examples-menu").select_option("point_cloud_ply")
    page.wait_for_function("document.querySelector('[data-testid=validate-status]').dataset.state === 'error'")
    assert "sink" in tid(page, "run-blocked").inner_text()
    assert tid(page, "run-button").is_disabled()
    # a run that fails on the server: its error goes on the node and property, not raw text
    load(page, fake_depth_workflow())
    settle_validation(page)
    tid(page, "run-image-image").set_input_files(str(picture))
    tid(page, "run-param-fail_width").fill("64")
    tid(page, "run-param-fail_width").press("Tab")
    tid(page, "run-button").click()
    page.wait_for_function("document.querySelector('[data-testid=run-error]').textContent.length > 0")
    message = tid(page, "run-error").inner_text()
    assert "step 'fake'" in message and "64 pixels wide" in message and "HTTP" not in message
    assert "64 pixels wide" in (node(page, "fake").get_attribute("data-error") or "")
    expect(node(page, "fake")).to_have_attribute("data-run", "failed")
    assert tid(page, "error-list").locator('li[data-step="fake"]').count() == 1
    # changing the definition clears them
    node(page, "fake").locator(".__title").click()
    tid(page, "prop-fail_width").locator("input").evaluate("e => e.disabled")  # wired from the parameter
    page.evaluate("""async () => { const d = await window.depthgraphEditor.definition();
        d.outputs.pop(); await window.depthgraphEditor.load(d); }""")
    page.wait_for_function("!document.querySelector('.baklava-node[data-step=fake]').dataset.error")
    assert tid(page, "run-error").inner_text() == ""


def test_properties_clear_on_delete_and_number_fields_know_their_bounds(page):
    load(page, json.loads((EXAMPLES / "depth_colormap.json").read_text()))
    node(page, "overlay").locator(".__title").click()
    assert "from 0 to 100" in tid(page, "range-percentile_low").inner_text()
    field = tid(page, "prop-percentile_low").locator("input")
    field.click()
    field.fill("")
    page.keyboard.type("abc")  # marked at once, not dropped
    expect(field).to_have_attribute("aria-invalid", "true")
    assert "not a number" in tid(page, "prop-percentile_low").inner_text()
    field.fill("")
    page.keyboard.type("150")
    assert "at most 100" in tid(page, "prop-percentile_low").inner_text()
    field.fill("")
    page.keyboard.type("5")
    # the server's answer to "150" may still be on its way on a busy machine: wait for the field
    expect(field).to_have_attribute("aria-invalid", "false", timeout=15_000)
    page.keyboard.press("Enter")
    assert {s["name"]: s for s in definition(page)["steps"]}["overlay"]["percentile_low"] == 5
    # exclusive bounds and whole numbers, as the schema says them
    checks = page.evaluate("""() => import('./editor/static/forms.js').then((m) => {
        const r = m.numberRange({exclusiveMinimum: 0, maximum: 1}, "number");
        const i = m.numberRange({minimum: 1, exclusiveMaximum: 10}, "integer");
        return [r.text, m.numberProblem("0", "number", r), m.numberProblem("0.5", "number", r),
                i.text, m.numberProblem("2.5", "integer", i), m.numberProblem("10", "integer", i),
                m.numberProblem("1e400", "number", r)];
    })""")
    assert checks == ["a number from 0 (excluded) to 1", "must be more than 0", "",
                      "a whole number from 1 to 10 (excluded)", "must be a whole number", "must be less than 10",
                      "not a number"]
    # Delete: the deleted node's form goes away with it
    node(page, "overlay").locator(".__title").click()
    page.keyboard.press("Delete")
    tid(page, "properties-empty").wait_for()
    assert tid(page, "prop-percentile_low").count() == 0


def test_new_nodes_land_in_free_space_in_view(page):
    load(page, {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}], "steps": [], "outputs": []})
    for _ in range(3):
        item = tid(page, "palette-item-depthgraph/depth_colormap@v1")
        item.focus()
        page.keyboard.press("Enter")
    settle(page)
    canvas = tid(page, "canvas").bounding_box()
    boxes = [b.bounding_box() for b in page.locator(".baklava-node").all()]
    assert len(boxes) == 4
    for i, a in enumerate(boxes):
        assert a["x"] >= canvas["x"] and a["x"] + a["width"] <= canvas["x"] + canvas["width"]
        assert a["y"] >= canvas["y"] and a["y"] + 30 <= canvas["y"] + canvas["height"]
        for b in boxes[i + 1:]:
            assert a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"] or \
                a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"], (a, b)
    # a paste lands in free space, not on the original
    node(page, "depth_colormap").locator(".__title").click()
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    settle(page)
    first = node(page, "depth_colormap").bounding_box()
    pasted = node(page, "depth_colormap_4").bounding_box()
    assert abs(first["x"] - pasted["x"]) + abs(first["y"] - pasted["y"]) > 100


def test_examples_have_titles_and_stay_shown_and_small_habits(page, picture):
    menu = tid(page, "examples-menu")
    texts = menu.locator("option").evaluate_all("os => os.map(o => [o.value, o.textContent, o.title])")
    titled = {v: (t, d) for v, t, d in texts if v}
    assert titled["depth_colormap"][0] == "Depth as a colour map" and titled["depth_colormap"][1]
    # an empty canvas is not "valid"
    tid(page, "new").click()
    page.wait_for_function("document.querySelector('[data-testid=validate-status]').dataset.state === 'empty'")
    assert "valid" not in tid(page, "validate-status").inner_text().replace("workflow", "")
    load(page, {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}], "steps": [], "outputs": []})
    menu.select_option("roboflow_mixed")
    page.wait_for_function("document.querySelector('[data-testid=loaded-title]').textContent.length > 0")
    assert menu.input_value() == "roboflow_mixed"
    # replacing work says how to get it back
    page.wait_for_function("document.querySelector('[data-testid=status]').textContent.includes('Undo')")
    settle(page)
    # text stays readable at Fit (the minimap shows what does not fit)
    tid(page, "fit").click()
    page.wait_for_function(
        "document.querySelector('.baklava-node .__title-label').getBoundingClientRect().height >= 11",
        timeout=5_000)
    # an edit marks the example as edited
    node(page, "depth").locator(".__title").click()
    page.keyboard.press("Delete")
    page.wait_for_function("document.querySelector('[data-testid=loaded-title]').textContent.includes('edited')")
    page.wait_for_function("document.querySelector('[data-testid=minimap]').dataset.nodes == "
                           "document.querySelectorAll('.baklava-node').length")
    before = page.evaluate("window.depthgraphEditor.view()")
    tid(page, "minimap").click(position={"x": 170, "y": 110})
    assert page.evaluate("window.depthgraphEditor.view()")["panning"] != before["panning"]
    # Ctrl+A selects the nodes, not the page's text
    canvas = tid(page, "canvas").bounding_box()
    page.mouse.click(canvas["x"] + 5, canvas["y"] + canvas["height"] - 140)
    page.keyboard.press("Control+a")
    view = page.evaluate("window.depthgraphEditor.view()")
    assert len(view["selected"]) == len(page.locator(".baklava-node").all())
    assert page.evaluate("String(getSelection())") == ""
    # one wheel notch zooms by more than 10 %
    page.mouse.move(canvas["x"] + 300, canvas["y"] + 300)
    page.mouse.wheel(0, -100)
    page.wait_for_function("async (s) => (await window.depthgraphEditor.view()).scaling > s * 1.1",
                           arg=view["scaling"], timeout=5_000)
    # the chosen input image survives a reload
    tid(page, "run-image-image").set_input_files(str(picture))
    page.wait_for_selector('[data-testid="run-thumbs-image"] img')
    page.reload()
    wait_ready(page)
    page.wait_for_selector('[data-testid="run-thumbs-image"] img')


def test_face_distance_labels_say_what_the_number_is():
    steps = json.loads((EXAMPLES / "face_distances.json").read_text())["steps"]
    label = next(s for s in steps if s["name"] == "labels")
    assert "depth" in label["data_format"] and "relative" in label["data_format"]


def test_odd_names_and_an_api_call_before_ready(chromium, base):
    odd = {"version": "1.0",
           "inputs": [{"type": "WorkflowImage", "name": "__proto__"}],
           "steps": [{"type": "test_cli/fake_depth@v1", "name": "toString", "image": "$inputs.__proto__"},
                     {"type": "test_cli/fake_depth@v1", "name": "constructor", "image": "$inputs.__proto__"}],
           "outputs": [{"type": "JsonField", "name": "hasOwnProperty", "selector": "$steps.toString.mean"}]}
    context = chromium.new_context(viewport={"width": W, "height": H})
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/")
        # called as soon as the object exists, before the editor is ready: it waits by itself
        page.wait_for_function("window.depthgraphEditor !== undefined", polling=5)
        page.evaluate("d => window.depthgraphEditor.load(d)", odd)
        assert page.evaluate("window.depthgraphEditor.definition()") == odd
        settle(page)
        assert node(page, "toString").count() == 1 and node(page, "__proto__", "input").count() == 1
        assert settle_validation(page) == []
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("array_format", ["list", "base64"])
def test_the_3d_view_turns_each_frame_to_y_up(page, array_format):
    """The viewer draws y up, looking along -z (three.js): an "opencv" (or "world") cloud is turned
    about x, an "opengl" one is drawn as it is. The cloud goes through the server's own encoder."""
    from depthgraph.engine.serialization import serialize_value
    from depthgraph.engine.values import PointCloud

    points = [[1.0, 2.0, 3.0], [-0.5, 0.25, 4.0]]
    drawn = {}
    for frame in ("opencv", "world", "opengl"):
        value = serialize_value(PointCloud(points=points, frame=frame, unit="m"), include_points=True,
                                array_format=array_format)
        drawn[frame] = page.evaluate(
            """async v => Array.from((await import('./editor/static/viewer3d.js')).viewerPositions(v))""", value)
    assert drawn["opengl"] == [1.0, 2.0, 3.0, -0.5, 0.25, 4.0]
    assert drawn["opencv"] == drawn["world"] == [1.0, -2.0, -3.0, -0.5, -0.25, -4.0]
