"""Fetch or verify the editor's vendored JavaScript (BaklavaJS, its theme, three.js).

The files under ``depthgraph/server/static/vendor/`` are copied UNMODIFIED out of the npm
registry's tarballs at the versions pinned in ``manifest.json`` there. This script:

- ``python tools/vendor_editor.py --check`` (default): checks every vendored file against the
  SHA-256 in the manifest (offline; exit status 1 on any difference or missing file);
- ``python tools/vendor_editor.py --fetch``: downloads each pinned tarball from the registry,
  checks the tarball against the registry's recorded ``sha512`` integrity (kept in the manifest),
  extracts the listed files (and the licence) and checks their SHA-256 before writing anything;
- ``--update-hashes`` (with ``--fetch``): writes the hashes found into the manifest instead of
  checking them (only when deliberately moving to new versions).

The registry is ``$npm_config_registry`` or https://registry.npmjs.org/.
No Node.js is needed, at install time or here.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parents[1] / "depthgraph" / "server" / "static" / "vendor"
MANIFEST = VENDOR_DIR / "manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_manifest(path: Path = MANIFEST) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def check(manifest: dict, vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """Problems with the vendored files on disk (empty when every file matches its hash)."""
    problems = []
    for package in manifest["packages"]:
        for entry in package["files"]:
            target = vendor_dir / entry["target"]
            if not target.is_file():
                problems.append(f"{entry['target']}: missing ({package['name']}@{package['version']})")
                continue
            found = sha256(target.read_bytes())
            if found != entry["sha256"]:
                problems.append(f"{entry['target']}: sha256 {found}, expected {entry['sha256']} "
                                f"({package['name']}@{package['version']} {entry['source']})")
    return problems


def tarball_url(name: str, version: str, registry: str) -> str:
    base = name.split("/")[-1]
    return f"{registry.rstrip('/')}/{name}/-/{base}-{version}.tgz"


def fetch(manifest: dict, update_hashes: bool = False, vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """Download, verify and write every vendored file; the problems found (nothing is written
    for a package with a problem)."""
    registry = os.environ.get("npm_config_registry") or "https://registry.npmjs.org/"
    problems = []
    for package in manifest["packages"]:
        label = f"{package['name']}@{package['version']}"
        url = tarball_url(package["name"], package["version"], registry)
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - registry URL
            data = response.read()
        algo, _, expected = package["integrity"].partition("-")
        found = base64.b64encode(hashlib.new(algo, data).digest()).decode("ascii")
        if found != expected:
            problems.append(f"{label}: tarball {algo} {found}, registry said {expected}")
            continue
        contents = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for entry in package["files"]:
                member = archive.extractfile(f"package/{entry['source']}")
                if member is None:
                    problems.append(f"{label}: no file {entry['source']} in the tarball")
                    continue
                contents[entry["target"]] = member.read()
        for entry in package["files"]:
            content = contents.get(entry["target"])
            if content is None:
                continue
            if update_hashes:
                entry["sha256"] = sha256(content)
            elif sha256(content) != entry["sha256"]:
                problems.append(f"{label} {entry['source']}: sha256 {sha256(content)}, "
                                f"manifest says {entry['sha256']}")
        if any(p.startswith(label) for p in problems):
            continue
        for entry in package["files"]:
            target = vendor_dir / entry["target"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(contents[entry["target"]])
        print(f"{label}: {len(package['files'])} files written from {url}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetch", action="store_true", help="download and (re)write the files")
    parser.add_argument("--check", action="store_true", help="verify the files on disk (default)")
    parser.add_argument("--update-hashes", action="store_true",
                        help="with --fetch: record the hashes found in the manifest")
    args = parser.parse_args(argv)
    manifest = load_manifest()
    if args.fetch:
        problems = fetch(manifest, update_hashes=args.update_hashes)
        if args.update_hashes and not problems:
            MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 1
    problems = check(manifest)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    count = sum(len(p["files"]) for p in manifest["packages"])
    print(f"{count} vendored files match {MANIFEST.relative_to(VENDOR_DIR.parents[3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
