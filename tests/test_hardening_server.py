"""Issue 9 probes against the HTTP server: each failed (500, wrong status, hang) before the fix."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

from cli_helpers import fake_depth_workflow, gradient_image
from depthgraph.engine.serialization import array_from_json
from hardening_helpers import (assert_error, client, echo_workflow, image_value, png_header_only,
                               run_body, sleeps_workflow)


# --- item 1: a non-string API key is a wrong key (401), never a 500 -------------------------------


@pytest.mark.parametrize("key", [123, 1.5, ["s3cret"], {"k": "s3cret"}, True, None, "s3cr\u00e9t"])
def test_non_string_api_key_is_401(key):
    with client(api_key="s3cret") as c:
        body = run_body()
        body["api_key"] = key
        assert_error(c.post("/workflows/run", json=body), 401, "Unauthorized")
        assert_error(c.post("/workflows/validate", json={"api_key": key}), 401, "Unauthorized")


# --- item 2: deep nesting is a 400 with a clear message ------------------------------------------


@pytest.mark.parametrize("depth", [40, 254, 600, 900])
def test_deeply_nested_parameter_is_400(depth):
    value: object = 0
    for _ in range(depth):
        value = [value]
    with client() as c:
        body = {"specification": echo_workflow(), "inputs": {"value": value}}
        data = assert_error(c.post("/workflows/run", json=body), 400, "InputTooDeep")
        assert "nested more than 32 deep" in data["message"] and data["context"] == "inputs"
        nested_spec = echo_workflow()
        nested_spec["inputs"][0]["default_value"] = value
        assert_error(c.post("/workflows/run", json={"specification": nested_spec}), 400,
                     "InputTooDeep")
        assert_error(c.post("/workflows/validate", json=nested_spec), 400, "InputTooDeep")
        ok = c.post("/workflows/run", json={"specification": echo_workflow(),
                                            "inputs": {"value": [[[1]]]}})
        assert ok.json() == {"outputs": [{"value": [[[1]]]}]}


# --- item 3: client mistakes found while a step runs are 4xx naming step and property -------------


def _colormap_of_parameter() -> dict:
    return {"version": "1.0",
            "inputs": [{"type": "WorkflowParameter", "name": "d"}],
            "steps": [{"type": "depthgraph/depth_colormap@v1", "name": "cm", "depth": "$inputs.d"}],
            "outputs": [{"type": "JsonField", "name": "img", "selector": "$steps.cm.image"}]}


def _depth_with_model_parameter() -> dict:
    return {"version": "1.0",
            "inputs": [{"type": "WorkflowImage", "name": "image"},
                       {"type": "WorkflowParameter", "name": "mv",
                        "default_value": "depth-anything-v3/small"}],
            "steps": [{"type": "depthgraph/depth_estimation@v1", "name": "depth",
                       "images": "$inputs.image", "model_version": "$inputs.mv"}],
            "outputs": [{"type": "JsonField", "name": "depth", "selector": "$steps.depth.depth"}]}


def test_unknown_model_version_through_a_parameter_is_400():
    with client() as c:
        body = run_body(_depth_with_model_parameter(), mv="depth-anything-v3/giant")
        data = assert_error(c.post("/workflows/run", json=body), 400, "StepInputError")
        (detail,) = data["blocks_errors"]
        assert (detail["step"], detail["property"]) == ("depth", "model_version")
        assert "giant" in detail["message"]
        assert data["message"].count("model_version") == 1  # no repeated prefix


@pytest.mark.parametrize("value", [[1, 2, 3], "text", [[1.0, "x"], [2.0, 3.0]], {"a": 1}, 5])
def test_wrong_value_for_a_depth_map_is_400(value):
    with client() as c:
        body = {"specification": _colormap_of_parameter(), "inputs": {"d": value}}
        data = assert_error(c.post("/workflows/run", json=body), 400, "StepInputError")
        assert data["blocks_errors"][0]["step"] == "cm"
        assert data["blocks_errors"][0]["property"] == "depth"


def test_a_block_bug_is_still_a_500():
    # fake_depth raises a plain ValueError for fail_width: a block fault, not the request's
    with client() as c:
        body = run_body(fail_width=32)
        assert_error(c.post("/workflows/run", json=body), 500, "StepExecutionError")


def test_one_pixel_image_through_the_model():
    from model_helpers import tiny_model

    for shape in [(1, 1, 3), (1, 97, 3), (130, 1, 3), (2, 2, 3)]:
        (prediction,) = tiny_model().predict([np.full(shape, 120, np.uint8)])
        assert prediction.depth.shape == shape[:2] and np.isfinite(prediction.depth).all()


# --- item 5: memory bounded per request ---------------------------------------------------------


def test_pixels_bounded_per_request_before_decoding():
    with client(max_total_pixels=1000, max_batch_size=8) as c:
        body = run_body()
        body["inputs"]["image"] = [image_value(32, 24, seed=i) for i in range(2)]  # 768 px each
        data = assert_error(c.post("/workflows/run", json=body), 413, "TooManyPixels")
        assert "1000" in data["message"] and "inputs.image[1]" in data["message"]
        body["inputs"]["image"] = body["inputs"]["image"][:1]
        assert c.post("/workflows/run", json=body).status_code == 200
    with client() as c:  # a bomb header is refused from the header alone (no 30000x30000 decode)
        bomb = {"type": "base64", "value": __import__("base64").b64encode(
            png_header_only(30000, 30000)).decode()}
        started = time.perf_counter()
        data = assert_error(c.post("/workflows/run", json=run_body(image=bomb)), 413, "ImageTooLarge")
        assert "900000000" in data["message"] and time.perf_counter() - started < 30


def test_arrays_are_nested_lists_by_default_compact_when_asked():
    """Roboflow's wire format by default (issue 20 item 1); compact per request or per server."""
    image = gradient_image(40, 30)
    want = 1.0 + image.mean(axis=2).astype(np.float32) / 255.0
    body = run_body(image={"type": "base64", "value": image_value(40, 30)["value"]})
    with client() as c:
        as_list = c.post("/workflows/run", json=body)
        (out,) = as_list.json()["outputs"]
        assert out["depth"]["type"] == "depth_map" and out["depth"]["unit"] == "relative"
        values = out["depth"]["values"]  # nested lists by default, as Roboflow answers arrays
        assert isinstance(values, list) and len(values) == 30
        np.testing.assert_allclose(np.asarray(values, dtype=np.float32), want, rtol=1e-6)
        np.testing.assert_allclose(array_from_json(out["depth"]), want, rtol=1e-6)
        compact = c.post("/workflows/run", json={**body, "array_format": "base64"})
        (packed,) = compact.json()["outputs"]
        assert packed["depth"]["values"]["type"] == "numpy_array"
        assert packed["depth"]["values"]["shape"] == [30, 40]
        np.testing.assert_array_equal(array_from_json(packed["depth"]), want)
        assert len(as_list.content) > 2 * len(compact.content)
        png = c.post("/workflows/run", json={**body, "array_format": "png16"}).json()
        assert png["outputs"][0]["depth"]["values"]["type"] == "png16"
        np.testing.assert_allclose(array_from_json(png["outputs"][0]["depth"]), want, atol=2e-5)
        assert_error(c.post("/workflows/run", json={**body, "array_format": "xml"}), 422)
    with client(array_format="base64") as c:  # `depthgraph serve --array-format base64`
        (out,) = c.post("/workflows/run", json=body).json()["outputs"]
        assert out["depth"]["values"]["type"] == "numpy_array"
        (out,) = c.post("/workflows/run", json={**body, "array_format": "list"}).json()["outputs"]
        assert isinstance(out["depth"]["values"], list)


def test_response_size_is_bounded_before_it_is_built():
    with client(max_response_bytes=20_000) as c:
        body = run_body(image=image_value(64, 48))
        data = assert_error(c.post("/workflows/run", json=body), 413, "ResponseTooLargeError")
        assert "excluded_fields" in data["message"]
        # the 413 names the compact format with which this very result fits, and it does
        named = re.search(r'"array_format": "(\w+)"[^.]* this response is (\d+) bytes and fits',
                          data["message"])
        assert named and named.group(1) in ("base64", "png16"), data["message"]
        fits = c.post("/workflows/run", json={**body, "array_format": named.group(1)})
        assert fits.status_code == 200, fits.text
        assert len(fits.content) == int(named.group(2)) <= 20_000
        ok = c.post("/workflows/run", json={**body, "excluded_fields": ["depth", "inverted"]})
        assert ok.status_code == 200, ok.text
    with client(max_response_bytes=3_000) as c:  # nothing fits: no format is suggested
        data = assert_error(c.post("/workflows/run", json=run_body(image=image_value(64, 48))),
                            413, "ResponseTooLargeError")
        assert "\"array_format\": \"" not in data["message"], data["message"]


# --- item 8: a timed-out request keeps its slot until its work really ends ------------------------


def test_timed_out_work_keeps_its_slot_and_stops_at_the_next_step():
    with client(request_timeout_s=0.5, inference_workers=1, max_queued_requests=0,
                api_key=None) as c:
        # step 0 sleeps 4 s; step 1 would sleep 60 s if the deadline did not stop it
        started = time.perf_counter()
        assert_error(c.post("/workflows/run", json={"specification": sleeps_workflow(4.0, 60.0)}),
                     504, "WorkflowTimeoutError")
        assert time.perf_counter() - started < 3.5  # answered at the limit, not after the work
        workers = c.get("/info").json()["workers"]
        assert (workers["in_flight"], workers["abandoned"]) == (1, 1)
        # the slot is honestly busy: the next request is refused at once instead of timing out
        assert_error(c.post("/workflows/run", json={"specification": sleeps_workflow(0.0)}),
                     503, "ServerBusy")
        deadline = time.monotonic() + 30
        while c.get("/info").json()["workers"]["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = c.get("/info").json()["workers"]
        assert (workers["in_flight"], workers["abandoned"], workers["timed_out"]) == (0, 0, 1)
        assert time.perf_counter() - started < 30  # step 1 (60 s) never ran
        assert c.post("/workflows/run",
                      json={"specification": sleeps_workflow(0.0)}).json()["outputs"]


def test_queued_request_past_its_time_never_runs():
    with client(request_timeout_s=0.6, inference_workers=1, max_queued_requests=4) as c:
        import threading

        answers = []
        threads = [threading.Thread(target=lambda: answers.append(c.post(
            "/workflows/run", json={"specification": sleeps_workflow(1.2)}).status_code))
            for _ in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join(timeout=30)
        assert sorted(answers) == [504, 504, 504]
        deadline = time.monotonic() + 20
        while c.get("/info").json()["workers"]["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = c.get("/info").json()["workers"]
        # only the first ran; the two queued ones were dropped when their time ran out
        assert workers["in_flight"] == 0 and workers["completed"] == 3 and workers["ran"] == 1


# --- item 11: docs need the key; messages do not repeat their prefix -----------------------------


def test_docs_need_the_key_unless_public():
    with client(api_key="s3cret") as c:
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert_error(c.get(path), 401, "Unauthorized")
        assert c.get("/openapi.json", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/docs?api_key=s3cret").status_code == 200
        assert c.get("/healthz").status_code == 200
    with client(api_key="s3cret", public_docs=True) as c:
        assert c.get("/openapi.json").status_code == 200
    with client() as c:
        assert c.get("/openapi.json").status_code == 200


def test_input_errors_name_the_property_once():
    with client() as c:
        for value, words in [({"type": "base64", "value": "@@not base64@@"}, "not valid base64"),
                             ({"type": "base64"}, "no 'value'"), (12, "expected an image"),
                             ({"type": "ftp", "value": "x"}, "not supported")]:
            data = assert_error(c.post("/workflows/run", json=run_body(image=value)), 400)
            assert words in data["message"], data
            assert data["message"].count("inputs.image") == 1, data["message"]


def test_info_reports_limits_and_workers():
    with client() as c:
        info = c.get("/info").json()
        assert info["limits"]["max_total_pixels"] == 40_000_000
        assert info["limits"]["max_response_bytes"] == 256 * 1024 * 1024
        assert info["workers"]["capacity"] == 17 and info["workers"]["in_flight"] == 0


def test_fake_workflow_round_trip_is_json():
    with client() as c:
        response = c.post("/workflows/run", json=run_body())
        assert response.headers["content-type"].startswith("application/json")
        assert json.loads(response.content)["outputs"][0]["mean"] > 0
        assert fake_depth_workflow()["steps"][0]["name"] == "fake"


def test_definitions_with_too_many_steps_are_refused_before_compiling():
    steps = [{"type": "test_cli/fake_depth@v1", "name": f"s{i}", "image": "$inputs.image"}
             for i in range(1001)]
    spec = {"version": "1.0", "inputs": [{"type": "WorkflowImage", "name": "image"}],
            "steps": steps, "outputs": []}
    with client() as c:
        assert_error(c.post("/workflows/validate", json=spec), 413, "WorkflowTooLarge")
        assert_error(c.post("/workflows/run", json=run_body(spec)), 413, "WorkflowTooLarge")
        spec["steps"] = steps[:3]
        assert c.post("/workflows/validate", json=spec).json() == {"status": "ok"}
