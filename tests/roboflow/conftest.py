"""Tests of the Roboflow plugin against Roboflow's real engine (``roboflow-workflows``).

They run inside the Roboflow venv (``bash .ci/roboflow-env`` builds ``.venv-roboflow``);
``tests/test_roboflow_plugin.py`` runs them from the main suite. Where Roboflow's engine is not
installed (the main venv), each module skips itself (``pytest.importorskip``) with the reason.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def roboflow_plugin_enabled():
    """Every test sees ``WORKFLOWS_PLUGINS=depthgraph.roboflow``, as a user would set it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKFLOWS_PLUGINS", "depthgraph.roboflow")
        yield
