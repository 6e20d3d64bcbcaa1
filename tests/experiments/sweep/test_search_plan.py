"""The search sweeper's settings and its space and jobs, read from Hydra's override grammar."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from rlmdj.errors import ParameterError
from rlmdj.experiments.sweep.search import (
    SearchSettings,
    format_value,
    plan_search,
    probe_jobs,
    study_name,
)
from rlmdj.search.loop import BASELINE, TRIAL, Job
from rlmdj.search.study import open_storage


@pytest.mark.parametrize("kwargs, words", [
    ({"n_trials": 0}, "hydra.sweeper.n_trials must be between 1 and"),
    ({"n_trials": 2.5}, "hydra.sweeper.n_trials must be a whole number"),
    ({"n_jobs": 0}, "hydra.sweeper.n_jobs must be between 1"),
    ({"replicas": 0}, "hydra.sweeper.replicas must be between 1"),
    ({"seed": -1}, "hydra.sweeper.seed must be between 0"),
    ({"direction": "up"}, "hydra.sweeper.direction=up: choose maximize or minimize"),
    ({"sampler": "anneal"}, "hydra.sweeper.sampler=anneal: unknown sampler; choose one of tpe, random, cmaes"),
    ({"study_name": " "}, "hydra.sweeper.study_name must be null or a name"),
    ({"confirm": "yes"}, "hydra.sweeper.confirm must be true, false or null"),
    ({"confirmation": {"min_replicas": 1}}, "hydra.sweeper.confirmation.min_replicas must be >= 2"),
    ({"confirmation": {"alpha": 2}}, "hydra.sweeper.confirmation.alpha must be in (0, 1)"),
])
def test_bad_settings_are_one_line_naming_the_key(kwargs: dict, words: str) -> None:
    with pytest.raises(ParameterError) as err:
        SearchSettings(**kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_confirmation_is_on_by_default_only_with_replicas() -> None:
    assert not SearchSettings().confirming
    assert SearchSettings(replicas=4).confirming
    assert not SearchSettings(replicas=4, confirm=False).confirming
    assert SearchSettings(confirm=True).confirming
    assert SearchSettings(confirmation={"max_replicas": 8}).confirmation.max_replicas == 8


def test_the_override_grammar_becomes_a_space() -> None:
    plan = plan_search({"dj.candidates": "range(1,13)", "guardrails.energy_tolerance": "interval(0.05, 0.5)",
                        "bpm": "int(interval(120,135))", "x.rate": "tag(log, interval(0.001, 1))",
                        "dj": "choice(greedy, random)", "replica": "range(5)"}, ["bars=8"])
    kinds = {p.key: (p.kind, p.low, p.high, p.step, p.log, p.choices) for p in plan.space}
    assert kinds == {
        "dj.candidates": ("int", 1, 12, 1, False, ()),
        "guardrails.energy_tolerance": ("float", 0.05, 0.5, None, False, ()),
        "bpm": ("int", 120, 135, None, False, ()),
        "x.rate": ("float", 0.001, 1.0, None, True, ()),
        "dj": ("choice", None, None, None, False, ("greedy", "random")),
    }  # an overlay's replica range is the sweeper's replicas
    assert plan.fixed == ["bars=8"]
    assert [p.name for p in plan.space][0] == "hydra.sweeper.params.dj.candidates"


def test_the_command_line_searches_too_and_a_plain_value_is_the_baseline() -> None:
    plan = plan_search({"dj.candidates": "range(1,13)"},
                       ["dj=greedy", "dj.candidates=1", "dj.candidates=choice(2,4)", "guardrails.density=false,true"])
    assert {p.key: p.choices for p in plan.space} == {"dj.candidates": (2, 4), "guardrails.density": (False, True)}
    assert plan.baseline_values() == {"dj.candidates": "1"}
    assert plan.overrides(Job(BASELINE, 5)) == ["dj=greedy", "dj.candidates=1", "replica=5"]
    trial = Job(TRIAL, 2, {"dj.candidates": 4, "guardrails.density": True}, 3)
    assert plan.overrides(trial) == ["dj=greedy", "dj.candidates=4", "guardrails.density=true", "replica=2"]


def test_nested_params_from_the_command_line_read_as_dotted_keys() -> None:
    plan = plan_search({"dj": {"candidates": "range(1,4)"}}, [])
    assert [(p.key, p.low, p.high) for p in plan.space] == [("dj.candidates", 1, 3)]


@pytest.mark.parametrize("params, args, words", [
    ({}, ["bars=8"], "hydra.sweeper.params: the search space is empty"),
    ({"x": "interval(5, 1)"}, [], "hydra.sweeper.params.x: interval(5, 1) is empty: lo must be < hi"),
    ({"x": "range(5, 1)"}, [], "hydra.sweeper.params.x: range(5, 1) has no values"),
    ({"x": "choice()"}, [], "hydra.sweeper.params.x: empty choice is not legal"),
    ({"x": "tag(log, interval(0, 1))"}, [], "hydra.sweeper.params.x: tag(log, ...) needs lo > 0"),
    ({"x": "interval(1"}, [], "hydra.sweeper.params.x:"),
    ({}, ["replica=range(3)"], "the search sweeper chooses the replicas"),
    ({"x": "range(3)"}, ["replica=2"], "the search sweeper chooses the replicas"),
    ({}, ["tracking.uri=a,b"], "tracking.uri cannot be searched"),
    ({"x": "glob(*)"}, [], "hydra.sweeper.params.x: the search sweeper takes choice(), range() and interval()"),
])
def test_an_impossible_space_is_one_line_naming_the_key(params: dict, args: list[str], words: str) -> None:
    with pytest.raises(ParameterError) as err:
        plan_search(params, args)
    assert words in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_probe_jobs_cover_the_baseline_and_every_value_a_trial_could_draw() -> None:
    plan = plan_search({"bars": "choice(8, 0)", "guardrails.energy_tolerance": "interval(0.1, 0.5)"}, ["dj=random"])
    assert [name for name, _ in probe_jobs(plan)] == [
        "baseline", "hydra.sweeper.params.bars=8", "hydra.sweeper.params.bars=0",
        "hydra.sweeper.params.guardrails.energy_tolerance=0.1",
        "hydra.sweeper.params.guardrails.energy_tolerance=0.3",
        "hydra.sweeper.params.guardrails.energy_tolerance=0.5"]
    assert probe_jobs(plan)[2][1] == ["dj=random", "bars=0", "replica=0"]


@pytest.mark.parametrize("value", ["greedy", "a b", "x,y", "true", "it's", "null", "1", "", "a=b", "(x)", True,
                                   False, None, 3, -2, 0.1, 1e-07, 2.5e10])
def test_a_drawn_value_reads_back_as_itself(value) -> None:
    [o] = OverridesParser.create().parse_overrides([f"key={format_value(value)}"])
    assert o.value() == value and type(o.value()) is type(value)


def test_each_sweep_writes_a_new_study_and_resume_continues_the_last(tmp_path: Path) -> None:
    import optuna

    storage = open_storage(None, default_path=tmp_path / "optuna.journal")
    settings = SearchSettings()
    first = study_name(settings, storage, definition="abc", resume=False)
    assert first == "rlmdj-search-abc"
    optuna.create_study(study_name=first, storage=storage)
    second = study_name(settings, storage, definition="abc", resume=False)
    assert second == "rlmdj-search-abc-2"
    optuna.create_study(study_name=second, storage=storage)
    assert study_name(settings, storage, definition="abc", resume=True) == "rlmdj-search-abc-2"
    assert study_name(settings, storage, definition="other", resume=True) == "rlmdj-search-other"
    named = SearchSettings(study_name="mine")
    study = optuna.create_study(study_name="mine", storage=storage)
    assert study_name(named, storage, definition="x", resume=False) == "mine"  # empty: reused
    study.tell(study.ask(), 1.0)
    with pytest.raises(ParameterError, match="study_name=mine: the study already has 1 trial"):
        study_name(named, storage, definition="x", resume=False)
    assert study_name(named, storage, definition="x", resume=True) == "mine"
