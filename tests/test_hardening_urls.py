"""Issue 9 item 7: URL images never reach internal addresses, and every failure looks the same.

Name resolution is stubbed (a dict), so no name is looked up; the only connections made go to a
small HTTP server on 127.0.0.1 that a test allows explicitly.
"""

from __future__ import annotations

import ipaddress

import pytest

from cli_helpers import encode, gradient_image
from depthgraph.engine.errors import RuntimeInputError
from depthgraph.server import ServerSettings
from depthgraph.server import urls
from hardening_helpers import assert_error, client, loopback_http, run_body

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.mark.parametrize("address, allowed", [
    ("127.0.0.1", False), ("127.8.9.1", False), ("::1", False), ("0.0.0.0", False),
    ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False),  # cloud metadata
    ("fd00:ec2::254", False), ("fe80::1", False), ("100.64.0.1", False), ("224.0.0.1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False), ("192.0.0.8", False),
    ("not an ip", False),
    ("8.8.8.8", True), ("1.1.1.1", True), ("2606:4700:4700::1111", True),
])
def test_address_allowed(address, allowed):
    assert urls.address_allowed(address) is allowed


def test_allow_list_opens_a_private_network_only():
    nets = urls.parse_networks(["10.1.0.0/16"])
    assert urls.address_allowed("10.1.2.3", nets)
    assert not urls.address_allowed("10.2.0.1", nets)
    with pytest.raises(ValueError, match="not a network"):
        urls.parse_networks(["ten"])


def _resolver(table):
    asked = []

    def resolve(host, port):
        asked.append(host)
        if host not in table:
            raise OSError("unknown host")
        return table[host]

    resolve.asked = asked
    return resolve


@pytest.mark.parametrize("url, why", [
    ("http://internal.test/x", "non-public"),
    ("http://mixed.test/x", "non-public"),     # one bad address among good ones is enough
    ("ftp://public.test/x", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("http://user:pw@public.test/x", "credentials"),
    ("http:///x", "no host"),
    ("http://nowhere.test/x", "cannot resolve"),
])
def test_check_url_refuses(url, why):
    resolve = _resolver({"internal.test": ["10.0.0.5"], "public.test": ["93.184.216.34"],
                         "mixed.test": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(urls.URLRefused, match=why):
        urls.check_url(url, resolve=resolve)


def test_pinned_request_keeps_host_and_tls_name():
    pinned, headers, ext = urls._pinned_request("https://img.test:8443/a.png?x=1", "93.184.216.34")
    assert pinned == "https://93.184.216.34:8443/a.png?x=1"
    assert headers == {"Host": "img.test:8443"} and ext == {"sni_hostname": "img.test"}
    pinned, headers, ext = urls._pinned_request("http://img.test/a", "2001:db8::1")
    assert pinned == "http://[2001:db8::1]/a" and headers == {"Host": "img.test"} and ext == {}


def _png() -> bytes:
    return encode(gradient_image(16, 12))


def test_fetch_follows_allowed_redirects_and_rechecks_each_hop():
    with loopback_http({"/img.png": (200, {"Content-Type": "image/png"}, _png()),
                        "/evil": (302, {"Location": "http://internal.test/secret"}, b""),
                        "/loop": (302, {"Location": "/loop"}, b"")}) as port:
        table = {"images.test": ["127.0.0.1"], "internal.test": ["10.0.0.5"]}
        resolve = _resolver(table)
        fetch = dict(max_bytes=1 << 20, timeout_s=10, allowed=LOOPBACK, resolve=resolve)
        data = urls.fetch_image_bytes(f"http://images.test:{port}/img.png", **fetch)
        assert data == _png()
        with pytest.raises(urls.URLRefused, match="non-public"):  # 10.0.0.5 never contacted
            urls.fetch_image_bytes(f"http://images.test:{port}/evil", **fetch)
        assert resolve.asked[-1] == "internal.test"
        with pytest.raises(urls.URLRefused, match="redirects"):
            urls.fetch_image_bytes(f"http://images.test:{port}/loop", **fetch)
        with pytest.raises(urls.URLRefused, match="declared size|more than 100 bytes"):
            urls.fetch_image_bytes(f"http://images.test:{port}/img.png",
                                   **{**fetch, "max_bytes": 100})
        with pytest.raises(urls.URLRefused, match="non-public"):  # not allowed: loopback
            urls.fetch_image_bytes(f"http://images.test:{port}/img.png",
                                   **{**fetch, "allowed": ()})


def test_every_failure_gives_the_same_answer():
    """Refused address, 404, closed port, not an image: one message, one status."""
    with loopback_http({"/img.png": (200, {}, _png()), "/text": (200, {}, b"hello")}) as port:
        settings = ServerSettings(allow_url_images=True, url_allowed_networks=("127.0.0.1/32",),
                                  url_fetch_timeout_s=5)
        resolve = _resolver({"images.test": ["127.0.0.1"], "internal.test": ["192.168.0.10"]})
        messages = set()
        for url in (f"http://internal.test:{port}/img.png", f"http://images.test:{port}/missing",
                    "http://images.test:1/img.png", f"http://nowhere.test:{port}/img.png"):
            with pytest.raises(RuntimeInputError) as caught:
                urls.fetch_or_refuse(url, "inputs.image", settings, resolve=resolve)
            messages.add(str(caught.value))
        assert len(messages) == 1, messages
        (message,) = messages
        assert str(port) not in message and "refused" not in message.lower()
        assert urls.fetch_or_refuse(f"http://images.test:{port}/img.png", "inputs.image",
                                    settings, resolve=resolve) == _png()


def test_server_url_images_refuse_loopback_by_default():
    # the request names a loopback address (the probe fetched the server's own /info)
    with loopback_http({"/info": (200, {}, b"{}"), "/img.png": (200, {}, _png())}) as port:
        with client(allow_url_images=True) as c:
            body = run_body(image={"type": "url", "value": f"http://127.0.0.1:{port}/info"})
            data = assert_error(c.post("/workflows/run", json=body), 400, "RuntimeInputError")
            assert "could not be fetched" in data["message"]
            body = run_body(image={"type": "url", "value": "http://[::1]:9/x"})
            assert assert_error(c.post("/workflows/run", json=body), 400)["message"] == \
                data["message"]
        with client(allow_url_images=True, url_allowed_networks=("127.0.0.1/32",)) as c:
            body = run_body(image={"type": "url", "value": f"http://127.0.0.1:{port}/img.png"})
            response = c.post("/workflows/run", json=body)
            assert response.status_code == 200, response.text
            assert response.json()["outputs"][0]["inverted"]["width"] == 16
