"""Parallel sweeps on SQLite lose nothing; a tracking server works; SIGTERM leaves nothing RUNNING."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from inprocess import children, client_for, parents, run_cli
from tracking_server import start_tracking_server

pytestmark = pytest.mark.slow  # parallel sweeps, a tracking server, SIGTERM mid-sweep

REPO = Path(__file__).resolve().parents[3]


def _cli(args: list[str], cwd: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYDRA_FULL_ERROR": "1"}
    return subprocess.Popen([sys.executable, "-m", "rlmdj.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def test_eight_jobs_on_four_workers_against_sqlite(store) -> None:
    proc = _cli(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", f"hydra.sweep.dir={store['dir']}/ms",
                 "bars=8", "dj=random", "replica=range(8)", "experiment.analysis=none", *store["overrides"]],
                cwd=store["dir"])
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    assert "database is locked" not in out
    client, exp = client_for(store["uri"])
    [parent] = parents(client, exp)
    kids = children(client, exp, parent.info.run_id)
    assert len(kids) == 8
    for k in kids:
        assert k.info.status == "FINISHED"
        assert "proxy/OBJ" in k.data.metrics and "signal/lufs" in k.data.metrics
        names = {a.path for a in client.list_artifacts(k.info.run_id)}
        assert {"config.yaml", "scores.json", "arrangement.json", "run_card.html", "audio"} <= names
        assert {a.path for a in client.list_artifacts(k.info.run_id, "audio")} >= {"audio/set.flac"}
    assert sorted(int(k.data.tags["rlmdj.replica"]) for k in kids) == list(range(8))


def test_sweep_against_tracking_server(tmp_path, monkeypatch, process_group) -> None:
    server = start_tracking_server(process_group, tmp_path, ready_within_s=90)
    uri = server["uri"]
    monkeypatch.chdir(tmp_path)
    run_cli(["-m", f"hydra.sweep.dir={tmp_path}/ms", "bars=8", "dj=random", "replica=range(2)",
             f"tracking.uri={uri}", "progress=false"], monkeypatch)
    client, exp = client_for(uri)
    [parent] = parents(client, exp)
    kids = children(client, exp, parent.info.run_id)
    assert len(kids) == 2 and all(k.info.status == "FINISHED" for k in kids)
    assert any(a.path == "run_card.html" for a in client.list_artifacts(kids[0].info.run_id))
    assert any(server["artifacts"].rglob("run_card.html"))


@pytest.mark.parametrize("launcher", [
    [],  # the jobs run in the sweep's process, their runs recorded by a writer process
    # Workers record through the writer in the sweep's own threads, which the signal reaches too.
    ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
], ids=["basic", "joblib"])
def test_sigterm_mid_sweep_leaves_nothing_running(store, launcher) -> None:
    sockets_before = set(Path(tempfile.gettempdir()).glob("rlmdj-writer-*"))
    proc = _cli(["-m", f"hydra.sweep.dir={store['dir']}/ms", "bars=256", "dj=reference", "replica=range(4)",
                 *launcher, *store["overrides"]], cwd=store["dir"])
    db = store["dir"] / "mlruns.db"
    query = ("select count(*) from runs join tags on runs.run_uuid = tags.run_uuid "
             "where runs.status = 'RUNNING' and tags.key = 'rlmdj.sweep_job'")
    deadline = time.time() + 120
    while time.time() < deadline:
        # Read the store with plain sqlite: an MLflow client here would race the sweep's schema set-up.
        try:
            with sqlite3.connect(db, timeout=5) as con:
                if con.execute(query).fetchone()[0]:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("no job started")
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    client, exp = client_for(store["uri"])
    runs = client.search_runs([exp], max_results=100)
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    assert {r.info.status for r in runs} & {"KILLED"}
    assert set(Path(tempfile.gettempdir()).glob("rlmdj-writer-*")) <= sockets_before  # socket removed
