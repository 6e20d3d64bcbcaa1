"""A joblib sweep's workers end once the sweep's process is gone, even killed with SIGKILL: a job
in progress is interrupted first (its run ends KILLED in its own record), then the worker exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rlmdj.experiments.sweep import worker

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="processes from /proc")

# The sweep's process: starts one worker, then waits to be killed.
SWEEP = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", *sys.argv[1:]])
time.sleep(600)
"""
# The worker: SIGTERM interrupts it as it does a job's run; its end after that never comes.
WORKER = """
import os, signal, sys, time
from pathlib import Path
from rlmdj.experiments.sweep import worker

def interrupt(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, interrupt)
worker._ORPHAN_GRACE_S = 1.0
worker.watch_sweep(os.getppid())
Path(sys.argv[1], "pid").write_text(str(os.getpid()))
try:
    time.sleep(600)
except KeyboardInterrupt:
    Path(sys.argv[1], "interrupted").touch()
    time.sleep(600)
"""


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _running(pid: int, started: str) -> bool:
    """Whether ``pid`` is still the process that started at ``started`` and not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[19] == started and fields[0] != "Z"


def _gone_within(pids: dict[int, str], seconds: float) -> float | None:
    """Seconds until none of ``pids`` (pid -> start time) runs; None if some still do then."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if not any(_running(pid, started) for pid, started in pids.items()):
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def _wait_for(condition, seconds: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, f"exited ({proc.returncode}) before {what}"
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {seconds:.0f} s")
        time.sleep(0.2)


def test_the_sweeps_own_process_is_never_watched(monkeypatch) -> None:
    """joblib runs a single worker's jobs in the sweep's process: nothing there may end it."""
    monkeypatch.setattr(worker, "_WATCHED", [])
    worker.watch_sweep(os.getpid())
    assert worker._WATCHED == []
    assert "rlmdj-sweep-watchdog" not in {t.name for t in threading.enumerate()}


def test_an_orphaned_worker_is_interrupted_then_ends(tmp_path, process_group) -> None:
    sweep = process_group([sys.executable, "-c", SWEEP, WORKER, str(tmp_path)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file = tmp_path / "pid"
    _wait_for(lambda: pid_file.is_file() and pid_file.read_text(), 60, sweep, "worker")
    pid = int(pid_file.read_text())
    started = _stat(pid)[19]
    time.sleep(2.5 * worker._ORPHAN_WATCH_S)  # the watchdog looks twice while the sweep lives
    assert _running(pid, started) and not (tmp_path / "interrupted").exists()

    sweep.send_signal(signal.SIGKILL)
    sweep.wait(timeout=30)
    assert _gone_within({pid: started}, 30) is not None
    assert (tmp_path / "interrupted").exists()  # the job's end ran before the worker's exit


def _loky_workers(sweep_pid: int) -> dict[int, str]:
    """The sweep's loky workers (its children running loky's worker module): pid -> start time."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        pid = int(stat.parent.name)
        fields = _stat(pid)
        if fields is None or fields[1] != str(sweep_pid):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"popen_loky_posix" in cmdline:
            found[pid] = fields[19]
    return found


@pytest.mark.slow
def test_a_killed_sweeps_workers_end(store, pack_cache_dir, process_group) -> None:
    """SIGKILL to the sweep's process mid-job: both workers (one of them playing) are gone soon."""
    log = store["dir"] / "sweep.log"
    sweep_dir = store["dir"] / "ms"
    with log.open("w") as out:
        sweep = process_group(
            [sys.executable, "-m", "rlmdj.cli", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
             "bars=256", "dj=reference", "replica=range(8)", "experiment.analysis=none",
             f"hydra.sweep.dir={sweep_dir}", *store["overrides"]],
            cwd=store["dir"], env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=out,
            stderr=subprocess.STDOUT)
    # A job's run is open once its record exists in its output folder.
    _wait_for(lambda: any(sweep_dir.glob("*/record-pending-*/journal.jsonl")), 300, sweep, "job")
    workers = _loky_workers(sweep.pid)
    assert len(workers) == 2, log.read_text()[-4000:]

    sweep.send_signal(signal.SIGKILL)
    sweep.wait(timeout=30)
    assert _gone_within(workers, 30) is not None, f"workers still running: {sorted(workers)}"


def test_only_a_child_of_the_sweeps_process_is_watched(monkeypatch) -> None:
    """A Ray or SLURM worker was not started by the sweep's process: its parent is not that pid."""
    monkeypatch.setattr(worker, "_WATCHED", [])
    with subprocess.Popen(["sleep", "30"]) as other:  # a live process that is not this one's parent
        try:
            worker.watch_sweep(other.pid)
        finally:
            other.kill()
    assert worker._WATCHED == []


def test_every_job_of_a_launcher_worker_watches_the_sweeps_process(monkeypatch) -> None:
    """Also a worker loky starts after the warm start (to replace one that died) is watched: the
    pickled callback carries the sweep's pid to each job."""
    import pickle

    from rlmdj.experiments.sweep.callback import SweepCallback

    watched: list[int] = []
    monkeypatch.setattr(worker, "watch_sweep", watched.append)
    callback = SweepCallback()
    callback._sweep_pid = os.getpid()  # as on_multirun_start sets it in the sweep's process
    in_worker = pickle.loads(pickle.dumps(callback))
    in_worker.on_job_start(config=None)
    assert watched == [os.getpid()]
    SweepCallback().on_job_start(config=None)  # a single run: no sweep to watch
    assert watched == [os.getpid()]
