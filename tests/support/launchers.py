"""Cluster launchers end to end (tests/plugins/): sweeps through the real CLI against a real store.

Each scenario checks what every rlmdj launcher guarantees: a parent run with one child per job,
``experiment.resume=true`` re-running only what did not finish, and SIGTERM to the launching
process leaving no run RUNNING (and no job still at work to flip one back later).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[2]
# Ray binds to 127.0.0.1 (not the first network interface) in every process the tests start;
# a loopback-only test cluster needs no auth token (Ray >= 2.5x turns token auth on by default).
RAY_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(args: list[str], cwd: Path, process_group) -> subprocess.Popen:
    """``rlmdj <args>`` as a subprocess in its own process group (ended at teardown)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **RAY_LOOPBACK}
    return process_group([sys.executable, "-m", "rlmdj.cli", *args], cwd=cwd, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_sweep(args: list[str], cwd: Path, process_group, timeout: float = 400) -> str:
    proc = cli(["-m", *args], cwd, process_group)
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def runs(uri: str) -> tuple[MlflowClient, str, list, list]:
    """(client, experiment id, parent runs, child runs)."""
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("rlmdj").experiment_id
    all_runs = client.search_runs([exp], max_results=1000)
    parents = [r for r in all_runs if r.data.tags.get("rlmdj.sweep") == "parent"]
    kids = [r for r in all_runs if "mlflow.parentRunId" in r.data.tags]
    return client, exp, parents, kids


def sweep_resume_check(launcher: list[str], uri: str, workdir: Path, process_group,
                       resume_launcher: list[str] | None = None, extra: list[str] | None = None) -> None:
    """Three jobs -> parent + 3 FINISHED children; one marked KILLED -> resume runs only it."""
    sweep = [f"hydra.sweep.dir={workdir}/multirun/a", "bars=8", "dj=random", "replica=range(3)",
             "experiment.analysis=none", "progress=false", f"tracking.uri={uri}", *(extra or [])]
    run_sweep([*launcher, *sweep], workdir, process_group)
    client, _, parents, kids = runs(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0].info.run_id
    assert len(kids) == 3 and all(k.info.status == "FINISHED" for k in kids)
    assert all(k.data.tags["mlflow.parentRunId"] == parent for k in kids)
    assert sorted(k.data.tags["rlmdj.replica"] for k in kids) == ["0", "1", "2"]
    assert len({k.data.tags["rlmdj.sweep_job"] for k in kids}) == 3
    assert all("proxy/OBJ" in k.data.metrics for k in kids)
    assert any(a.path == "run_card.html" for a in client.list_artifacts(kids[0].info.run_id))

    killed = kids[0]
    client.set_terminated(killed.info.run_id, "KILLED")
    run_sweep([*(resume_launcher or launcher), *sweep, "experiment.resume=true"], workdir, process_group)
    _, _, parents2, kids2 = runs(uri)
    assert [p.info.run_id for p in parents2] == [parent]
    new = [k for k in kids2 if k.info.run_id not in {x.info.run_id for x in kids}]
    assert len(new) == 1 and new[0].info.status == "FINISHED"
    assert new[0].data.tags["rlmdj.config_hash"] == killed.data.tags["rlmdj.config_hash"]


def _job_running(client: MlflowClient, uri: str) -> bool:
    """Whether a sweep job's run is RUNNING. A SQLite store is read with plain sqlite3: an MLflow
    client opening it would race the sweep's own schema set-up."""
    if uri.startswith("sqlite:///"):
        query = ("select count(*) from runs join tags on runs.run_uuid = tags.run_uuid "
                 "where runs.status = 'RUNNING' and tags.key = 'rlmdj.sweep_job'")
        try:
            with sqlite3.connect(uri[len("sqlite:///"):], timeout=5) as con:
                return bool(con.execute(query).fetchone()[0])
        except sqlite3.Error:
            return False
    exp = client.get_experiment_by_name("rlmdj")
    return exp is not None and bool(client.search_runs(
        [exp.experiment_id], filter_string="tags.`rlmdj.sweep_job` != '' and attributes.status = 'RUNNING'"))


def sigterm_check(launcher: list[str], uri: str, workdir: Path, process_group,
                  extra: list[str] | None = None) -> str:
    """SIGTERM to the launching process mid-sweep: nothing RUNNING, and it stays that way."""
    proc = cli(["-m", *launcher, f"hydra.sweep.dir={workdir}/multirun/t", "bars=256", "dj=reference",
                "replica=range(3)", "experiment.analysis=none", "progress=false", f"tracking.uri={uri}",
                *(extra or [])], workdir, process_group)
    deadline = time.time() + 300
    sweep_file = workdir / "multirun" / "t" / ".rlmdj_sweep.json"
    client = None
    while time.time() < deadline:
        # The sweep writes this file once its store is set up. Touching the store before that
        # (an MlflowClient opens it when created) would race the sweep's schema migration.
        if client is None and sweep_file.is_file():
            client = MlflowClient(tracking_uri=uri)
        if client is not None and _job_running(client, uri):
            break
        assert proc.poll() is None, proc.stdout.read()[-4000:]
        time.sleep(0.5)
    else:
        pytest.fail("no job started")
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    exp = client.get_experiment_by_name("rlmdj").experiment_id

    def statuses() -> dict[str, str]:
        return {r.info.run_id: r.info.status for r in client.search_runs([exp], max_results=1000)}

    after = statuses()
    assert after and "RUNNING" not in after.values(), out[-4000:]
    assert "KILLED" in after.values()
    time.sleep(8)  # a job left running would now finish its run, or start a new one
    assert statuses() == after, out[-4000:]
    return out
