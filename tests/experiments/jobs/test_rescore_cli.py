"""``rlmdj experiment=rescore`` through the console script: a wrong parent names the rescore key,
sets that cannot be scored make the command fail with one summary line, and MLflow's per-file
download bars stay off."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from console_script import run_rlmdj
from mlflow.tracking import MlflowClient

pytestmark = [pytest.mark.slow, pytest.mark.hardening]  # a sweep and three rescore runs through the console script


def test_rescore_names_its_own_key_and_fails_when_sets_fail(tmp_path: Path) -> None:
    store = [f"tracking.uri=sqlite:///{tmp_path}/mlruns.db", f"tracking.artifact_location={tmp_path}/art",
             "progress=false"]
    sweep = run_rlmdj(tmp_path, "-m", f"hydra.sweep.dir={tmp_path}/ms", "bars=4", "dj=random",
                      "replica=range(3)", "experiment.analysis=none", *store)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns.db")
    exp = client.get_experiment_by_name("rlmdj").experiment_id
    [parent] = client.search_runs([exp], filter_string="tags.`rlmdj.sweep` = 'parent'")
    kids = client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")

    wrong = run_rlmdj(tmp_path, "experiment=rescore", "experiment.rescore.parent=nosuch", *store)
    assert wrong.returncode == 2
    [line] = [ln for ln in wrong.stderr.splitlines() if ln.startswith("rlmdj: error:")]
    assert line.startswith("rlmdj: error: experiment.rescore.parent='nosuch' is not a run in this store")
    assert "experiment.compare" not in wrong.stderr

    # One set's audio is gone: the others are scored, and the command says how many failed.
    lost = kids[0].info.run_id
    shutil.rmtree(Path(client.get_run(lost).info.artifact_uri.removeprefix("file://")) / "audio")
    rescore = ["experiment=rescore", f"experiment.rescore.parent={parent.info.run_id[:8]}",
               "experiment.rescore.overwrite=true", *store]
    partial = run_rlmdj(tmp_path, *rescore)
    assert partial.returncode == 1, partial.stderr[-2000:]
    errors = [ln for ln in partial.stderr.splitlines() if ln.startswith("rlmdj: error:")]
    assert len(errors) == 1 and "experiment.rescore: 1 of 3 set(s) could not be scored" in errors[0]
    assert f"run {lost} skipped" in partial.stderr
    assert "2 of 3 finished runs scored" in partial.stdout
    assert "Downloading artifacts" not in partial.stdout + partial.stderr  # progress=false: no bars
    scored = {k.info.run_id for k in client.search_runs([exp], filter_string="tags.`rlmdj.rescored.proxy` != ''")}
    assert scored == {k.info.run_id for k in kids} - {lost}

    # MLflow's own setting still wins when the user asks for its bars.
    asked = run_rlmdj(tmp_path, *rescore, env={"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "true"})
    assert asked.returncode == 1 and "Downloading artifacts" in asked.stderr
