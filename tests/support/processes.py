"""Child processes tests start (servers, CLI runs), each in its own process group.

A server such as ``mlflow server`` forks workers; signalling only the process the test started
leaves them running, and waiting on it can outlast any timeout on a loaded machine. So a test
starts its server with :func:`start_group` and ends it with :func:`stop_group`: SIGTERM to the
whole group, a grace period, then SIGKILL to whatever is left. The ``process_group`` fixture in
``tests/conftest.py`` does both, so a failing test still cleans up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["start_group", "stop_group", "group_alive"]


def start_group(cmd: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen(cmd, ...)`` as the leader of a new session and process group."""
    return subprocess.Popen(list(cmd), start_new_session=True, **popen_kwargs)


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` is still running (zombies waiting to be reaped by
    whoever adopted them do not count)."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():  # not Linux: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc_dir.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":  # state, ppid, pgrp
            return True
    return False


def stop_group(proc: subprocess.Popen, *, grace_s: float = 10.0) -> int | None:
    """End ``proc``'s whole process group: SIGTERM, wait up to ``grace_s``, then SIGKILL.

    Returns the leader's exit status. Waits for the group, not only the leader, so workers that
    outlive their parent are killed too. Never raises for processes that are already gone.
    """
    pgid = proc.pid  # start_group made the leader's pid its group id
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader as soon as it exits, so it does not count as alive
        if not group_alive(pgid):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        while group_alive(pgid) and time.monotonic() < deadline + 10:
            proc.poll()
            time.sleep(0.05)
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    return proc.wait(timeout=30)
