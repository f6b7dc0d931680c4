"""The editor's routes without a browser: page and static files (gzip, cache headers, ETags,
no path escapes), the examples menu, the vendored files' hashes, opt-in CORS."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import shutil
import subprocess

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli_helpers import REPO_ROOT
from depthgraph.server import ServerSettings, create_app
from depthgraph.server.editor import EXAMPLES_ENV, STATIC_DIR

EXAMPLES = REPO_ROOT / "examples" / "workflows"


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(ServerSettings()))


def _vendor_tool():
    spec = importlib.util.spec_from_file_location("vendor_editor", REPO_ROOT / "tools" / "vendor_editor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", ["/", "/editor"])
def test_page_is_served_gzipped_with_revalidation(client, path):
    raw = (STATIC_DIR / "index.html").read_bytes()
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and plain.content == raw
    assert plain.headers["content-type"].startswith("text/html")
    assert plain.headers["cache-control"] == "no-cache" and plain.headers["etag"]
    assert "content-encoding" not in plain.headers
    packed = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == raw  # httpx decodes; the wire carried fewer bytes
    assert int(packed.headers["content-length"]) == len(gzip.compress(raw, 9, mtime=0))
    again = client.get(path, headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_vendored_files_are_cached_for_a_year_and_ours_revalidated(client):
    vendored = client.get("/editor/static/vendor/baklavajs-2.8.1/bundle.js")
    assert vendored.status_code == 200
    assert vendored.headers["content-type"].startswith("text/javascript")
    assert "immutable" in vendored.headers["cache-control"] and "max-age=31536000" in vendored.headers["cache-control"]
    ours = client.get("/editor/static/editor.js")
    assert ours.status_code == 200 and ours.headers["cache-control"] == "no-cache"
    assert client.get("/editor/static/vendor/manifest.json").headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("path", [
    "/editor/static/../editor.py", "/editor/static/..%2Feditor.py", "/editor/static/vendor/../../app.py",
    "/editor/static/nothing.js", "/editor/static/", "/editor/static/.hidden", "/editor/static/vendor",
])
def test_static_paths_outside_or_missing_are_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error_type"] == "NotFound"


def test_every_file_the_page_loads_exists(client):
    html = (STATIC_DIR / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="(editor/static/[^"]+)"', html)
    imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', html, re.S).group(1))["imports"]
    refs += [v.lstrip("./") for v in imports.values() if not v.endswith("/")]
    refs += [imports["three/addons/"].lstrip("./") + p
             for p in ("controls/OrbitControls.js", "loaders/PLYLoader.js")]
    for js in STATIC_DIR.glob("*.js"):
        refs += [f"editor/static/{m}" for m in re.findall(r'from "\./([^"]+)"', js.read_text())]
        refs += [f"editor/static/{m}" for m in re.findall(r'import\("\./([^"]+)"\)', js.read_text())]
    assert len(refs) >= 10
    for ref in set(refs):
        assert client.get("/" + ref).status_code == 200, ref


def test_examples_menu_lists_and_serves_every_example(client):
    listed = client.get("/editor/examples").json()["examples"]
    assert [e["file"] for e in listed] == sorted(p.name for p in EXAMPLES.glob("*.json"))
    for entry in listed:
        served = client.get(f"/editor/examples/{entry['name']}")
        assert served.status_code == 200
        assert served.json() == json.loads((EXAMPLES / entry["file"]).read_text())
    assert client.get("/editor/examples/depth_colormap.json").status_code == 200
    for bad in ("nope", ".hidden", "..%2F..%2Fpyproject"):
        response = client.get(f"/editor/examples/{bad}")
        assert response.status_code == 404, bad
        assert "pyproject" not in response.text or "example" in response.json()["message"]
    assert "no example workflow 'nope'" in client.get("/editor/examples/nope").json()["message"]
    # every example has a title and a one-line description (examples/workflows/titles.toml)
    for entry in listed:
        assert entry["title"] and entry["title"] != entry["name"], entry
        assert 10 < len(entry["description"]) <= 300, entry


def test_a_broken_titles_file_leaves_file_names(tmp_path, monkeypatch):
    """A titles file that is not valid TOML: examples still list, under their file names."""
    (tmp_path / "mine.json").write_text('{"version": "1.0", "inputs": [], "steps": [], "outputs": []}')
    (tmp_path / "titles.toml").write_text('[mine\ntitle = "never closed')
    monkeypatch.setenv(EXAMPLES_ENV, str(tmp_path))
    client = TestClient(create_app(ServerSettings()))
    listed = client.get("/editor/examples").json()["examples"]
    assert [(e["name"], e["title"]) for e in listed] == [("mine", "mine")]


def test_examples_folder_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "mine.json").write_text('{"version": "1.0", "inputs": [], "steps": [], "outputs": []}')
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "titles.toml").write_text('[mine]\ntitle = "My own"\n')
    monkeypatch.setenv(EXAMPLES_ENV, str(tmp_path))
    client = TestClient(create_app(ServerSettings()))
    listed = client.get("/editor/examples").json()["examples"]
    assert [e["name"] for e in listed] == ["broken", "mine"]
    assert [(e["title"], e["description"]) for e in listed] == [("broken", ""), ("My own", "")]
    assert client.get("/editor/examples/mine").json()["version"] == "1.0"
    broken = client.get("/editor/examples/broken")
    assert broken.status_code == 422 and "broken.json" in broken.json()["message"]
    monkeypatch.setenv(EXAMPLES_ENV, str(tmp_path / "missing"))
    assert TestClient(create_app(ServerSettings())).get("/editor/examples").json()["examples"] == []


def test_the_page_needs_no_key_but_the_api_does():
    client = TestClient(create_app(ServerSettings(api_key="s3cret")))
    assert client.get("/").status_code == 200
    assert client.get("/editor/static/editor.js").status_code == 200
    assert client.post("/workflows/blocks/describe", json={}).status_code == 401
    assert client.post("/workflows/blocks/describe", json={},
                       headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_cors_is_off_by_default_and_opt_in(client, monkeypatch):
    origin = "https://app.roboflow.com"
    plain = client.post("/workflows/validate", json={}, headers={"Origin": origin})
    assert "access-control-allow-origin" not in plain.headers
    assert client.options("/workflows/validate", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"}).status_code in (404, 405)

    monkeypatch.setenv("DEPTHGRAPH_SERVER_CORS_ORIGINS", f"{origin}, http://localhost:3000")
    settings = ServerSettings.from_env()
    assert settings.cors_origins == (origin, "http://localhost:3000")
    allowed = TestClient(create_app(settings))
    preflight = allowed.options("/workflows/validate", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    simple = allowed.post("/workflows/validate", json={}, headers={"Origin": origin})
    assert simple.headers["access-control-allow-origin"] == origin
    other = allowed.post("/workflows/validate", json={}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_serve_takes_repeatable_cors_origins(monkeypatch):
    import depthgraph.server as server
    from depthgraph.cli import app

    seen = {}
    monkeypatch.setattr(server, "run_server", lambda settings, log_level="info": seen.update(s=settings))
    result = CliRunner().invoke(app, ["serve", "--cors-origin", "https://a.example",
                                      "--cors-origin", "https://b.example"])
    assert result.exit_code == 0, result.output
    assert seen["s"].cors_origins == ("https://a.example", "https://b.example")
    CliRunner().invoke(app, ["serve"])
    assert seen["s"].cors_origins == ()


def test_vendored_files_match_their_pinned_hashes(tmp_path):
    tool = _vendor_tool()
    manifest = tool.load_manifest()
    assert {(p["name"], p["version"]) for p in manifest["packages"]} == {
        ("baklavajs", "2.8.1"), ("@baklavajs/themes", "2.8.1"), ("three", "0.185.1")}
    assert tool.check(manifest) == []
    for package in manifest["packages"]:  # each package ships its licence
        assert any(f["source"] == "LICENSE" for f in package["files"])
    # a changed byte is caught
    copy = tmp_path / "vendor"
    shutil.copytree(STATIC_DIR / "vendor", copy)
    target = copy / "three-0.185.1" / "LICENSE"
    target.write_bytes(target.read_bytes() + b" ")
    problems = tool.check(manifest, copy)
    assert len(problems) == 1 and "three-0.185.1/LICENSE" in problems[0]
    (copy / "baklavajs-2.8.1" / "bundle.js").unlink()
    assert any("bundle.js: missing" in p for p in tool.check(manifest, copy))


def test_vendored_files_are_not_ignored_by_git():
    """They must reach commits and wheels (a 'build/' ignore rule once swallowed three.js)."""
    if not (REPO_ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    manifest = _vendor_tool().load_manifest()
    paths = [str((STATIC_DIR / "vendor" / f["target"]).relative_to(REPO_ROOT))
             for p in manifest["packages"] for f in p["files"]]
    paths += [str(p.relative_to(REPO_ROOT)) for p in STATIC_DIR.iterdir() if p.is_file()]
    ignored = subprocess.run(["git", "check-ignore", *paths], cwd=REPO_ROOT,
                             capture_output=True, text=True).stdout.split()
    assert ignored == []
