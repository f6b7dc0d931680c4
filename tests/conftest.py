"""Test isolation: no test sees the user's home, caches or depthgraph / Hugging Face settings.

One autouse fixture, :func:`isolated_environment`, runs before every other fixture of the
session (so before module fixtures that load recipe weights) and, for the whole run:

- points ``HOME`` and ``XDG_CACHE_HOME`` / ``XDG_CONFIG_HOME`` / ``XDG_DATA_HOME`` /
  ``XDG_STATE_HOME`` at a fresh temporary folder (a ``~/.cache/depthgraph/weights`` on the
  developer's machine can no longer change a result), and removes every other ``XDG_*``;
- removes every ``HF_*`` and ``HUGGINGFACE_*`` variable and points ``HF_HOME`` into that folder
  (no token, no hub cache, no endpoint of the developer's);
- removes every ``DEPTHGRAPH_*`` variable (weights folder, device, plugins, server limits).

Tests that need one of these set it themselves with ``monkeypatch.setenv`` (restored after the
test), which keeps working: this fixture only sets the starting point. Tools located through
``HOME`` that are not user data (Playwright's browser downloads) keep their real location.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CLEARED_PREFIXES = ("DEPTHGRAPH_", "HF_", "HUGGINGFACE_", "XDG_")


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        browsers = Path(os.path.expanduser("~/.cache/ms-playwright"))
        if "PLAYWRIGHT_BROWSERS_PATH" not in os.environ and browsers.is_dir():
            patch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(browsers))
        for name in list(os.environ):
            if name.startswith(CLEARED_PREFIXES):
                patch.delenv(name)
        patch.setenv("HOME", str(home))
        for name, sub in (("XDG_CACHE_HOME", ".cache"), ("XDG_CONFIG_HOME", ".config"),
                          ("XDG_DATA_HOME", ".local/share"), ("XDG_STATE_HOME", ".local/state")):
            (home / sub).mkdir(parents=True, exist_ok=True)
            patch.setenv(name, str(home / sub))
        patch.setenv("HF_HOME", str(home / ".cache" / "huggingface"))
        yield home
