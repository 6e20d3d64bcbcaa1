"""Store health when rlmdj opens a store: is the server there, and who left runs RUNNING.

- :func:`check_server` asks an MLflow server's ``/health`` with short timeouts before MLflow's
  own client (which retries for minutes) is used, so ``tracking.uri`` pointing at a server that
  is down fails in seconds with one line.
- :func:`process_tags` are tags every rlmdj run carries (host, pid and the process's start time),
  so :func:`close_stale_runs` can tell a run whose process died (killed, power loss, a store on a
  full disk that could not record the end) from one still being played, and mark it FAILED with
  a tag saying which host and pid owned it. :func:`owner_alive` and :func:`owner_elsewhere`
  tell whether a run's owner may still be playing it before another process takes it over.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from rlmdj.errors import EnvironmentProblem

__all__ = [
    "HOST_TAG",
    "PID_TAG",
    "PID_START_TAG",
    "STALE_TAG",
    "check_server",
    "close_stale_runs",
    "owner_alive",
    "owner_elsewhere",
    "process_alive",
    "process_tags",
]

HOST_TAG = "rlmdj.host"
PID_TAG = "rlmdj.pid"
PID_START_TAG = "rlmdj.pid_start"
STALE_TAG = "rlmdj.failed_reason"
SERVER_TIMEOUT_S = 4.0
SERVER_ATTEMPTS = 2


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so count from its closing ")".
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def process_tags() -> dict[str, str]:
    """``rlmdj.host``, ``rlmdj.pid`` and (where known) ``rlmdj.pid_start`` of this process."""
    pid = os.getpid()
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(pid)}
    start = _start_ticks(pid)
    if start is not None:
        tags[PID_START_TAG] = start
    return tags


def process_alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` on this host still runs (and is the same process as ``start``)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    if start is not None:
        now = _start_ticks(pid)
        if now is not None and now != start:
            return False  # the pid was reused by a newer process
    return True


def _owner_pid(tags: Mapping[str, str]) -> int | None:
    """The pid a run's tags name as its owner (0 when they name none), or None when unreadable."""
    try:
        return int(tags.get(PID_TAG, "0"))
    except ValueError:
        return None


def owner_alive(tags: Mapping[str, str]) -> bool:
    """Whether the process a run's tags name as its owner is another one of this host, still running.

    The start ticks tell the owner from a later process given the same pid. False for a run of
    this process, of another host (:func:`owner_elsewhere`), or whose tags name no process.
    """
    if tags.get(HOST_TAG) != socket.gethostname():
        return False
    pid = _owner_pid(tags)
    return pid is not None and pid != os.getpid() and process_alive(pid, tags.get(PID_START_TAG))


def owner_elsewhere(tags: Mapping[str, str]) -> bool:
    """Whether a run's owner is on another host: nothing here can tell whether it still runs."""
    host = tags.get(HOST_TAG)
    return host is not None and host != socket.gethostname()


def close_stale_runs(client: Any, experiment_id: str) -> list[str]:
    """Mark RUNNING runs of dead processes on this host FAILED; returns their ids.

    Runs from other hosts, or without the process tags, are left alone: nothing on this machine
    can tell whether they are still being played.
    """
    host = socket.gethostname()
    try:
        running = client.search_runs(
            [experiment_id],
            filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
            max_results=1000,
        )
    except Exception:  # noqa: BLE001 - housekeeping must never stop a run from starting
        return []
    closed = []
    for run in running:
        tags = run.data.tags
        pid = _owner_pid(tags)
        if pid is None or pid == os.getpid() or process_alive(pid, tags.get(PID_START_TAG)):
            continue
        reason = (f"process {pid} on host {host} ended without closing this run; marked FAILED "
                  f"by rlmdj (pid {os.getpid()}) at {time.strftime('%Y-%m-%d %H:%M:%S')}")
        with contextlib.suppress(Exception):
            client.set_tag(run.info.run_id, STALE_TAG, reason)
            client.set_terminated(run.info.run_id, "FAILED")
            closed.append(run.info.run_id)
    return closed


def check_server(uri: str, *, timeout_s: float = SERVER_TIMEOUT_S,
                 attempts: int = SERVER_ATTEMPTS) -> None:
    """Raise :class:`EnvironmentProblem` unless an MLflow server answers at ``uri`` (http/https).

    Bounded: at most ``attempts`` tries of ``timeout_s`` each (about 10 s by default).
    """
    import httpx

    last: str = ""
    for attempt in range(attempts):
        try:
            response = httpx.get(uri.rstrip("/") + "/health", timeout=timeout_s, follow_redirects=True)
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            if response.status_code < 500:
                return
            last = f"HTTP {response.status_code}"
        if attempt + 1 < attempts:
            time.sleep(0.5)
    from rlmdj.secrets import scrub_text

    raise EnvironmentProblem(
        f"tracking.uri={scrub_text(uri)}: no MLflow server answers ({scrub_text(last)}); start it "
        "(mlflow server --host 127.0.0.1 --port 5000) or use the local store (tracking=local)"
    )
