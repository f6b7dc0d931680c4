"""Server settings: one frozen dataclass, read from ``DEPTHGRAPH_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Callable

API_KEY_ENV = "DEPTHGRAPH_API_KEY"
#: the server's array formats (the same names as the request field ``array_format``)
ARRAY_FORMATS = ("list", "base64", "png16")


def _env_number(name: str, default: Any, cast: Callable[[str], Any]) -> Any:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return cast(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r}: expected a "
                         f"{cast.__name__}") from None


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int)


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ServerSettings:
    """Server configuration. :meth:`from_env` reads ``DEPTHGRAPH_*`` environment variables."""

    host: str = "127.0.0.1"
    port: int = 9001
    #: requests without this key get 401 (None: no key needed)
    api_key: str | None = None
    #: largest request body, bytes (checked on Content-Length and on the bytes actually received)
    max_body_bytes: int = 32 * 1024 * 1024
    #: largest image, width x height, checked from the header before decoding
    max_image_pixels: int = 40_000_000
    #: most images in one request (over all image inputs)
    max_batch_size: int = 16
    #: seconds one request may spend compiling and running its workflow
    request_timeout_s: float = 120.0
    #: threads running workflows (more threads share the CPU/GPU; 1 serialises inference)
    inference_workers: int = 1
    #: requests waiting for a worker beyond this number are refused with 503
    max_queued_requests: int = 16
    #: compiled workflows kept, keyed by the definition's hash
    workflow_cache_size: int = 32
    #: allow images given as {"type": "url"} (fetched by the server)
    allow_url_images: bool = False
    #: timeout of one URL image fetch, seconds
    url_fetch_timeout_s: float = 10.0
    #: allow blocks of type "sink" (they write files on the server)
    allow_sinks: bool = False
    #: browser origins allowed to call this server (CORS), e.g. a hosted editor; () = none
    cors_origins: tuple[str, ...] = ()
    #: the one folder sinks may write under (relative paths only); default ./depthgraph_outputs
    output_root: str = "depthgraph_outputs"
    #: most pixels in one request, summed over every image (bounds memory per request)
    max_total_pixels: int = 40_000_000
    #: largest JSON response, bytes; bigger results are refused with 413 before being built
    max_response_bytes: int = 256 * 1024 * 1024
    #: deepest nesting of lists/objects in a runtime input value
    max_input_depth: int = 32
    #: most steps in one workflow definition (checked before compiling)
    max_workflow_steps: int = 1000
    #: networks URL images may come from although they are not public (CIDRs, e.g. "10.1.2.0/24")
    url_allowed_networks: tuple[str, ...] = ()
    #: redirects followed by one URL image fetch (each target checked again)
    url_max_redirects: int = 3
    #: serve /docs, /redoc and /openapi.json without the API key (they never need it without one)
    public_docs: bool = False
    #: how large arrays are answered when a request names no ``array_format``: "list" (nested
    #: JSON lists, Roboflow's wire format), "base64" or "png16" (compact, opt-in)
    array_format: str = "list"
    #: Host header values (names, without the port) the server answers; None: any. ``depthgraph
    #: serve`` defaults to the loopback names when bound to a loopback address (DNS rebinding)
    allowed_hosts: tuple[str, ...] | None = None
    #: most lists and objects in one JSON body, counted on the bytes before they are parsed
    max_json_elements: int = 200_000
    #: most runtime inputs, workflow outputs and excluded fields in one request
    max_inputs: int = 1000
    max_outputs: int = 1000
    max_excluded_fields: int = 1000

    def __post_init__(self) -> None:
        if self.array_format not in ARRAY_FORMATS:
            raise ValueError(f"array format {self.array_format!r}: expected one of "
                             f"{', '.join(ARRAY_FORMATS)}")

    @classmethod
    def from_env(cls, **overrides: Any) -> "ServerSettings":
        """Settings from ``DEPTHGRAPH_API_KEY`` and ``DEPTHGRAPH_SERVER_*`` variables, then overrides."""
        base = cls(
            api_key=os.environ.get(API_KEY_ENV) or None,
            max_body_bytes=_env_int("DEPTHGRAPH_SERVER_MAX_BODY_BYTES", cls.max_body_bytes),
            max_image_pixels=_env_int("DEPTHGRAPH_SERVER_MAX_IMAGE_PIXELS", cls.max_image_pixels),
            max_batch_size=_env_int("DEPTHGRAPH_SERVER_MAX_BATCH_SIZE", cls.max_batch_size),
            request_timeout_s=_env_float("DEPTHGRAPH_SERVER_REQUEST_TIMEOUT_S", cls.request_timeout_s),
            inference_workers=_env_int("DEPTHGRAPH_SERVER_WORKERS", cls.inference_workers),
            max_queued_requests=_env_int("DEPTHGRAPH_SERVER_MAX_QUEUED", cls.max_queued_requests),
            workflow_cache_size=_env_int("DEPTHGRAPH_SERVER_CACHE_SIZE", cls.workflow_cache_size),
            allow_url_images=_env_bool("DEPTHGRAPH_SERVER_ALLOW_URL_IMAGES", cls.allow_url_images),
            allow_sinks=_env_bool("DEPTHGRAPH_SERVER_ALLOW_SINKS", cls.allow_sinks),
            cors_origins=tuple(
                o.strip() for o in os.environ.get("DEPTHGRAPH_SERVER_CORS_ORIGINS", "")
                .split(",") if o.strip()),
            output_root=os.environ.get("DEPTHGRAPH_SERVER_OUTPUT_ROOT") or cls.output_root,
            max_total_pixels=_env_int("DEPTHGRAPH_SERVER_MAX_TOTAL_PIXELS", cls.max_total_pixels),
            max_response_bytes=_env_int("DEPTHGRAPH_SERVER_MAX_RESPONSE_BYTES",
                                        cls.max_response_bytes),
            max_input_depth=_env_int("DEPTHGRAPH_SERVER_MAX_INPUT_DEPTH", cls.max_input_depth),
            max_workflow_steps=_env_int("DEPTHGRAPH_SERVER_MAX_WORKFLOW_STEPS",
                                        cls.max_workflow_steps),
            url_allowed_networks=tuple(
                n.strip() for n in os.environ.get("DEPTHGRAPH_SERVER_URL_ALLOWED_NETWORKS", "")
                .split(",") if n.strip()),
            public_docs=_env_bool("DEPTHGRAPH_SERVER_PUBLIC_DOCS", cls.public_docs),
            array_format=os.environ.get("DEPTHGRAPH_SERVER_ARRAY_FORMAT") or cls.array_format,
            allowed_hosts=tuple(
                h.strip() for h in os.environ.get("DEPTHGRAPH_SERVER_ALLOWED_HOSTS", "")
                .split(",") if h.strip()) or None,
            max_json_elements=_env_int("DEPTHGRAPH_SERVER_MAX_JSON_ELEMENTS", cls.max_json_elements),
            max_inputs=_env_int("DEPTHGRAPH_SERVER_MAX_INPUTS", cls.max_inputs),
            max_outputs=_env_int("DEPTHGRAPH_SERVER_MAX_OUTPUTS", cls.max_outputs),
            max_excluded_fields=_env_int("DEPTHGRAPH_SERVER_MAX_EXCLUDED_FIELDS",
                                         cls.max_excluded_fields),
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def default_allowed_hosts(host: str) -> tuple[str, ...] | None:
    """The Host names a server bound to ``host`` answers by default: the loopback names when it
    listens on loopback only (a web page's DNS rebinding then cannot reach it), else any."""
    if host in LOOPBACK_HOSTS or host.startswith("127."):
        return (*LOOPBACK_HOSTS, host) if host not in LOOPBACK_HOSTS else LOOPBACK_HOSTS
    return None
