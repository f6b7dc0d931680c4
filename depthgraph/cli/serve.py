"""``depthgraph serve``: the HTTP server."""

from __future__ import annotations

from enum import Enum
from typing import List, Optional

import typer
from typing_extensions import Annotated

from depthgraph.cli.common import Backend, Device, Verbose, reported, use_backend, use_device, app, err_console


class ArrayFormat(str, Enum):
    """The server's default ``array_format`` (see ``depthgraph.server.settings.ARRAY_FORMATS``)."""

    list = "list"
    base64 = "base64"
    png16 = "png16"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 exposes the server to the network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 9001,
    api_key: Annotated[Optional[str], typer.Option(envvar="DEPTHGRAPH_API_KEY", help="Refuse requests without this key (401). Prefer the environment variable.", show_default=False)] = None,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, MiB.")] = 32.0,
    max_image_pixels: Annotated[int, typer.Option(help="Largest image, width x height.")] = 40_000_000,
    max_batch_size: Annotated[int, typer.Option(help="Most images per request.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds one request may run.")] = 120.0,
    workers: Annotated[int, typer.Option(help="Inference threads.")] = 1,
    allow_url_images: Annotated[bool, typer.Option("--allow-url-images", help="Let requests give images as URLs the server fetches.")] = False,
    allow_sinks: Annotated[bool, typer.Option("--allow-sinks", help="Let requests run blocks that write files on the server.")] = False,
    output_root: Annotated[Optional[str], typer.Option(help="The one folder sink blocks may write under (relative paths inside it only). Default: ./depthgraph_outputs.", show_default=False)] = None,
    max_total_pixels: Annotated[int, typer.Option(help="Most pixels in one request, over all its images.")] = 40_000_000,
    url_allowed_network: Annotated[Optional[List[str]], typer.Option("--url-allowed-network", help="A non-public network (CIDR) URL images may come from; repeatable.", show_default=False)] = None,
    public_docs: Annotated[bool, typer.Option("--public-docs", help="Serve /docs and /openapi.json without the API key.")] = False,
    array_format: Annotated[Optional[ArrayFormat], typer.Option("--array-format", help="How depth maps and other large arrays are answered when a request names no array_format: list (nested JSON lists, Roboflow's wire format), base64 or png16 (compact, ~4x smaller). Default: list, or DEPTHGRAPH_SERVER_ARRAY_FORMAT.", case_sensitive=False, show_default=False)] = None,
    allowed_host: Annotated[Optional[List[str]], typer.Option("--allowed-host", help="A Host name clients use to reach the server (repeatable). Default: the loopback names when bound to loopback, any otherwise; requests naming another host get 421.", show_default=False)] = None,
    cors_origin: Annotated[Optional[List[str]], typer.Option("--cors-origin", help="Allow this browser origin (e.g. a hosted editor) to call the server; repeatable. Off by default.", show_default=False)] = None,
    device: Device = None,
    backend: Backend = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    verbose: Verbose = False,
) -> None:
    """Serve the Roboflow-compatible Workflows HTTP API (uvicorn)."""
    with reported(verbose):
        from dataclasses import replace

        from depthgraph.server import ServerSettings, default_allowed_hosts, run_server

        use_device(device)
        use_backend(backend)
        settings = ServerSettings.from_env(
            host=host, port=port, api_key=api_key or None,
            max_body_bytes=int(max_body_mb * 1024 * 1024), max_image_pixels=max_image_pixels,
            max_batch_size=max_batch_size, request_timeout_s=timeout, inference_workers=workers,
            allow_url_images=allow_url_images or None, allow_sinks=allow_sinks or None,
            output_root=output_root, max_total_pixels=max_total_pixels,
            url_allowed_networks=tuple(url_allowed_network) if url_allowed_network else None,
            public_docs=public_docs or None,
            cors_origins=tuple(cors_origin) if cors_origin else None,
            array_format=array_format.value if array_format else None,
            allowed_hosts=tuple(allowed_host) if allowed_host else None,
        )
        if settings.allowed_hosts is None:  # DNS rebinding: a loopback server answers loopback names
            settings = replace(settings, allowed_hosts=default_allowed_hosts(host))
        if host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
            err_console.print(f"[yellow]warning:[/yellow] serving on {host} without an API key; "
                              "set DEPTHGRAPH_API_KEY", highlight=False)
        shown_host = f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("0.0.0.0", "::") else host)
        err_console.print(f"depthgraph: the editor is at http://{shown_host}:{port}/editor "
                          f"(API docs at /docs); arrays answered as {settings.array_format!r}",
                          highlight=False)
        run_server(settings, log_level=log_level)
