"""What a user reads at the end: job k/N lines in sweeps, stage lines, the run URL and UI command."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow  # the console script in a subprocess

RLMDJ = str(Path(sys.executable).parent / "rlmdj")


def run_cli(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # the venv is not active
    proc = subprocess.run([RLMDJ, *overrides], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc


def test_single_run_reports_stages_and_ends_with_url_and_ui_command(tmp_path, pack_cache_dir):
    proc = run_cli(tmp_path, "bars=8", "progress=false")
    for stage in ("rlmdj: writing audio (flac)", "rlmdj: scoring with the proxy scorer", "rlmdj: logging to MLflow"):
        assert stage in proc.stderr
    url, ui = proc.stdout.strip().splitlines()[-2:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns.db")
    (run,) = client.search_runs([client.get_experiment_by_name("rlmdj").experiment_id])
    assert url == (f"run URL: http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/"
                   f"{run.info.run_id}?workflowType=machine_learning")
    words = shlex.split(ui.removeprefix("MLflow UI: "))
    assert Path(words[0]).is_absolute() and Path(words[0]).name == "mlflow" and words[1] == "ui"
    assert words[words.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path}/mlruns.db"
    assert not list(tmp_path.glob("outputs/**/*.wav")) and not list(tmp_path.glob("outputs/**/*.flac"))


def test_sweep_jobs_report_k_of_n_as_they_finish(tmp_path, pack_cache_dir):
    proc = run_cli(tmp_path, "-m", "dj=reference,random", "bars=8", "experiment.analysis=none")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("job ")]
    assert [line.split(" · ")[0] for line in lines] == ["job 1/2", "job 2/2"]
    assert all("proxy/OBJ" in line and "FINISHED" in line for line in lines)
    tail = proc.stdout.strip().splitlines()[-2:]
    assert tail[0].startswith("run URL: http://127.0.0.1:5000/#/experiments/") and tail[1].startswith("MLflow UI: ")
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns.db")
    runs = client.search_runs([client.get_experiment_by_name("rlmdj").experiment_id])
    names = sorted(r.info.run_name for r in runs)
    assert names[0].startswith("random·") and names[1].startswith("reference·")
    assert names[2] == "sweep dj=reference,random"
