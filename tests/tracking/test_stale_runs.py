"""Opening a store closes runs left RUNNING by processes that no longer exist."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from rlmdj.tracking.health import HOST_TAG, PID_TAG, STALE_TAG, process_alive, process_tags
from rlmdj.tracking.store import open_store

pytestmark = pytest.mark.hardening


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_runs_of_dead_processes_on_this_host_are_marked_failed(tmp_path):
    tracking = OmegaConf.create({"uri": f"sqlite:///{tmp_path}/mlruns.db", "experiment": "rlmdj",
                                 "artifact_location": str(tmp_path / "art"), "enabled": True})
    client, exp = open_store(tracking)
    host = socket.gethostname()
    gone = dead_pid()
    dead = client.create_run(exp, tags={HOST_TAG: host, PID_TAG: str(gone)}).info.run_id
    alive = client.create_run(exp, tags={HOST_TAG: host, PID_TAG: str(os.getppid())}).info.run_id
    elsewhere = client.create_run(exp, tags={HOST_TAG: "other-host", PID_TAG: str(gone)}).info.run_id
    untagged = client.create_run(exp).info.run_id

    open_store(tracking)

    reader = MlflowClient(tracking_uri=str(tracking.uri))
    status = {rid: reader.get_run(rid).info.status for rid in (dead, alive, elsewhere, untagged)}
    assert status == {dead: "FAILED", alive: "RUNNING", elsewhere: "RUNNING", untagged: "RUNNING"}
    reason = reader.get_run(dead).data.tags[STALE_TAG]
    assert f"process {gone}" in reason and host in reason


def test_process_identity_tracks_pid_reuse():
    tags = process_tags()
    assert tags[PID_TAG] == str(os.getpid()) and tags[HOST_TAG] == socket.gethostname()
    assert process_alive(os.getpid(), tags.get("rlmdj.pid_start"))
    assert not process_alive(dead_pid())
    if "rlmdj.pid_start" in tags:  # Linux: a different start time means another process
        assert not process_alive(os.getpid(), str(int(tags["rlmdj.pid_start"]) + 1))


def test_a_claimed_run_is_this_processs_and_survives_the_cleanup(tmp_path):
    """A resumed sweep's parent: left by a process that died, taken up by this one."""
    from rlmdj.tracking.store import claim_run

    tracking = OmegaConf.create({"uri": f"sqlite:///{tmp_path}/mlruns.db", "experiment": "rlmdj",
                                 "artifact_location": str(tmp_path / "art"), "enabled": True})
    client, exp = open_store(tracking)
    gone = dead_pid()
    parent = client.create_run(exp, tags={HOST_TAG: socket.gethostname(), PID_TAG: str(gone),
                                          "rlmdj.pid_start": "1"}).info.run_id
    open_store(tracking)  # the dead process's run is marked FAILED, with the reason
    assert STALE_TAG in client.get_run(parent).data.tags

    claim_run(client, parent)
    open_store(tracking)  # what each job of the resumed sweep does first

    run = MlflowClient(tracking_uri=str(tracking.uri)).get_run(parent)
    assert run.info.status == "RUNNING"
    assert run.data.tags[PID_TAG] == str(os.getpid()) and STALE_TAG not in run.data.tags
    assert run.data.tags.get("rlmdj.pid_start") == process_tags().get("rlmdj.pid_start")
