"""A sweep stopped by SIGTERM and resumed through the ``rlmdj`` command, as a user does it.

The resumed sweep reopens the same parent run. The parent must stay the resuming process's own
while the jobs run (the stale-run cleanup each job runs when it opens the store must not take it
for a run of the stopped process), end FINISHED with no failure tag, and jobs that finished
before the signal must not run again. Both the basic and the sequential sweeper.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from rlmdj.tracking.health import PID_TAG, STALE_TAG

pytestmark = pytest.mark.slow  # two sweeps through the console script per test

RLMDJ = str(Path(sys.executable).parent / "rlmdj")
JOB_LINE = re.compile(r"^job (\d+)/(\d+) ")


def _sweep_args(tmp_path: Path, *sweep: str) -> list[str]:
    return [RLMDJ, "-m", f"hydra.sweep.dir={tmp_path}/multirun", "bars=8", *sweep,
            f"tracking.uri=sqlite:///{tmp_path}/mlruns.db", f"tracking.artifact_location={tmp_path}/art",
            "progress=false"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "RLMDJ_DEBUG")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop_when(process_group, args: list[str], cwd: Path, ready: re.Pattern[str]) -> str:
    """Run the sweep, SIGTERM it (the launching process only, as ``kill`` does) once a line
    matches ``ready``; returns its output."""
    proc = process_group(args, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if ready.search(line):
            proc.send_signal(signal.SIGTERM)
            break
    lines.append(proc.stdout.read())
    assert proc.wait(timeout=120) != 0
    return "".join(lines)


def _resume_watching(process_group, args: list[str], cwd: Path, client: MlflowClient,
                     parent: str) -> tuple[str, set[str]]:
    """Run the resumed sweep; returns its output and every status the parent had meanwhile."""
    out_file = cwd / "resume.log"
    with out_file.open("w") as out:
        proc = process_group(args, cwd=cwd, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        seen = set()
        while proc.poll() is None:
            seen.add(client.get_run(parent).info.status)
            time.sleep(0.2)
    assert proc.returncode == 0, out_file.read_text()[-3000:]
    seen.add(client.get_run(parent).info.status)
    return out_file.read_text(), seen


def _runs(uri: str) -> tuple[MlflowClient, str, list]:
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("rlmdj").experiment_id
    return client, exp, client.search_runs([exp], max_results=1000)


def _check_resumed(tmp_path: Path, process_group, sweep: list[str], ready: re.Pattern[str]) -> tuple[str, str]:
    args = _sweep_args(tmp_path, *sweep)
    first = _stop_when(process_group, args, tmp_path, ready)
    assert "marked KILLED" in first
    client, exp, runs = _runs(f"sqlite:///{tmp_path}/mlruns.db")
    [parent] = [r for r in runs if r.data.tags.get("rlmdj.sweep") == "parent"]
    pid = parent.info.run_id
    done_before = {r.info.run_id: r.data.tags["rlmdj.config_hash"] for r in runs
                   if r.data.tags.get("mlflow.parentRunId") == pid and r.info.status == "FINISHED"}
    assert parent.info.status == "KILLED" and done_before

    out, seen = _resume_watching(process_group, [*args, "experiment.resume=true"], tmp_path, client, pid)

    after = client.get_run(pid)
    assert "FAILED" not in seen, f"the parent was marked FAILED while the resumed sweep ran: {seen}"
    assert after.info.status == "FINISHED"
    assert STALE_TAG not in after.data.tags and "rlmdj.analysis_error" not in after.data.tags
    assert after.data.tags[PID_TAG] != parent.data.tags[PID_TAG]  # the resuming process owns it
    _, _, runs = _runs(f"sqlite:///{tmp_path}/mlruns.db")
    kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == pid]
    finished = [r for r in kids if r.info.status == "FINISHED"]
    hashes = [r.data.tags["rlmdj.config_hash"] for r in finished]
    assert len(hashes) == len(set(hashes)), "a configuration finished twice: a finished job ran again"
    assert set(done_before) <= {r.info.run_id for r in finished}
    assert out.count("already FINISHED") == len(done_before)
    # job k/N: N is jobs, and the skipped jobs count, so the last job is N/N.
    counts = [tuple(map(int, m.groups())) for m in map(JOB_LINE.match, out.splitlines()) if m]
    assert counts and all(k <= n for k, n in counts) and counts[-1][0] == counts[-1][1]
    return out, pid


def test_resumed_basic_sweep_owns_its_parent_and_reruns_nothing(tmp_path: Path, process_group) -> None:
    out, _ = _check_resumed(tmp_path, process_group, ["dj=reference,random", "replica=range(3)"],
                            re.compile(r"^job 2/6 "))
    assert "job 6/6 " in out


def test_resumed_sequential_sweep_owns_its_parent_and_reruns_nothing(tmp_path: Path, process_group) -> None:
    # Two rounds (2 then 3 replicas per condition): stopped once the first round is analysed.
    # The baseline is the comparison's, not the first condition.
    sweep = ["hydra/sweeper=sequential", "dj=reference,random", "hydra.sweeper.min_replicas=2",
             "hydra.sweeper.round_size=1", "hydra.sweeper.max_replicas=3", "experiment.compare.baseline=random"]
    out, pid = _check_resumed(tmp_path, process_group, sweep, re.compile(r"^sequential: round 1,"))
    # Round 1's four jobs were skipped, round 2 launched two more: N is jobs, not conditions.
    assert "job 5/6 " in out and "job 6/6 " in out
    # The stopping verdict and the fixed-n verdicts are about the same contrast.
    assert "baseline dj=random;" in out
    assert "sequential verdict: reference vs random:" in out and "verdict: reference vs random:" in out
    assert "random vs reference" not in out
    tags = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db").get_run(pid).data.tags
    assert "- reference vs random:" in tags["rlmdj.sequential.verdict"]
