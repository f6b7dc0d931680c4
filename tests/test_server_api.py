"""The HTTP server through FastAPI's test client: every endpoint, every error path."""

from __future__ import annotations

import base64
import struct
import threading
import time
import zlib

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from cli_helpers import b64, encode, fake_depth_workflow, gradient_image, sleep_workflow, test_registry
from depthgraph.engine.serialization import array_from_json
from depthgraph.server import ServerSettings, create_app, definition_hash

ERROR_KEYS = {"message", "error_type", "context", "blocks_errors"}


@pytest.fixture(scope="module")
def registry():
    return test_registry()


def make_client(registry, **settings) -> TestClient:
    return TestClient(create_app(ServerSettings(**settings), registry=registry),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(registry):
    with make_client(registry) as c:
        yield c


def run_body(image=None, **extra):
    image = gradient_image() if image is None else image
    body = {"specification": fake_depth_workflow(),
            "inputs": {"image": {"type": "base64", "value": b64(image)}}}
    body.update(extra)
    return body


def assert_error(response, status, error_type=None):
    assert response.status_code == status, response.text
    data = response.json()
    assert ERROR_KEYS <= set(data), data
    if error_type is not None:
        assert data["error_type"] == error_type, data
    return data


# --- simple endpoints ------------------------------------------------------------------------------


def test_healthz_and_info(registry):
    import depthgraph

    settings = ServerSettings(max_batch_size=5, max_image_pixels=1234)
    with make_client(registry, max_batch_size=5, max_image_pixels=1234) as fresh:
        assert fresh.get("/healthz").json() == {"status": "ok"}
        info = fresh.get("/info").json()
    assert info["name"] == "depthgraph"
    assert info["version"] == depthgraph.__version__
    assert info["limits"]["max_batch_size"] == settings.max_batch_size == 5
    assert info["limits"]["max_image_pixels"] == 1234
    assert info["cached_workflows"] == 0
    # the test registry runs no DA3 model: nothing is loaded (test_depth_agreement checks a
    # server that ran one lists it)
    from depthgraph.models import loading as depth_estimation

    assert info["loaded_models"] == [
        {"model_version": v, "device": d} for v, d in depth_estimation.loaded_models()
    ]


def test_definition_schema(client, registry):
    import jsonschema

    schema = client.get("/workflows/definition/schema").json()["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(fake_depth_workflow())) == []
    # every registered block is a choice for a step, by its type
    step_types: set[str] = set()
    for ref in schema["properties"]["steps"]["items"]["anyOf"]:
        type_schema = schema["$defs"][ref["$ref"].rsplit("/", 1)[1]]["properties"]["type"]
        step_types.update(type_schema.get("enum", [type_schema.get("const")]))  # enum: aliases too
    assert step_types == set(registry.names)
    assert {"depthgraph/depth_estimation@v1", "test_cli/fake_depth@v1"} <= step_types
    # and it refuses what the compiler refuses: unknown block types, missing names, bad selectors
    unknown = fake_depth_workflow()
    unknown["steps"][0]["type"] = "test_cli/unknown@v1"
    nameless = fake_depth_workflow()
    del nameless["steps"][0]["name"]
    bad_selector = fake_depth_workflow()
    bad_selector["steps"][0]["image"] = "inputs.image"
    extra_key = {**fake_depth_workflow(), "surprise": 1}
    for definition in (unknown, nameless, bad_selector, extra_key):
        assert list(validator.iter_errors(definition)), definition


def test_blocks_describe(client):
    data = client.post("/workflows/blocks/describe").json()
    identifiers = {b["identifier"] for b in data["blocks"]}
    assert {"depthgraph/depth_estimation@v1", "test_cli/fake_depth@v1"} <= identifiers
    # Roboflow clients send a body; it is accepted
    assert client.post("/workflows/blocks/describe", json={"api_key": None}).status_code == 200


def test_validate_ok_in_both_shapes(client):
    definition = fake_depth_workflow()
    assert client.post("/workflows/validate", json=definition).json() == {"status": "ok"}
    wrapped = client.post("/workflows/validate", json={"specification": definition})
    assert wrapped.json() == {"status": "ok"}


def test_validate_reports_every_error_with_step_and_property(client):
    definition = fake_depth_workflow()
    definition["steps"][0]["image"] = "$inputs.nope"
    definition["steps"].append({"type": "test_cli/no_such_block@v1", "name": "ghost"})
    data = assert_error(client.post("/workflows/validate", json=definition), 400)
    steps = {e["step"] for e in data["blocks_errors"]}
    assert {"fake", "ghost"} <= steps
    assert any(e["property"] == "image" for e in data["blocks_errors"] if e["step"] == "fake")
    assert "2 errors" in data["message"]


def test_unknown_route_is_json_404(client):
    assert_error(client.get("/nope"), 404, "NotFound")


# --- running -------------------------------------------------------------------------------------


def test_run_serializes_every_kind(client):
    image = gradient_image(20, 10)
    response = client.post("/workflows/run", json=run_body(image))
    assert response.status_code == 200, response.text
    (out,) = response.json()["outputs"]
    values = out["depth"]["values"] if isinstance(out["depth"], dict) else out["depth"]
    assert isinstance(values, list)  # arrays as nested lists by default: Roboflow's shape (issue 20)
    depth = array_from_json(out["depth"])
    np.testing.assert_allclose(depth, 1 + image.mean(axis=2) / 255, atol=1e-5)
    assert out["inverted"]["type"] == "base64"
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(out["inverted"]["value"]), np.uint8),
                           cv2.IMREAD_COLOR)
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - (255 - image.astype(int))).mean() < 3  # JPEG
    assert out["cloud"]["num_points"] == 3 and "points" not in out["cloud"]
    assert out["mean"] == pytest.approx(float(image.mean(axis=2).mean()), rel=1e-5)


def test_run_inline_points_bare_base64_and_batches(client):
    images = [gradient_image(16, 8, seed=s) for s in range(3)]
    body = run_body(include_points=True, excluded_fields=["depth"])
    body["inputs"]["image"] = [b64(images[0]), {"type": "base64", "value": b64(images[1], ".jpg")},
                               b64(images[2])]
    outputs = client.post("/workflows/run", json=body).json()["outputs"]
    assert len(outputs) == 3
    assert all("depth" not in o for o in outputs)
    assert outputs[0]["cloud"]["points"] == [[0, 0, 1], [1, 0, 2], [0, 1, 3]]
    assert outputs[0]["mean"] != outputs[2]["mean"]


def test_run_parameter_and_step_failure(client):
    body = run_body(gradient_image(30, 10))
    body["inputs"]["fail_width"] = 30
    data = assert_error(client.post("/workflows/run", json=body), 500, "StepExecutionError")
    assert "fake" in data["message"] and "30 pixels wide" in data["message"]


@pytest.mark.parametrize(
    "inputs, status, fragment",
    [
        ({"image": "not base64 !!"}, 400, "base64"),
        ({"image": {"type": "base64", "value": base64.b64encode(b"garbage" * 10).decode()}}, 400,
         "inputs.image"),
        ({"image": {"type": "file", "value": "/etc/passwd"}}, 400, "not supported"),
        ({"image": {"value": None}}, 400, "inputs.image"),
        ({}, 400, "missing image input"),
        ({"image": b64(gradient_image()), "bogus": 1}, 400, "bogus"),
    ],
)
def test_bad_inputs_are_4xx(client, inputs, status, fragment):
    body = {"specification": fake_depth_workflow(), "inputs": inputs}
    data = assert_error(client.post("/workflows/run", json=body), status)
    assert fragment in data["message"]


def test_bad_definition_is_400(client):
    body = run_body()
    body["specification"]["steps"][0]["type"] = "test_cli/unknown@v1"
    data = assert_error(client.post("/workflows/run", json=body), 400, "UnknownBlockTypeError")
    assert data["blocks_errors"][0]["step"] == "fake"


def test_request_validation_errors_are_json_422(client):
    data = assert_error(client.post("/workflows/run", json={"inputs": {}}), 422,
                        "RequestValidationError")
    assert "specification" in data["message"]
    assert_error(client.post("/workflows/run", json={"specification": {}, "inputs": []}), 422)
    bad_json = client.post("/workflows/run", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert_error(bad_json, 422)


def test_url_images_refused_by_default(client):
    body = run_body()
    body["inputs"]["image"] = {"type": "url", "value": "http://127.0.0.1:9/x.png"}
    assert_error(client.post("/workflows/run", json=body), 403, "URLImagesDisabled")
    body["inputs"]["image"] = "https://example.com/x.jpg"
    assert_error(client.post("/workflows/run", json=body), 403, "URLImagesDisabled")


def test_sink_blocks_refused_by_default(client, tmp_path):
    definition = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {"type": "test_cli/fake_depth@v1", "name": "fake", "image": "$inputs.image"},
            {"type": "depthgraph/point_cloud_export@v1", "name": "export",
             "point_cloud": "$steps.fake.cloud", "output_directory": str(tmp_path)},
        ],
        "outputs": [{"type": "JsonField", "name": "path", "selector": "$steps.export.file_path"}],
    }
    body = {"specification": definition, "inputs": {"image": b64(gradient_image())}}
    data = assert_error(client.post("/workflows/run", json=body), 403, "SinkBlocksDisabled")
    assert "export" in data["message"]
    assert list(tmp_path.iterdir()) == []


# --- limits --------------------------------------------------------------------------------------


def test_body_size_limit_by_header_and_by_stream(registry):
    with make_client(registry, max_body_bytes=2000) as c:
        big = run_body(gradient_image(64, 64))
        assert_error(c.post("/workflows/run", json=big), 413, "PayloadTooLarge")

        def chunks():  # no Content-Length: the bytes received are counted
            for _ in range(10):
                yield b" " * 500

        streamed = c.post("/workflows/run", content=chunks(),
                          headers={"content-type": "application/json"})
        assert_error(streamed, 413)
        assert c.post("/workflows/validate", json=fake_depth_workflow()).status_code == 200


def _png_header_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00" * 64)


def test_pixel_limit_checked_from_the_header(registry):
    with make_client(registry, max_image_pixels=1000) as c:
        bomb = base64.b64encode(_png_header_claiming(100_000, 100_000)).decode()
        data = assert_error(c.post("/workflows/run", json=run_body() | {
            "inputs": {"image": bomb}}), 413, "ImageTooLarge")
        assert "100000x100000" in data["message"]
        jpeg = gradient_image(40, 30)  # 1200 pixels, as a real JPEG
        body = run_body()
        body["inputs"]["image"] = base64.b64encode(encode(jpeg, ".jpg")).decode()
        assert_error(c.post("/workflows/run", json=body), 413, "ImageTooLarge")
        assert c.post("/workflows/run", json=run_body(gradient_image(20, 20))).status_code == 200


def test_batch_size_limit(registry):
    with make_client(registry, max_batch_size=2) as c:
        body = run_body()
        body["inputs"]["image"] = [b64(gradient_image(8, 8))] * 3
        assert_error(c.post("/workflows/run", json=body), 413, "BatchTooLarge")
        body["inputs"]["image"] = body["inputs"]["image"][:2]
        assert c.post("/workflows/run", json=body).status_code == 200


def test_time_limit_and_healthz_during_inference(registry):
    with make_client(registry, request_timeout_s=0.5) as c:
        slow = {"specification": sleep_workflow(), "inputs": {"seconds": 3.0}}
        assert_error(c.post("/workflows/run", json=slow), 504, "WorkflowTimeoutError")

    with make_client(registry, request_timeout_s=30) as c:
        answers = {}

        def long_request():
            answers["run"] = c.post("/workflows/run", json={
                "specification": sleep_workflow(), "inputs": {"seconds": 2.0}})

        worker = threading.Thread(target=long_request)
        worker.start()
        time.sleep(0.3)
        health = c.get("/healthz")
        still_running = worker.is_alive()
        worker.join(timeout=30)
        assert health.status_code == 200
        assert still_running, "healthz waited for the inference to finish"
        assert answers["run"].json() == {"outputs": [{"done": True}]}


# --- auth ----------------------------------------------------------------------------------------


def test_api_key(registry):
    with make_client(registry, api_key="s3cret") as c:
        assert c.get("/healthz").status_code == 200
        assert_error(c.post("/workflows/run", json=run_body()), 401, "Unauthorized")
        assert_error(c.post("/workflows/run", json=run_body(api_key="wrong")), 401)
        assert_error(c.get("/info"), 401)
        assert_error(c.post("/workflows/run", json={"inputs": 3}), 401)  # 401 before 422
        assert c.post("/workflows/run", json=run_body(api_key="s3cret")).status_code == 200
        assert c.get("/info", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.post("/workflows/blocks/describe",
                      headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/workflows/definition/schema?api_key=s3cret").status_code == 200


# --- cache ---------------------------------------------------------------------------------------


def test_compiled_workflows_cached_by_hash(registry):
    a = fake_depth_workflow()
    b = {k: a[k] for k in reversed(list(a))}  # same definition, other key order
    assert definition_hash(a) == definition_hash(b)
    app = create_app(ServerSettings(workflow_cache_size=1), registry=registry)
    with TestClient(app) as c:
        for spec in (a, b):
            body = {"specification": spec, "inputs": {"image": b64(gradient_image())}}
            assert c.post("/workflows/run", json=body).status_code == 200
        assert (app.state.cache.misses, app.state.cache.hits) == (1, 1)
        body = {"specification": sleep_workflow(), "inputs": {}}
        assert c.post("/workflows/run", json=body).status_code == 200
        assert len(app.state.cache) == 1  # bounded


# --- settings ------------------------------------------------------------------------------------


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("DEPTHGRAPH_API_KEY", "abc")
    monkeypatch.setenv("DEPTHGRAPH_SERVER_MAX_BATCH_SIZE", "3")
    monkeypatch.setenv("DEPTHGRAPH_SERVER_ALLOW_URL_IMAGES", "yes")
    settings = ServerSettings.from_env(port=1234)
    assert (settings.api_key, settings.max_batch_size, settings.allow_url_images, settings.port) == (
        "abc", 3, True, 1234)
    assert settings.host == "127.0.0.1"
    monkeypatch.setenv("DEPTHGRAPH_SERVER_REQUEST_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="DEPTHGRAPH_SERVER_REQUEST_TIMEOUT_S='soon'"):
        ServerSettings.from_env()


def test_busy_server_refuses_with_503_and_still_validates(registry):
    with make_client(registry, inference_workers=1, max_queued_requests=0) as c:
        answers = {}

        def long_request():
            answers["run"] = c.post("/workflows/run", json={
                "specification": sleep_workflow(), "inputs": {"seconds": 1.5}})

        worker = threading.Thread(target=long_request)
        worker.start()
        time.sleep(0.3)
        busy = c.post("/workflows/run", json=run_body())
        validated = c.post("/workflows/validate", json=fake_depth_workflow())
        alive = worker.is_alive()
        worker.join(timeout=30)
        assert_error(busy, 503, "ServerBusy")
        assert validated.json() == {"status": "ok"} and alive
        assert answers["run"].status_code == 200
        assert c.post("/workflows/run", json=run_body()).status_code == 200
