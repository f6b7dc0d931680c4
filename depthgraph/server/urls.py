"""Fetching an image given as a URL (``--allow-url-images``), without reaching internal services.

Every hop (the first URL and each redirect) is checked the same way before any connection:

- the scheme is ``http`` or ``https`` and the URL names a host;
- the host is resolved once, and every address it resolves to must be public: loopback, private,
  link-local (which holds the cloud metadata address 169.254.169.254), shared, multicast,
  reserved and unspecified addresses are refused unless a network of
  ``url_allowed_networks`` holds them;
- the connection goes to the address that was checked (the ``Host`` header and TLS name stay
  the URL's), so a second, different DNS answer cannot redirect the fetch.

The fetch stops at ``url_max_redirects`` redirects, ``max_body_bytes`` bytes and
``url_fetch_timeout_s`` seconds in all. Whatever goes wrong, the client gets one and the same
message (the reason is only logged), so the answers cannot be used to map hosts and ports.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from typing import Any, Callable, Iterable
from urllib.parse import urljoin, urlsplit

from depthgraph.engine.errors import RuntimeInputError

logger = logging.getLogger("depthgraph.server")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolve(host, port) -> addresses``; tests pass their own so no name is ever looked up.
Resolver = Callable[[str, int], list[str]]

#: Ranges ``ipaddress`` counts as global that still must not be fetched from.
_EXTRA_BLOCKED = tuple(ipaddress.ip_network(n) for n in (
    "100.64.0.0/10",      # carrier-grade NAT (shared address space)
    "192.0.0.0/24",       # IETF protocol assignments
    "64:ff9b:1::/48",     # local-use NAT64
))


class URLRefused(Exception):
    """Why one fetch was refused or failed (logged; never shown to the client)."""


def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the operating system's resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def parse_networks(networks: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """CIDR strings -> networks (a ValueError names a bad one)."""
    parsed = []
    for text in networks:
        try:
            parsed.append(ipaddress.ip_network(str(text).strip(), strict=False))
        except ValueError:
            raise ValueError(f"url_allowed_networks: {text!r} is not a network (e.g. 10.0.0.0/8)") from None
    return tuple(parsed)


def address_allowed(address: str, allowed: Iterable[Any] = ()) -> bool:
    """Whether a URL image may be fetched from ``address``: public, or inside ``allowed``."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(ip in network for network in allowed if network.version == ip.version):
        return True
    if not ip.is_global or ip.is_multicast:
        return False
    return not any(ip in network for network in _EXTRA_BLOCKED if network.version == ip.version)


def check_url(url: str, allowed: Iterable[Any] = (), resolve: Resolver = system_resolve) -> tuple[str, str]:
    """``(url, address)``: the URL checked and the address to connect to, or :class:`URLRefused`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise URLRefused(f"scheme {parts.scheme!r} is not http or https")
    if not parts.hostname:
        raise URLRefused("no host in the URL")
    if parts.username or parts.password:
        raise URLRefused("credentials in the URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise URLRefused("invalid port") from None
    try:
        addresses = resolve(parts.hostname, port)
    except (OSError, UnicodeError) as exc:
        raise URLRefused(f"cannot resolve {parts.hostname}: {exc}") from None
    if not addresses:
        raise URLRefused(f"{parts.hostname} resolves to no address")
    refused = [a for a in addresses if not address_allowed(a, allowed)]
    if refused:
        raise URLRefused(f"{parts.hostname} resolves to a non-public address ({refused[0]})")
    return url, addresses[0]


def _pinned_request(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL rewritten to connect to ``address``, with the Host header and TLS name kept."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return pinned, {"Host": host_header}, extensions


def fetch_image_bytes(url: str, *, max_bytes: int, timeout_s: float, max_redirects: int = 3,
                      allowed: Iterable[Any] = (), resolve: Resolver = system_resolve) -> bytes:
    """The bytes at ``url`` under the checks above; :class:`URLRefused` on any failure."""
    import httpx

    allowed = tuple(allowed)
    deadline = time.monotonic() + timeout_s
    current = url
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        for _ in range(max_redirects + 1):
            checked, address = check_url(current, allowed, resolve)
            pinned, headers, extensions = _pinned_request(checked, address)
            left = deadline - time.monotonic()
            if left <= 0:
                raise URLRefused("time limit reached")
            try:
                request = client.build_request("GET", pinned, headers=headers, extensions=extensions,
                                               timeout=httpx.Timeout(left))
                response = client.send(request, stream=True)
                try:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        current = urljoin(checked, location)
                        continue
                    if response.status_code != 200:
                        raise URLRefused(f"HTTP status {response.status_code}")
                    declared = response.headers.get("content-length")
                    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                        raise URLRefused(f"declared size {declared} bytes")
                    chunks, size = [], 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise URLRefused(f"more than {max_bytes} bytes")
                        if time.monotonic() > deadline:
                            raise URLRefused("time limit reached")
                        chunks.append(chunk)
                    return b"".join(chunks)
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                raise URLRefused(f"{type(exc).__name__}: {exc}") from None
    raise URLRefused(f"more than {max_redirects} redirects")


def fetch_or_refuse(url: str, where: str, settings: Any, resolve: Resolver = system_resolve) -> bytes:
    """:func:`fetch_image_bytes` under the server's settings; one uniform 400 on any failure."""
    try:
        return fetch_image_bytes(
            url, max_bytes=settings.max_body_bytes, timeout_s=settings.url_fetch_timeout_s,
            max_redirects=settings.url_max_redirects,
            allowed=parse_networks(settings.url_allowed_networks), resolve=resolve)
    except URLRefused as exc:
        logger.info("URL image refused (%s): %s", where, exc)
        raise RuntimeInputError("the image URL could not be fetched (URLs must be public http(s) "
                                "addresses that answer with an image in time)",
                                property=where) from None
