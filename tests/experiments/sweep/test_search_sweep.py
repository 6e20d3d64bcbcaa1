"""``hydra/sweeper=search`` through the ``rlmdj`` command, as a user runs it.

A small search of the reference DJ's tempo; one through the joblib launcher, two trials at a
time; one stopped by SIGTERM and resumed; bad input refused before any trial; and searches on a
noisy objective (the greedy DJ, random DJ) where the confirmation must tell a real improvement
from none.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow.tracking import MlflowClient

from rlmdj.search.study import INTERRUPTED_ATTR

pytestmark = pytest.mark.slow  # sweeps through the console script

RLMDJ = str(Path(sys.executable).parent / "rlmdj")
TEMPO = "bpm=interval(120,136)"  # the reference DJ is deterministic: one replica per trial


def _args(tmp_path: Path, *sweep: str) -> list[str]:
    return [RLMDJ, "-m", "hydra/sweeper=search", f"hydra.sweep.dir={tmp_path}/multirun", "bars=8", *sweep,
            f"tracking.uri=sqlite:///{tmp_path}/mlruns.db", f"tracking.artifact_location={tmp_path}/art",
            "progress=false"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "RLMDJ_DEBUG")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(tmp_path: Path, *sweep: str) -> subprocess.CompletedProcess:
    return subprocess.run(_args(tmp_path, *sweep), cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=900)


def _store(tmp_path: Path) -> tuple[MlflowClient, Any, list]:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    [parent] = client.search_runs([client.get_experiment_by_name("rlmdj").experiment_id],
                                  "tags.`rlmdj.sweep` = 'parent'")
    kids = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                              max_results=1000)
    return client, parent, kids


def _study(tmp_path: Path, parent) -> optuna.Study:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = tmp_path / "optuna.journal"  # beside mlruns.db
    return optuna.load_study(study_name=parent.data.tags["rlmdj.search.study"],
                             storage=JournalStorage(JournalFileBackend(str(journal))))


def test_a_small_search_logs_each_trial_as_a_child_and_the_study_on_the_parent(tmp_path: Path) -> None:
    proc = _run(tmp_path, TEMPO, "hydra.sweeper.n_trials=4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    client, parent, kids = _store(tmp_path)
    assert parent.info.status == "FINISHED" and len(kids) == 4
    assert all(k.info.status == "FINISHED" for k in kids)
    assert sorted(int(k.data.tags["rlmdj.search.trial"]) for k in kids) == [0, 1, 2, 3]
    assert {k.data.tags["rlmdj.search.sampler"] for k in kids} == {"tpe"}
    for k in kids:  # the trial's parameter is the run's tempo
        assert float(k.data.tags["rlmdj.search.param.bpm"]) == pytest.approx(float(k.data.params["bpm"]))
    tags = parent.data.tags
    assert tags["rlmdj.analysis"] == "none"  # a search runs no analysis: its parent holds the study
    best = max(kids, key=lambda k: k.data.metrics["proxy/OBJ"])
    assert float(tags["rlmdj.search.best_value"]) == pytest.approx(best.data.metrics["proxy/OBJ"], rel=1e-5)
    assert tags["rlmdj.search.best_trial"] == best.data.tags["rlmdj.search.trial"]
    assert json.loads(tags["rlmdj.search.best_params"])["bpm"] == pytest.approx(float(best.data.params["bpm"]))
    assert (tags["rlmdj.search.trials_complete"], tags["rlmdj.search.trials_failed"]) == ("4", "0")
    assert tags["rlmdj.search.outcome"] == "unconfirmed"  # one replica: a deterministic objective
    assert tags["mlflow.note.content"].startswith("Search (study")
    assert {"search/optimization_history.png", "search/param_importances.png", "search/search.json"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id, "search")}
    history = client.get_metric_history(parent.info.run_id, "search/best_value")
    assert [m.step for m in history] == [0, 1, 2, 3] and history[-1].value == pytest.approx(best.data.metrics["proxy/OBJ"])
    study = _study(tmp_path, parent)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert study.best_value == pytest.approx(best.data.metrics["proxy/OBJ"])
    assert "search verdict: best trial #" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("MLflow UI:")


def test_a_parallel_joblib_study_asks_two_trials_at_a_time(tmp_path: Path) -> None:
    proc = _run(tmp_path, TEMPO, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2",
                "hydra.sweeper.n_trials=4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, parent, kids = _store(tmp_path)
    assert parent.info.status == "FINISHED"
    # Worker processes read their trial's tags from the sweep folder.
    assert sorted(int(k.data.tags["rlmdj.search.trial"]) for k in kids) == [0, 1, 2, 3]
    assert all(k.info.status == "FINISHED" for k in kids)
    # Recorded by the run writer the workers share, in the sweep's own process.
    assert {k.data.tags["rlmdj.pid"] for k in kids} == {parent.data.tags["rlmdj.pid"]}
    bpms = [float(k.data.params["bpm"]) for k in kids]
    assert len(set(bpms)) == 4  # a batch's two asks are distinct points
    trials = _study(tmp_path, parent).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    for a, b in ((0, 1), (2, 3)):  # asked together, before either was told
        assert trials[b].datetime_start < trials[a].datetime_complete



def test_a_search_stopped_by_sigterm_resumes_without_running_a_finished_trial_again(tmp_path: Path,
                                                                                     process_group) -> None:
    sweep = [TEMPO, "hydra.sweeper.n_trials=4", "hydra.sweeper.replicas=2", "hydra.sweeper.confirm=false"]
    proc = process_group(_args(tmp_path, *sweep), cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("search: trial #1 "):
            proc.send_signal(signal.SIGTERM)
            break
    lines.append(proc.stdout.read())
    assert proc.wait(timeout=120) != 0
    first = "".join(lines)
    assert "marked KILLED" in first, first[-3000:]
    client, parent, kids = _store(tmp_path)
    assert parent.info.status == "KILLED"
    assert not [k for k in kids if k.info.status == "RUNNING"]
    study = _study(tmp_path, parent)
    assert not [t for t in study.trials if t.state.name == "RUNNING"]  # nothing stays RUNNING in Optuna
    complete_before = {t.number: t.params for t in study.trials if t.state.name == "COMPLETE"}
    interrupted = [t for t in study.trials if t.user_attrs.get(INTERRUPTED_ATTR)]
    assert len(complete_before) == 2 and all(t.state.name == "FAIL" for t in interrupted)
    done_before = {k.info.run_id for k in kids if k.info.status == "FINISHED"}

    again = _run(tmp_path, *sweep, "experiment.resume=true")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "search: resuming: " in again.stdout
    client, after, kids = _store(tmp_path)
    assert after.info.run_id == parent.info.run_id and after.info.status == "FINISHED"
    study = _study(tmp_path, after)
    assert not [t for t in study.trials if t.state.name == "RUNNING"]
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4 and after.data.tags["rlmdj.search.trials_complete"] == "4"
    assert {n: study.trials[n].params for n in complete_before} == complete_before  # kept, not re-run
    for t in interrupted:  # asked again, after the finished trials
        assert any(c.params == t.params and c.number > t.number for c in complete)
    finished = [k for k in kids if k.info.status == "FINISHED"]
    hashes = [k.data.tags["rlmdj.config_hash"] for k in finished]
    assert len(hashes) == len(set(hashes)), "a finished job ran again"
    assert done_before <= {k.info.run_id for k in finished}
    assert len(finished) == 8  # 4 trials x 2 replicas, each once


@pytest.mark.parametrize("sweep, words", [
    (["bars=8"], "hydra.sweeper.params: the search space is empty"),
    ([TEMPO, "hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials must be between 1"),
    ([TEMPO, "hydra.sweeper.sampler=anneal"], "hydra.sweeper.sampler=anneal: unknown sampler"),
    (["bpm=interval(136,120)"], "bpm: interval(136, 120) is empty: lo must be < hi"),
    (["bars=choice(8,0)"], "bars=0: bars must be between 1 and"),
    (["dj=greedy", "dj.candidates=interval(1,12)"], "dj.candidates=1.0: "),
    ([TEMPO, "dj=choice(reference,random)", "hydra.sweeper.sampler=cmaes"], "cmaes searches numeric"),
    ([TEMPO, "hydra.sweeper.storage=/proc/no/optuna.journal"], "hydra.sweeper.storage=/proc/no/optuna.journal"),
])
def test_bad_input_is_one_line_naming_the_key_before_any_trial(tmp_path: Path, sweep: list[str], words: str) -> None:
    proc = _run(tmp_path, *sweep)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert errors[-1].startswith("rlmdj: error: ") and words in errors[-1], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "search: trial" not in proc.stdout
    assert not (tmp_path / "optuna.journal").exists()
    if (tmp_path / "mlruns.db").exists():  # no parent run, no job run
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
        exps = [e.experiment_id for e in client.search_experiments()]
        assert not client.search_runs(exps)


def test_a_worse_baseline_is_beaten_and_the_winner_confirmed_on_fresh_replicas(tmp_path: Path) -> None:
    # The greedy DJ auditioning one candidate per phrase (the baseline, dj.candidates=1) against
    # searched larger auditions: noisy (replicas differ by palette), a real effect of ~1.7 OBJ.
    proc = _run(tmp_path, "dj=greedy", "dj.candidates=1", "dj.candidates=range(6,13)", "hydra.sweeper.n_trials=2",
                "hydra.sweeper.n_jobs=2", "hydra.sweeper.replicas=4", "hydra.sweeper.confirmation.max_replicas=12")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "baseline dj.candidates=1" in proc.stdout
    _, parent, kids = _store(tmp_path)
    tags = parent.data.tags
    assert tags["rlmdj.search.outcome"] == "better", tags["rlmdj.search.verdict"]
    assert "confirmed better than the baseline: +" in tags["rlmdj.search.verdict"]
    trials = [k for k in kids if k.data.tags["rlmdj.search.role"] == "trial"]
    assert sorted(int(k.data.tags["rlmdj.replica"]) for k in trials) == [0, 0, 1, 1, 2, 2, 3, 3]
    baseline = [k for k in kids if k.data.tags["rlmdj.search.role"] == "baseline"]
    best = [k for k in kids if k.data.tags["rlmdj.search.role"] == "best"]
    assert baseline and len(baseline) == len(best)
    assert {k.data.params["dj.candidates"] for k in baseline} == {"1"}
    assert {int(k.data.tags["rlmdj.replica"]) for k in baseline} == {int(k.data.tags["rlmdj.replica"]) for k in best}
    assert min(int(k.data.tags["rlmdj.replica"]) for k in best) == 4  # fresh: none used by the search
    assert {k.data.tags["rlmdj.search.trial"] for k in best} == {tags["rlmdj.search.best_trial"]}


def test_a_setting_with_no_effect_is_not_declared_better(tmp_path: Path) -> None:
    # dj.max_llm_calls is read by the RLM DJ only: the random DJ plays the same set whatever it is.
    proc = _run(tmp_path, "dj=random", "dj.max_llm_calls=range(1,9)", "hydra.sweeper.n_trials=2",
                "hydra.sweeper.n_jobs=2", "hydra.sweeper.replicas=4", "hydra.sweeper.confirmation.max_replicas=8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, parent, _ = _store(tmp_path)
    tags = parent.data.tags
    assert tags["rlmdj.search.outcome"] != "better", tags["rlmdj.search.verdict"]
    assert "not better" in tags["rlmdj.search.verdict"] or "not shown better" in tags["rlmdj.search.verdict"]
    assert re.search(r"search verdict: trial #\d .*not (shown )?better", proc.stdout)


def test_failed_trials_are_told_to_optuna_and_the_study_goes_on(store, monkeypatch, capsys) -> None:
    """A job that refuses its sample (exit 2 inside the job) or meets a scorer error (exit 1)
    fails its trial; the study runs its other trials and counts the failures on the parent."""
    from inprocess import client_for, parents, run_cli

    from rlmdj.errors import EnvironmentProblem, ParameterError
    from rlmdj.experiments.registry import JOBS

    def toy_job(cfg: Any) -> float:
        if cfg.bpm < 124:
            raise ParameterError(f"bpm={cfg.bpm:.1f}: this job refuses tempos under 124")
        if cfg.bpm > 132:
            raise EnvironmentProblem("scorer.url: the scorer answered 500 Internal Server Error")
        return float(cfg.bpm) / 10

    with JOBS.registered("toy", toy_job):
        run_cli(["-m", "hydra/sweeper=search", f"hydra.sweep.dir={store['dir']}/multirun", "experiment.name=toy",
                 TEMPO, "hydra.sweeper.n_trials=8", "hydra.sweeper.sampler=random", *store["overrides"]],
                monkeypatch)
    out = capsys.readouterr().out
    client, exp = client_for(store["uri"])
    [parent] = parents(client, exp)
    study = _study(store["dir"], parent)
    states = {t.number: (t.state.name, t.params["bpm"]) for t in study.trials}
    assert len(states) == 8
    for number, (state, bpm) in states.items():
        assert state == ("COMPLETE" if 124 <= bpm <= 132 else "FAIL"), (number, bpm)
    failed = [n for n, (s, _) in states.items() if s == "FAIL"]
    assert failed and len(failed) < 8, states
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["rlmdj.search.trials_failed"] == str(len(failed))
    assert parent.data.metrics["search/trials_failed"] == len(failed)
    assert 124 <= json.loads(parent.data.tags["rlmdj.search.best_params"])["bpm"] <= 132
    assert f"search: trial #{failed[0]} replica 0 failed: the job exited with status" in out
