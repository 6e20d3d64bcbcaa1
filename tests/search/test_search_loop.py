"""The noisy search core: replicas shared by every trial, failed and interrupted trials, and the
confirmation of the winner on fresh replicas, driven by synthetic objectives with known truth."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import optuna
import pytest

from rlmdj.experiments.sweep.sequential import SequentialSettings
from rlmdj.search.loop import (
    BASELINE,
    BEST,
    TRIAL,
    Job,
    confirm,
    counted_trials,
    requeue_interrupted,
    search,
)
from rlmdj.search.space import Param, distributions
from rlmdj.search.study import INTERRUPTED_ATTR, open_storage, open_study

SPACE = distributions([Param("x", "float", low=0, high=1), Param("k", "choice", ("a", "b"))])
PALETTE = np.random.default_rng(7).normal(0, 1, 1000)  # replica r's palette effect: shared by every config


def _study(tmp_path: Path, name: str = "s", direction: str = "maximize"):
    return open_study(name=name, storage=open_storage(None, default_path=tmp_path / "optuna.journal"),
                      direction=direction, sampler="random", seed=0, distributions=SPACE)


def _objective(effect: float, noise: float = 0.3):
    """Value of a job: 5 + effect * x + replica r's palette + noise seeded by (config, replica)."""
    def value(job: Job) -> float:
        x = float(job.params.get("x", 0.0))
        seed = zlib.crc32(repr((job.replica, round(x, 9), job.params.get("k"))).encode())
        return 5 + effect * x + PALETTE[job.replica] + np.random.default_rng(seed).normal(0, noise)
    return value


def test_every_trial_runs_on_the_same_replicas_and_is_told_their_mean(tmp_path: Path) -> None:
    study = _study(tmp_path)
    batches: list[list[Job]] = []
    value = _objective(1.0)

    def evaluate(jobs: list[Job]) -> list[float]:
        batches.append(jobs)
        return [value(j) for j in jobs]

    results = search(study, SPACE, evaluate, n_trials=5, n_jobs=2, replicas=3)
    assert [len(b) for b in batches] == [6, 6, 3]  # 2 trials x 3 replicas per batch; the budget ends it
    for batch in batches:
        by_trial: dict[int, list[int]] = {}
        for j in batch:
            assert j.role == TRIAL
            by_trial.setdefault(j.trial, []).append(j.replica)
        assert all(reps == [0, 1, 2] for reps in by_trial.values())
    for r, t in zip(results, study.trials, strict=True):
        values = [value(Job(TRIAL, i, t.params, t.number)) for i in range(3)]
        assert t.value == pytest.approx(np.mean(values)) == pytest.approx(r.mean)
        assert t.user_attrs["sd"] == pytest.approx(np.std(values, ddof=1))
        assert t.user_attrs["replica_values"] == pytest.approx(values)


def test_a_failed_job_fails_its_trial_and_the_study_goes_on(tmp_path: Path) -> None:
    study = _study(tmp_path)

    def evaluate(jobs: list[Job]) -> list[float | None]:
        # Trial 1's second replica fails (None), trial 3 returns NaN: both FAIL, the rest complete.
        return [None if (j.trial == 1 and j.replica == 1) else math.nan if j.trial == 3 else 1.0 for j in jobs]

    results = search(study, SPACE, evaluate, n_trials=5, replicas=2)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "FAIL", "COMPLETE"]
    assert results[1].reason == "replica 1 returned no value"
    assert study.trials[1].user_attrs["fail_reason"] == "replica 1 returned no value"
    assert counted_trials(study) == 5  # a failed trial uses the budget: the study does not loop on it


def test_an_interrupted_batch_leaves_nothing_running_and_is_asked_again(tmp_path: Path) -> None:
    study = _study(tmp_path)
    calls = []

    def evaluate(jobs: list[Job]) -> list[float]:
        calls.append(jobs)
        if len(calls) == 2:
            raise KeyboardInterrupt("terminated by signal 15")
        return [float(j.params["x"]) for j in jobs]

    with pytest.raises(KeyboardInterrupt):
        search(study, SPACE, evaluate, n_trials=6, n_jobs=2)
    assert [(t.state.name, t.user_attrs.get(INTERRUPTED_ATTR)) for t in study.trials] == [
        ("COMPLETE", None), ("COMPLETE", None), ("FAIL", True), ("FAIL", True)]
    assert counted_trials(study) == 2  # interrupted trials do not use the budget
    interrupted = [t.params for t in study.trials[2:]]

    resumed = _study(tmp_path)
    assert requeue_interrupted(resumed) == 2 and requeue_interrupted(resumed) == 0  # once
    asked: list[dict] = []
    search(resumed, SPACE, lambda jobs: [asked.append(dict(j.params)) or 1.0 for j in jobs], n_trials=6, n_jobs=2)
    assert asked[:2] == interrupted  # the interrupted parameters first
    assert counted_trials(resumed) == 6
    assert sum(t.state.name == "COMPLETE" for t in resumed.trials) == 6


def test_confirmation_of_a_real_effect_says_better_with_its_interval() -> None:
    value = _objective(2.0)
    rounds = []
    c = confirm(lambda jobs: [value(j) for j in jobs], best_number=7, best_params={"x": 0.9, "k": "a"},
                direction="maximize", first_replica=4, settings=SequentialSettings(),
                on_round=lambda conf: rounds.append(conf.rounds[-1]["replicas"]))
    assert c.outcome == "better" and c.low > 0
    assert rounds == [r["replicas"] for r in c.rounds] and rounds[0] == 3
    replicas = sorted(c.values[BEST])
    assert replicas[0] == 4 and replicas == sorted(c.values[BASELINE])  # fresh, paired
    assert c.values[BASELINE][4] == pytest.approx(value(Job(BASELINE, 4)))
    sentence = c.sentence("OBJ", "x=0.9")
    assert sentence.startswith("trial #7 (x=0.9) confirmed better than the baseline: +")
    assert "95% confidence sequence [+" in sentence and f"replicas 4..{replicas[-1]}" in sentence


def test_confirmation_of_no_effect_is_not_better_and_minimising_flips_the_sign() -> None:
    same = confirm(lambda jobs: [5.0 + PALETTE[j.replica] for j in jobs], best_number=0, best_params={"x": 1},
                   direction="maximize", first_replica=2, settings=SequentialSettings())
    assert same.outcome == "equivalent" and (same.low, same.high) == (0.0, 0.0)
    assert "not better: equivalent to the baseline within ±0.3 OBJ" in same.sentence()
    # Lower is better when minimising: the best trial's higher values are worse.
    value = _objective(2.0)
    worse = confirm(lambda jobs: [value(j) for j in jobs], best_number=0, best_params={"x": 1.0, "k": "a"},
                    direction="minimize", first_replica=2, settings=SequentialSettings())
    assert worse.outcome == "worse"
    noisy = confirm(lambda jobs: [value(j) + np.random.default_rng(j.replica).normal(0, 5) * (j.role == BEST)
                                  for j in jobs], best_number=0, best_params={"x": 0.01, "k": "a"},
                    direction="maximize", first_replica=0, settings=SequentialSettings(max_replicas=4))
    assert noisy.outcome == "undecided" and noisy.decision == "undecided"
    assert "not shown better" in noisy.sentence()


def test_a_failed_confirmation_job_drops_its_pair() -> None:
    value = _objective(2.0)
    c = confirm(lambda jobs: [None if j.replica == 5 and j.role == BEST else value(j) for j in jobs],
                best_number=0, best_params={"x": 1.0, "k": "a"}, direction="maximize", first_replica=4,
                settings=SequentialSettings(min_replicas=3, max_replicas=5))
    assert math.isnan(c.values[BEST][5]) and c.rounds[-1]["n"] == c.rounds[-1]["replicas"] - 1


def test_the_optuna_journal_survives_a_new_process_view(tmp_path: Path) -> None:
    study = _study(tmp_path)
    search(study, SPACE, lambda jobs: [1.0 for _ in jobs], n_trials=2)
    again = optuna.load_study(study_name="s", storage=open_storage(None, default_path=tmp_path / "optuna.journal"))
    assert len(again.trials) == 2
