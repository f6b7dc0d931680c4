"""Run every shell command of README.md and docs/*.md as written, with stand-in weights.

    python tools/check_doc_commands.py               # all of them (tens of minutes on 2 cores)
    python tools/check_doc_commands.py --list        # what would run, what is skipped and why
    python tools/check_doc_commands.py docs/video.md --timeout 900

Commands come from the ```bash blocks, one per line (a trailing backslash continues a line;
``a && b`` runs both parts). They run with ``bash -c`` in a scratch folder that links the
repository's ``examples/``, ``benchmarks/``, ``tools/`` and ``docs/``, so their outputs land
there, not in the checkout; in the order of each file, files one after another in their own
scratch folder (a later command may rely on an earlier one's results, as a reader's would).

Stand-ins: ``DEPTHGRAPH_WEIGHTS_DIR`` holds the deterministic recipe weights (small, base and the
LARGE pair),
``HF_HUB_OFFLINE=1``, and folders a skipped download would have made (``DA3-SMALL/``,
``weights/DA3-SMALL/``) hold recipe checkpoints. ``depthgraph serve`` is started, checked on
``/healthz`` and stopped; ``curl`` lines run against a server started for them on 127.0.0.1.

Skipped, with the reason printed: installs (``pip``), the test suite and mutation testing,
downloads and other places on the internet, cameras, clusters and object stores, placeholders
(``WORKFLOW.json``, ``shots/``, ``my_package``), servers on every interface, environment
settings (``export``), benchmarks (minutes each; they print their own numbers), and commands for
the Roboflow venv. Exit status 1 when a command that ran failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINKED = ("examples", "benchmarks", "tools", "docs")

#: (pattern, reason): the first that matches a command skips it
SKIPS: tuple[tuple[str, str], ...] = (
    (r"^\s*(\S*/)?pip3? install\b", "installs packages (CI installs them: .ci/run)"),
    (r"\bpytest\b", "the test suite itself (CI runs it)"),
    (r"\bmutmut\b|mutation_core\.sh", "mutation testing (minutes to tens of minutes; not in CI)"),
    (r"\bhf download\b|huggingface", "downloads from the Hugging Face hub (needs the internet)"),
    (r"\bweights download\b", "downloads from the Hugging Face hub (needs the internet)"),
    (r"~/Downloads", "a placeholder path (a download the reader made)"),
    (r"--video 0\b|rtsp://|rtmp://", "needs a camera or a stream"),
    (r"s3://|gs://|hdfs://|--ray-address", "needs a Ray cluster or object storage"),
    (r"\bWORKFLOW\.json\b|\bworkflow\.json\b|\bshots/|my_package|\.\.\.", "a placeholder"),
    (r"--host 0\.0\.0\.0", "serves on every interface (not started by this check)"),
    (r"^\s*export\b|^\s*[A-Z_]+=\"\$\(", "sets the environment of the reader's shell"),
    (r"\bbenchmarks/bench_", "a benchmark (minutes each on 2 cores; run by hand, it prints its numbers)"),
    (r"\buvicorn depthgraph\.roboflow_server\b|--roboflow\b",
     "runs in the Roboflow venv (tests/roboflow/test_roboflow_server.py starts it)"),
    (r"^\s*docker\b|\bkubectl\b", "needs docker or Kubernetes"),
)


@dataclass
class Command:
    source: str
    text: str
    skip: str | None = None


def extract(path: Path) -> list[Command]:
    """The commands of ``path``'s shell blocks, with the reason each is skipped (None: runs)."""
    commands = []
    text = path.read_text(encoding="utf-8")
    for block in re.finditer(r"```(?:bash|sh|shell)\n(.*?)```", text, re.S):
        body = block.group(1).replace("\\\n", " ")
        for raw in body.splitlines():
            line = _strip_comment(raw).strip()
            if not line:
                continue
            for part in (p.strip() for p in line.split("&&")):
                reason = next((why for pattern, why in SKIPS if re.search(pattern, part)), None)
                commands.append(Command(path.relative_to(REPO).as_posix(), part, reason))
    return commands


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` inside quotes stays)."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


class Scratch:
    """A scratch folder with the repository's example folders linked and stand-in weights."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        for name in LINKED:
            (root / name).symlink_to(REPO / name)
        from depthgraph.models.depth_anything_v3.recipe import write_recipe_checkpoint

        for folder in ("DA3-SMALL", "weights/DA3-SMALL"):  # what a skipped download makes
            write_recipe_checkpoint("small", root / folder)
        self.server: subprocess.Popen | None = None

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGINT)
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(timeout=10)
        self.server = None

    def run(self, command: Command, timeout: float) -> tuple[bool, str]:
        if re.search(r"\bdepthgraph serve\b", command.text):
            return self._serve(command, timeout)
        if re.search(r"\bcurl\b.*127\.0\.0\.1:9001", command.text) and self.server is None:
            ok, note = self._serve(Command(command.source, "depthgraph serve"), timeout,
                                   keep=True)
            if not ok:
                return False, f"could not start the server for it: {note}"
        try:
            done = subprocess.run(["bash", "-c", command.text], cwd=self.root, env=self.env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, f"still running after {timeout:.0f} s"
        # the last line it printed (its summary; progress bars go to stderr)
        output = (done.stdout.strip() or done.stderr.strip()).splitlines()
        if done.returncode != 0 and done.stderr.strip():
            output = done.stderr.strip().splitlines()
        tail = output[-1] if output else ""
        return done.returncode == 0, f"exit {done.returncode}: {tail[:200]}"

    def _serve(self, command: Command, timeout: float, keep: bool = False) -> tuple[bool, str]:
        self.stop_server()
        if not _free(9001):
            return False, "port 9001 is taken on this machine (another server runs there)"
        log = tempfile.TemporaryFile("w+")
        self.server = subprocess.Popen(["bash", "-c", f"exec {command.text}"], cwd=self.root,
                                       env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                       text=True)
        healthy = _wait_healthy("http://127.0.0.1:9001/healthz", self.server, min(timeout, 120))
        log.seek(0)
        printed = log.read()
        if not keep:
            self.stop_server()
        editor = "the editor is at http://127.0.0.1:9001/editor" in printed
        if healthy and editor:
            return True, "answered /healthz and printed the editor's address; stopped"
        return False, f"healthy={healthy}, editor address printed={editor}: {printed[-300:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="default: README.md and docs/*.md")
    parser.add_argument("--list", action="store_true", help="only say what would run or be skipped")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per command")
    args = parser.parse_args()
    files = [f.resolve() for f in args.files] or [REPO / "README.md",
                                                   *sorted((REPO / "docs").glob("*.md"))]
    sys.path.insert(0, str(REPO))
    ran = failed = skipped = 0
    work = Path(tempfile.mkdtemp(prefix="depthgraph-doc-commands-"))
    weights = work / "weights-root"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO),
                                                                   os.environ.get("PYTHONPATH")))),
           "DEPTHGRAPH_WEIGHTS_DIR": str(weights), "HF_HUB_OFFLINE": "1",
           "PATH": os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"]))}
    if not args.list:
        from depthgraph.models.depth_anything_v3.recipe import (weights_folder_name,
                                                                 write_recipe_checkpoint)

        # small and base, and the LARGE ones (the metric commands; about 1.3 GB each)
        for variant in ("small", "base", "metric-large", "mono-large"):
            write_recipe_checkpoint(variant, weights / weights_folder_name(variant))
    try:
        for path in files:
            commands = extract(path)
            if not commands:
                continue
            scratch = None if args.list else Scratch(Path(tempfile.mkdtemp(dir=work)), env)
            try:
                for command in commands:
                    if command.skip:
                        skipped += 1
                        print(f"SKIP {command.source}: {command.text}\n     ({command.skip})")
                        continue
                    if scratch is None:
                        print(f"RUN  {command.source}: {command.text}")
                        continue
                    started = time.perf_counter()
                    ok, note = scratch.run(command, args.timeout)
                    ran += 1
                    failed += not ok
                    print(f"{'ok  ' if ok else 'FAIL'} {command.source}: {command.text}\n"
                          f"     ({time.perf_counter() - started:.0f} s; {note})", flush=True)
            finally:
                if scratch is not None:
                    scratch.stop_server()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not args.list:
        print(f"{ran} ran, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
