"""Libraries stay quiet: no matplotlib font-cache notice on a first run, no MLflow usage telemetry
from the launching process or its sweep workers unless the user asks for it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from console_script import run_rlmdj

pytestmark = [pytest.mark.slow, pytest.mark.hardening]  # runs and a parallel sweep through the console script

# Each process that imported MLflow says, when it exits, whether MLflow's telemetry is off.
PROBE = '''
import atexit, os, sys
def _report():
    if "mlflow" in sys.modules:
        from mlflow.telemetry.utils import is_telemetry_disabled
        print(f"PROBE pid={os.getpid()} disabled={is_telemetry_disabled()}", file=sys.stderr, flush=True)
atexit.register(_report)
'''
# Variables by which MLflow recognises a CI or test run and turns telemetry off by itself.
CI_VARIABLES = ("PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "CI", "CIRCLECI", "GITLAB_CI", "JENKINS_URL", "TRAVIS",
                "TF_BUILD", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ARN", "BUILDKITE", "TEAMCITY_VERSION",
                "CLOUD_RUN_EXECUTION", "RUNBOT_HOST_URL", "RUNBOT_BUILD_NAME", "RUNBOT_WORKER_ID",
                "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")


def _store(tmp_path: Path, name: str) -> list[str]:
    return [f"tracking.uri=sqlite:///{tmp_path}/{name}.db", f"tracking.artifact_location={tmp_path}/{name}-art",
            "progress=false"]


def test_first_run_logs_no_font_cache_notice(tmp_path: Path) -> None:
    fonts = tmp_path / "mplconfig"  # matplotlib builds its font cache here, as on a first run
    proc = run_rlmdj(tmp_path, "bars=4", f"hydra.run.dir={tmp_path}/out", *_store(tmp_path, "m"),
                     env={"MPLCONFIGDIR": str(fonts)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(fonts.glob("fontlist-*.json")), "the run drew no figure: the check saw nothing"
    assert "fontManager" not in proc.stdout + proc.stderr


def test_no_telemetry_from_the_sweep_or_its_workers_unless_asked(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "sitecustomize.py").write_text(PROBE)
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    probe = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "probe"), os.environ.get("PYTHONPATH")]))}

    sweep = run_rlmdj(tmp_path, "-m", "hydra/launcher=joblib_local", "hydra.launcher.n_jobs=2", "bars=4",
                      "dj=reference,random", "experiment.analysis=none", f"hydra.sweep.dir={tmp_path}/ms",
                      *_store(tmp_path, "sweep"), env=probe)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    reports = dict(re.findall(r"PROBE pid=(\d+) disabled=(\w+)", sweep.stderr))
    # The launching process, which also records its workers' runs; a worker that imported MLflow
    # (with a writer of its own, had it found none to share) would report too.
    assert reports, sweep.stderr[-2000:]
    assert set(reports.values()) == {"True"}

    asked = run_rlmdj(tmp_path, "bars=4", f"hydra.run.dir={tmp_path}/out", *_store(tmp_path, "one"),
                      env={**probe, "MLFLOW_DISABLE_TELEMETRY": "false"})
    assert asked.returncode == 0, asked.stderr[-2000:]
    assert set(re.findall(r"PROBE pid=\d+ disabled=(\w+)", asked.stderr)) == {"False"}  # the user's choice
