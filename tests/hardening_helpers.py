"""Helpers for the hardening tests (issue 9): clients, bodies, workflows, a loopback HTTP server."""

from __future__ import annotations

import http.server
import struct
import threading
import zlib
from contextlib import contextmanager
from typing import Any, Iterator

from fastapi.testclient import TestClient

from cli_helpers import b64, fake_depth_workflow, gradient_image, test_registry
from depthgraph.server import ServerSettings, create_app

ERROR_KEYS = {"message", "error_type", "context", "blocks_errors"}
_REGISTRY: list[Any] = []


def registry() -> Any:
    """The built-in blocks plus the test blocks of ``cli_helpers`` (built once)."""
    if not _REGISTRY:
        _REGISTRY.append(test_registry())
    return _REGISTRY[0]


def client(**settings: Any) -> TestClient:
    """A test client over ``create_app(ServerSettings(**settings))``; 500s come back as responses."""
    return TestClient(create_app(ServerSettings(**settings), registry=registry()),
                      raise_server_exceptions=False)


def image_value(width: int = 32, height: int = 24, seed: int = 0) -> dict[str, str]:
    return {"type": "base64", "value": b64(gradient_image(width, height, seed))}


def run_body(specification: dict[str, Any] | None = None, **inputs: Any) -> dict[str, Any]:
    spec = fake_depth_workflow() if specification is None else specification
    if "image" not in inputs and any(i.get("type") == "WorkflowImage" for i in spec["inputs"]):
        inputs["image"] = image_value()
    return {"specification": spec, "inputs": inputs}


def assert_error(response: Any, status: int, error_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    data = response.json()
    assert set(data) >= ERROR_KEYS, data
    if error_type is not None:
        assert data["error_type"] == error_type, data
    return data


def echo_workflow() -> dict[str, Any]:
    """A parameter returned as an output (the value is serialized back)."""
    return {"version": "1.0",
            "inputs": [{"type": "WorkflowParameter", "name": "value", "default_value": 0}],
            "steps": [],
            "outputs": [{"type": "JsonField", "name": "value", "selector": "$inputs.value"}]}


def export_workflow(output_directory: str, file_prefix: str = "cloud") -> dict[str, Any]:
    """fake_depth -> point_cloud_export (a sink) into ``output_directory``."""
    return {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {"type": "test_cli/fake_depth@v1", "name": "fake", "image": "$inputs.image"},
            {"type": "depthgraph/point_cloud_export@v1", "name": "export",
             "point_cloud": "$steps.fake.cloud", "output_directory": output_directory,
             "file_prefix": file_prefix},
        ],
        "outputs": [{"type": "JsonField", "name": "path", "selector": "$steps.export.file_path"}],
    }


def sleeps_workflow(*seconds: float) -> dict[str, Any]:
    """Steps that sleep one after another (the second waits on nothing: executor order)."""
    steps = [{"type": "test_cli/sleep@v1", "name": f"nap{i}", "seconds": s}
             for i, s in enumerate(seconds)]
    return {"version": "1.0", "inputs": [], "steps": steps,
            "outputs": [{"type": "JsonField", "name": f"done{i}", "selector": f"$steps.nap{i}.done"}
                        for i in range(len(seconds))]}


def png_header_only(width: int, height: int) -> bytes:
    """The start of a PNG that declares ``width`` x ``height`` (a decompression-bomb header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF))


@contextmanager
def loopback_http(routes: dict[str, tuple[int, dict[str, str], bytes]]) -> Iterator[int]:
    """A tiny HTTP server on 127.0.0.1 answering ``path -> (status, headers, body)``; its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            status, headers, body = routes.get(self.path.split("?")[0], (404, {}, b"no"))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
