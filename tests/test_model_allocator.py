"""glibc malloc tuning: freed tensor memory is reused without page faults, and can be opted out."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc-only tuning"
)

# Allocate and free a 64 MiB tensor a few times (above glibc's largest adaptive mmap threshold,
# 32 MiB, so by default every allocation is a fresh mapping); print the page faults of the last.
PROBE = textwrap.dedent(
    """
    import resource, sys, torch
    from depthgraph.models.depth_anything_v3.allocator import retain_freed_memory
    applied = retain_freed_memory() if sys.argv[1] == "tune" else False
    faults = []
    for _ in range(4):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t = torch.ones(16 << 20)
        del t
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(applied, faults[-1])
    """
)


def _probe(mode: str, **env: str) -> tuple[bool, int]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    full_env.update(env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=full_env,
        timeout=120, check=True,
    ).stdout.split()  # fmt: skip
    return out[0] == "True", int(out[1])


def test_tuned_process_reuses_freed_memory_without_faults():
    applied, faults = _probe("tune")
    assert applied
    assert faults < 500  # 64 MiB of fresh pages would be about 16,000 faults


def test_untuned_process_faults_on_every_large_allocation():
    # the control: shows that the probe measures what the tuning removes
    applied, faults = _probe("plain")
    assert not applied
    assert faults > 8000


@pytest.mark.parametrize(
    "env",
    [{"DEPTHGRAPH_MALLOC_TUNING": "0"}, {"DEPTHGRAPH_MALLOC_TUNING": "off"}, {"MALLOC_TRIM_THRESHOLD_": "0"}],
)
def test_opt_out_and_user_settings_are_respected(env):
    applied, faults = _probe("tune", **env)
    assert not applied
    assert faults > 8000


def test_loading_a_cpu_model_applies_the_tuning(tmp_path):
    code = textwrap.dedent(
        """
        from depthgraph.models.depth_anything_v3 import allocator
        assert allocator._state is None
        import sys; sys.path.insert(0, "tests")
        from model_helpers import tiny_model
        tiny_model()
        print(allocator._state)
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
