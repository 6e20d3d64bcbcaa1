"""A resumed sweep never takes over a parent run another process may still be running.

Two processes on one parent end each other's work (the first to finish marks the parent FINISHED
and the other's running jobs KILLED), so ``experiment.resume=true`` stops in one line while the
parent's owner still runs, and leaves the parent as it was; once the owner is gone it resumes.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from console_script import error_lines, run_rlmdj
from mlflow.tracking import MlflowClient

from rlmdj.experiments.sweep.callback import _parent_taken
from rlmdj.tracking.health import HOST_TAG, PID_START_TAG, PID_TAG


def _start_ticks(pid: int) -> str:
    """Field 22 of ``/proc/<pid>/stat``: when the process started, in clock ticks since boot."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2:].split()[19]


@pytest.fixture()
def sleeper() -> Iterator[subprocess.Popen]:
    """A live process of this host to stand for a sweep still running."""
    proc = subprocess.Popen(["sleep", "120"])
    yield proc
    proc.kill()
    proc.wait()


def _sweep(tmp_path: Path) -> list[str]:
    return ["-m", f"hydra.sweep.dir={tmp_path}/multirun", "bars=4", "dj=reference,random",
            f"tracking.uri=sqlite:///{tmp_path}/mlruns.db", f"tracking.artifact_location={tmp_path}/art",
            "progress=false"]


def _store(tmp_path: Path) -> tuple[MlflowClient, str, list]:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    experiment_id = client.get_experiment_by_name("rlmdj").experiment_id
    return client, experiment_id, client.search_runs([experiment_id], max_results=1000)


@pytest.mark.slow  # three sweeps through the console script
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="start ticks are read from /proc")
def test_a_resume_leaves_a_parent_whose_owner_still_runs_as_it_was(tmp_path: Path, sleeper) -> None:
    first = run_rlmdj(tmp_path, *_sweep(tmp_path))
    assert first.returncode == 0, first.stderr[-3000:]
    client, _, runs = _store(tmp_path)
    [parent] = [r for r in runs if r.data.tags.get("rlmdj.sweep") == "parent"]
    parent_id = parent.info.run_id
    # The sweep's process is still running it: the parent RUNNING, owned by a live process here.
    client.set_tag(parent_id, PID_TAG, str(sleeper.pid))
    client.set_tag(parent_id, PID_START_TAG, _start_ticks(sleeper.pid))
    client.update_run(parent_id, status="RUNNING")
    before = client.get_run(parent_id)
    sweep_file = (tmp_path / "multirun" / ".rlmdj_sweep.json").read_text()

    refused = run_rlmdj(tmp_path, *_sweep(tmp_path), "experiment.resume=true")

    assert refused.returncode == 2, refused.stderr[-3000:]
    [line] = error_lines(refused)
    assert line.startswith("rlmdj: error: experiment.resume=true: ")
    assert parent_id in line and f"process {sleeper.pid} " in line and socket.gethostname() in line
    assert "Traceback" not in refused.stderr and "job " not in refused.stdout
    after = client.get_run(parent_id)
    assert after.info.status == "RUNNING" and after.data.tags == before.data.tags
    assert after.info.end_time == before.info.end_time
    assert len(_store(tmp_path)[2]) == len(runs), "the refused resume created runs"
    assert (tmp_path / "multirun" / ".rlmdj_sweep.json").read_text() == sweep_file

    sleeper.kill()
    sleeper.wait()
    resumed = run_rlmdj(tmp_path, *_sweep(tmp_path), "experiment.resume=true")

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    finished = client.get_run(parent_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.tags[PID_TAG] not in (str(sleeper.pid), parent.data.tags[PID_TAG])
    assert resumed.stdout.count("already FINISHED") == 2  # both jobs were done: none ran again


def _client_with(status: str, tags: dict[str, str]) -> SimpleNamespace:
    run = SimpleNamespace(info=SimpleNamespace(status=status), data=SimpleNamespace(tags=tags))
    return SimpleNamespace(get_run=lambda run_id: run)


def test_a_parent_running_on_another_host_is_not_taken_over(sleeper) -> None:
    # A live pid of this host, but the tags say another host: nothing here can check that one.
    tags = {HOST_TAG: "other-host.example", PID_TAG: str(sleeper.pid)}
    taken = _parent_taken(_client_with("RUNNING", tags), "abc123")
    assert taken is not None
    assert taken.startswith("experiment.resume=true: the sweep's parent run abc123 ")
    assert f"process {sleeper.pid} on host other-host.example" in taken
    assert "set_terminated('abc123', 'KILLED')" in taken  # the way out when that host is gone


@pytest.mark.parametrize("status", ["KILLED", "FAILED", "FINISHED"])
def test_a_parent_that_ended_is_free_whoever_owned_it(status: str, sleeper) -> None:
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(sleeper.pid)}
    assert _parent_taken(_client_with(status, tags), "abc123") is None


def test_a_running_parent_is_free_when_its_owner_is_gone_is_this_process_or_is_not_named(sleeper) -> None:
    here = socket.gethostname()
    sleeper.kill()
    sleeper.wait()
    for tags in ({HOST_TAG: here, PID_TAG: str(sleeper.pid)}, {HOST_TAG: here, PID_TAG: str(os.getpid())}, {}):
        assert _parent_taken(_client_with("RUNNING", tags), "abc123") is None, tags
