"""The server spends nothing on a stranger (issue 19, items 6, 7, 11, 12, 14, 15, 16, 18, 20).

In-process through the real app (``create_app``), and raw ASGI where what matters is whether
the body was read at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import subprocess
import sys
import tracemalloc
import types
from typing import Any

import httpx
import pytest

from cli_helpers import depthgraph_command, free_port, plugin_env, wait_for_server
from hardening_helpers import assert_error, client, registry, run_body
from depthgraph.server import ServerSettings, create_app


def _asgi(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]],
          body: bytes) -> tuple[int, dict[str, str], bytes, int]:
    """One request straight through ASGI: (status, headers, body, how often the app read)."""
    reads = 0
    sent = False
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict:
        nonlocal reads, sent
        reads += 1
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": [(b"host", b"127.0.0.1"), *headers],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    return out["status"], out["headers"], out["body"], reads


def _app(**settings: Any) -> Any:
    return create_app(ServerSettings(**settings), registry=registry())


# --- item 6: key before body, bounded parse ----------------------------------------------------


def test_a_wrong_header_key_is_refused_before_the_body_is_read() -> None:
    app = _app(api_key="s3cret")
    body = json.dumps(run_body()).encode()
    status, _, answer, reads = _asgi(app, "POST", "/workflows/run",
                                     [(b"x-api-key", b"wrong"),
                                      (b"content-type", b"application/json"),
                                      (b"content-length", str(len(body)).encode())], body)
    assert status == 401 and b"Unauthorized" in answer
    assert reads == 0


def test_a_strangers_body_is_searched_for_its_key_not_parsed() -> None:
    """A 10 MB body of tiny objects with a wrong key: no parse, so no big allocation."""
    bomb = b'{"api_key":"wrong","x":[' + b"{}," * 3_500_000 + b"{}]}"
    app = _app(api_key="s3cret", max_body_bytes=len(bomb) + 10)
    tracemalloc.start()
    try:
        status, _, _, _ = _asgi(app, "POST", "/workflows/run",
                                [(b"content-type", b"application/json"),
                                 (b"content-length", str(len(bomb)).encode())], bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 401
    # parsed, 3.5 million dicts would take ~230 MB; the raw body is 10.5 MB
    assert peak < 3 * len(bomb), f"peak {peak / 1e6:.0f} MB for a {len(bomb) / 1e6:.1f} MB body"


def test_the_key_in_the_body_still_works_and_is_found_without_parsing() -> None:
    with client(api_key="s3cret") as c:
        for key, status in (("s3cret", 200), ("s3cre", 401), ("s3cret\\", 401), (5, 401)):
            body = {**run_body(), "api_key": key}
            assert c.post("/workflows/run", json=body).status_code == status, key


def test_an_authenticated_body_of_too_many_elements_is_refused_before_parsing() -> None:
    with client(max_json_elements=1000) as c:
        body = run_body()
        body["inputs"]["junk"] = [{}] * 2000
        assert_error(c.post("/workflows/run", json=body), 413, "TooManyElements")
        assert_error(c.post("/workflows/validate", json={"x": [[]] * 2000}), 413,
                     "TooManyElements")


# --- item 7: budgets ---------------------------------------------------------------------------


def test_inputs_outputs_and_excluded_fields_are_budgeted() -> None:
    with client(max_inputs=10, max_outputs=5, max_excluded_fields=20) as c:
        body = run_body(**{f"p{i}": i for i in range(11)})
        assert_error(c.post("/workflows/run", json=body), 413, "TooManyInputs")
        body = run_body()
        body["excluded_fields"] = [f"f{i}" for i in range(21)]
        assert_error(c.post("/workflows/run", json=body), 413, "TooManyExcludedFields")
        body = run_body()
        body["specification"]["outputs"] = body["specification"]["outputs"] * 3
        assert_error(c.post("/workflows/run", json=body), 413, "TooManyOutputs")
        assert_error(c.post("/workflows/validate", json=body["specification"]), 413,
                     "TooManyOutputs")


# --- item 11: Host, framing -------------------------------------------------------------------


def test_requests_for_another_host_are_refused() -> None:
    with client(allowed_hosts=("127.0.0.1", "localhost", "::1")) as c:
        assert_error(c.get("/healthz", headers={"host": "rebind.attacker.example"}), 421,
                     "MisdirectedRequest")
        assert_error(c.get("/", headers={"host": "rebind.attacker.example:9001"}), 421)
        assert c.get("/healthz", headers={"host": "localhost:9001"}).status_code == 200
        assert c.get("/healthz", headers={"host": "[::1]:9001"}).status_code == 200


def test_serve_answers_only_loopback_names_by_default() -> None:
    port = free_port()
    process = subprocess.Popen([*depthgraph_command(), "serve", "--port", str(port),
                                "--log-level", "warning"], env=plugin_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_server(f"http://127.0.0.1:{port}/healthz", process)
        evil = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"host": "evil.example"})
        assert evil.status_code == 421
        assert httpx.get(f"http://localhost:{port}/healthz").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_pages_cannot_be_framed() -> None:
    with client() as c:
        for path in ("/", "/editor", "/healthz"):
            headers = c.get(path).headers
            assert headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in headers["content-security-policy"]


# --- item 12: no path of the server in answers -------------------------------------------------


def test_editor_routes_show_no_path_of_the_server() -> None:
    import depthgraph

    install = str(__import__("pathlib").Path(depthgraph.__file__).resolve().parent.parent)
    with client() as c:
        long = c.get("/editor/static/" + "a" * 300)
        assert long.status_code == 404 and install not in long.text
        examples = c.get("/editor/examples")
        assert examples.status_code == 200 and install not in examples.text
        assert "folder" not in examples.json()


# --- item 14: the right key and a schema mistake ------------------------------------------------


def test_right_key_in_body_with_a_schema_mistake_is_422() -> None:
    with client(api_key="s3cret") as c:
        response = c.post("/workflows/run", json={"api_key": "s3cret", "specification": "x"})
        assert_error(response, 422, "RequestValidationError")
        assert_error(c.post("/workflows/run", json={"api_key": "no", "specification": "x"}), 401)


# --- items 15, 16: logs -----------------------------------------------------------------------


def test_the_access_log_never_shows_a_key() -> None:
    from depthgraph.server.app import log_config

    config = log_config("info")
    logging.config.dictConfig(config)  # type: ignore[attr-defined]
    handler = logging.getLogger("uvicorn.access").handlers[0]
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/info?x=1&api_key=s3cret", "1.1", 200), None)
    for f in handler.filters:
        f.filter(record)
    assert "s3cret" not in record.getMessage() and "api_key=[redacted]" in record.getMessage()


def test_depthgraph_messages_reach_the_servers_log_at_its_level() -> None:
    from depthgraph.server.app import log_config

    logging.config.dictConfig(log_config("debug"))  # type: ignore[attr-defined]
    logger = logging.getLogger("depthgraph.server")
    assert logger.isEnabledFor(logging.DEBUG)
    assert logging.getLogger("depthgraph").handlers  # URL refusal reasons are written somewhere


# --- item 18: /info while torch is being imported -----------------------------------------------


def test_info_answers_while_torch_is_half_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPTHGRAPH_DEVICE", raising=False)
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))  # no .cuda yet
    with client() as c:
        response = c.get("/info")
        assert response.status_code == 200, response.text
        assert response.json()["device"] == "auto (torch loading)"


# --- item 20: HEAD ----------------------------------------------------------------------------


def test_head_is_answered_like_get_without_a_body() -> None:
    with client() as c:
        for path in ("/healthz", "/", "/editor/static/editor.js"):
            response = c.head(path)
            assert response.status_code == 200, (path, response.status_code)
            assert response.content == b""




def test_a_cors_preflight_passes_the_gate_but_reaches_no_endpoint() -> None:
    with client(api_key="s3cret", cors_origins=("https://editor.example",)) as c:
        preflight = c.options("/workflows/run", headers={
            "origin": "https://editor.example", "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key,content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://editor.example"
    with client(api_key="s3cret") as c:
        assert c.options("/workflows/run").status_code in (401, 405)


def test_a_real_server_logs_refusal_reasons_and_never_a_key(tmp_path: Any) -> None:
    """Items 15 and 16 end to end: the access log and depthgraph's own messages."""
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [*depthgraph_command(), "serve", "--port", str(port), "--log-level", "info",
             "--allow-url-images"], env=plugin_env(DEPTHGRAPH_API_KEY="s3cret-key"),
            stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_server(f"{base}/healthz", process)
            assert httpx.get(f"{base}/info?api_key=s3cret-key").status_code == 200
            body = {**run_body(image={"type": "url", "value": "http://127.0.0.1:1/x.png"}),
                    "api_key": "s3cret-key"}
            refused = httpx.post(f"{base}/workflows/run", json=body, timeout=60)
            assert refused.status_code == 400, refused.text[:300]
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = log.read_text()
    assert "URL image refused" in text, text[-2000:]
    assert "s3cret-key" not in text and "api_key=[redacted]" in text, text[-2000:]


def test_parsing_counts_against_the_time_limit() -> None:
    """Item 6: parse time was not counted (a request answered 200 well past its limit): a cheap
    workflow in a body that takes long to parse (an unused 4-million-number field)."""
    from hardening_helpers import echo_workflow

    body = json.dumps({"specification": echo_workflow(), "inputs": {"value": 1},
                       "padding": list(range(4_000_000))}).encode()
    with client(request_timeout_s=0.25, max_body_bytes=len(body) + 10) as c:
        warm = c.post("/workflows/run", json={"specification": echo_workflow(),
                                              "inputs": {"value": 1}})
        assert warm.status_code == 200
        response = c.post("/workflows/run", content=body,
                          headers={"content-type": "application/json"})
        assert_error(response, 504, "WorkflowTimeoutError")


def test_a_failing_block_answers_500_without_the_servers_paths() -> None:
    """Item 12, the rest of it: a block's failure that quotes a file of the server."""
    from depthgraph.server.handlers import without_paths

    body = without_paths({"message": "step 's' failed: OSError: '/srv/depthgraph/x.bin'",
                          "blocks_errors": [{"message": "at /home/op/.cache/w.safetensors"}]})
    assert "/srv" not in str(body) and "/home" not in str(body) and "<path>" in body["message"]
    with client() as c:  # fake_depth fails when the image is fail_width wide: a 500, no path
        spec = run_body(fail_width=32)
        response = c.post("/workflows/run", json=spec)
        assert response.status_code == 500
        assert "/work" not in response.text and "site-packages" not in response.text
