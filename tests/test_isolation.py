"""The autouse fixture in conftest.py keeps the developer's home and settings out of every test."""

from __future__ import annotations

import os
from pathlib import Path

from depthgraph.models.depth_anything_v3.weights import weights_dir


def test_home_caches_and_settings_are_the_sessions_own(isolated_environment: Path, tmp_path_factory):
    home = Path(os.environ["HOME"])
    assert home == isolated_environment
    assert home.is_relative_to(tmp_path_factory.getbasetemp())
    assert Path("~").expanduser() == home
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "HF_HOME"):
        assert Path(os.environ[name]).is_relative_to(home), name
    assert not [n for n in os.environ if n.startswith("DEPTHGRAPH_")]
    assert not [n for n in os.environ if n.startswith(("HF_", "HUGGINGFACE_")) and n != "HF_HOME"]
    assert weights_dir().is_relative_to(home)


def test_tests_may_still_set_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(tmp_path))
    assert weights_dir() == tmp_path
