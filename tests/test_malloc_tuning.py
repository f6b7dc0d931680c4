"""glibc malloc tuning: freed tensor memory is reused without page faults, and can be opted out.

The probe repeats a forward-pass-like pattern of tensors of 24 and 64 MiB (above glibc's largest
adaptive mmap threshold, 32 MiB, and above a thread arena's 64 MiB heap) and counts the page
faults of its last four repetitions: without the tuning each one maps fresh pages (>16,000 faults
a repetition), with it the memory is reused once the heap has settled.
"""

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

PROBE = textwrap.dedent(
    """
    import resource, sys, threading, torch
    from depthgraph.malloc_tuning import retain_freed_memory
    mode, where = sys.argv[1], sys.argv[2]
    applied = retain_freed_memory(single_arena=mode == "single") if mode != "plain" else False
    faults = []
    def step():
        x = torch.ones(6 << 20)
        y = x * 2
        z = torch.ones(16 << 20)
        w = y + x
        del x, y, z, w
    def work():
        for _ in range(20):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            step()
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    if where == "thread":
        th = threading.Thread(target=work)
        th.start()
        th.join()
    else:
        work()
    print(applied, sum(faults[-4:]))
    """
)

FEW = 8192  # 32 MiB of fresh pages over four repetitions; untuned it is over 64,000


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any malloc setting of the user's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("DEPTHGRAPH_MALLOC_TUNING", None)
    return {**env, **extra}


def _probe(mode: str, where: str = "main", **env: str) -> tuple[bool, int]:
    full_env = _clean_env(**env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode, where], capture_output=True, text=True, env=full_env,
        timeout=120, check=True,
    ).stdout.split()  # fmt: skip
    return out[0] == "True", int(out[1])


def test_tuned_process_reuses_freed_memory_without_faults():
    applied, faults = _probe("tune")
    assert applied
    assert faults < FEW


def test_untuned_process_faults_on_every_large_allocation():
    # the control: shows that the probe measures what the tuning removes
    applied, faults = _probe("plain")
    assert not applied
    assert faults > 4 * 16000


@pytest.mark.parametrize(
    "env",
    [{"DEPTHGRAPH_MALLOC_TUNING": "0"}, {"DEPTHGRAPH_MALLOC_TUNING": "off"}, {"MALLOC_TRIM_THRESHOLD_": "0"}],
)
def test_opt_out_and_user_settings_are_respected(env):
    applied, faults = _probe("tune", **env)
    assert not applied
    assert faults > 4 * 16000


def test_worker_threads_need_the_single_arena():
    _, faults_threads = _probe("tune", "thread")
    assert faults_threads > 4 * 16000  # a thread arena unmaps its emptied heaps
    _, faults_single = _probe("single", "thread")
    assert faults_single < FEW


def test_loading_a_cpu_model_applies_the_tuning():
    code = textwrap.dedent(
        """
        from depthgraph import malloc_tuning
        assert malloc_tuning._state is None
        import sys; sys.path.insert(0, "tests")
        from model_helpers import tiny_model
        tiny_model()
        print(malloc_tuning._state)
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=_clean_env(),
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
