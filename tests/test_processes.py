"""Servers started by tests end as a whole process group, even when they ignore SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import time

from processes import group_alive, start_group, stop_group

# A leader that ignores SIGTERM and forks a worker that does too: what a stuck server looks like.
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
print("ready", flush=True)
time.sleep(60)
"""

POLITE = "import time; print('ready', flush=True); time.sleep(60)"


def _start(code: str) -> subprocess.Popen:
    proc = start_group([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_stubborn_group_is_killed_after_the_grace_period() -> None:
    proc = _start(STUBBORN)
    time.sleep(0.3)  # let the worker start and ignore SIGTERM
    t0 = time.monotonic()
    status = stop_group(proc, grace_s=1.0)
    assert 1.0 <= time.monotonic() - t0 < 15
    assert status == -9 and not group_alive(proc.pid)


def test_a_polite_group_ends_on_sigterm_without_waiting() -> None:
    proc = _start(POLITE)
    t0 = time.monotonic()
    assert stop_group(proc, grace_s=30.0) == -15
    assert time.monotonic() - t0 < 10 and not group_alive(proc.pid)


def test_stopping_twice_or_after_exit_is_harmless() -> None:
    proc = start_group([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    assert stop_group(proc, grace_s=0.5) == 0
    assert stop_group(proc, grace_s=0.5) == 0


def test_the_fixture_ends_its_servers(process_group) -> None:
    proc = process_group([sys.executable, "-c", POLITE], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    assert group_alive(proc.pid)  # the fixture's teardown ends it (stop_group, tested above)
