"""The Optuna side every search shares: spaces, storage, samplers, studies, summaries and plots."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from rlmdj.errors import ParameterError
from rlmdj.search.space import Param, check_space, distributions, grid_probe
from rlmdj.search.study import (
    INTERRUPTED_ATTR,
    check_storage,
    default_storage_path,
    describe_storage,
    fail_stale_trials,
    make_sampler,
    open_storage,
    open_study,
    save_plots,
    summarise,
)

FLOATS = {"x": optuna.distributions.FloatDistribution(0, 1), "y": optuna.distributions.IntDistribution(1, 5)}


# ----------------------------------------------------------------------------- space
@pytest.mark.parametrize("param, words", [
    (Param("a", "choice", (), where="hydra.sweeper.params.a"), ["hydra.sweeper.params.a", "no values"]),
    (Param("a", "choice", (1, 1)), ["a:", "repeats"]),
    (Param("a", "choice", ([1], 2)), ["a:", "strings, numbers"]),
    (Param("a", "float", low=5, high=1), ["a:", "interval(5, 1) is empty"]),
    (Param("a", "float", low=1, high=1), ["a:", "empty"]),
    (Param("a", "int", low=5, high=1), ["a:", "empty"]),
    (Param("a", "float", low=0, high=1, log=True), ["a:", "log", "lo > 0"]),
    (Param("a", "float", low=0, high=math.inf), ["a:", "finite"]),
    (Param("a", "int", low=0.5, high=3), ["a:", "whole"]),
    (Param("a", "float", low=0, high=1, step=0), ["a:", "step"]),
])
def test_a_space_optuna_cannot_sample_is_one_line_naming_the_key(param: Param, words: list[str]) -> None:
    with pytest.raises(ParameterError) as err:
        check_space([param])
    assert all(w in str(err.value) for w in words), str(err.value)
    assert "\n" not in str(err.value)


def test_an_empty_space_and_a_key_searched_twice_are_refused() -> None:
    with pytest.raises(ParameterError, match="search space is empty"):
        check_space([])
    with pytest.raises(ParameterError, match="searched twice"):
        check_space([Param("a", "choice", (1, 2)), Param("a", "int", low=1, high=3)])


def test_params_become_optuna_distributions_and_probe_every_value_a_trial_could_draw() -> None:
    space = [Param("c", "choice", ("x", 2, True)), Param("n", "int", low=1, high=12, step=3),
             Param("f", "float", low=0.001, high=1, log=True), Param("g", "float", low=0, high=1)]
    d = distributions(space)
    assert d["c"] == optuna.distributions.CategoricalDistribution(["x", 2, True])
    assert d["n"] == optuna.distributions.IntDistribution(1, 10, step=3)  # the last value range reaches
    assert d["f"] == optuna.distributions.FloatDistribution(0.001, 1, log=True)
    probe = grid_probe(space)
    assert [v for k, v in probe if k == "c"] == ["x", 2, True]
    assert [v for k, v in probe if k == "n"] == [1, 10]
    assert [v for k, v in probe if k == "g"] == [0, 0.5, 1]  # a float's middle: an int key refuses it
    assert [v for k, v in probe if k == "f"][1] == pytest.approx(math.sqrt(0.001))


# ---------------------------------------------------------------------------- storage
def test_the_default_journal_lies_beside_a_local_mlflow_store(tmp_path: Path) -> None:
    assert default_storage_path("sqlite:////data/x/mlruns.db", fallback_dir=tmp_path) == Path("/data/x/optuna.journal")
    assert default_storage_path("sqlite:///rel/mlruns.db", fallback_dir=tmp_path) == Path("rel/optuna.journal")
    assert default_storage_path("file:///data/mlruns", fallback_dir=tmp_path) == Path("/data/optuna.journal")
    assert default_storage_path("/data/mlruns", fallback_dir=tmp_path) == Path("/data/optuna.journal")
    assert default_storage_path("http://host:5000", fallback_dir=tmp_path) == tmp_path / "optuna.journal"


def test_a_storage_that_cannot_be_opened_is_one_line_and_checking_creates_nothing(tmp_path: Path) -> None:
    default = tmp_path / "new" / "optuna.journal"
    check_storage(None, default_path=default)
    assert not (tmp_path / "new").exists()
    bad = [(str(tmp_path), "folder"), ("/proc/no/such/optuna.journal", "cannot open the journal"),
           ("redis://localhost", "not a journal file path nor a database URL"), ("  ", "empty string"),
           ("postgresql://u:secret@127.0.0.1:1/db", "cannot open the database")]
    for spec, words in bad:
        with pytest.raises(ParameterError) as err:
            check_storage(spec, default_path=default)
        message = str(err.value)
        assert message.startswith("hydra.sweeper.storage") and words in message and "\n" not in message
        assert "secret" not in message  # a database password never shows
    assert describe_storage("postgresql://u:secret@h/db", default_path=default) == "database postgresql://u:***@h/db"


def test_two_processes_share_one_journal_study(tmp_path: Path) -> None:
    path = tmp_path / "optuna.journal"
    one = open_study(name="s", storage=open_storage(None, default_path=path), direction="maximize",
                     sampler="random", seed=1, distributions=FLOATS)
    t = one.ask(FLOATS)
    one.tell(t, 1.0)
    other = optuna.load_study(study_name="s", storage=open_storage(str(path), default_path=tmp_path / "x"))
    assert [tr.value for tr in other.trials] == [1.0]


# ---------------------------------------------------------------------------- samplers
def test_samplers_by_name_and_cmaes_only_where_the_space_allows() -> None:
    assert isinstance(make_sampler("tpe", seed=0), optuna.samplers.TPESampler)
    assert isinstance(make_sampler("random", seed=0), optuna.samplers.RandomSampler)
    assert isinstance(make_sampler("cmaes", seed=0, distributions=FLOATS), optuna.samplers.CmaEsSampler)
    with pytest.raises(ParameterError, match=r"hydra.sweeper.sampler=anneal: unknown sampler; choose one of tpe"):
        make_sampler("anneal", seed=0)
    choice = {**FLOATS, "c": optuna.distributions.CategoricalDistribution(["a", "b"])}
    with pytest.raises(ParameterError, match="cmaes searches numeric parameters only; c is a choice"):
        make_sampler("cmaes", seed=0, distributions=choice)
    with pytest.raises(ParameterError, match="at least two parameters"):
        make_sampler("cmaes", seed=0, distributions={"x": FLOATS["x"]})


# ----------------------------------------------------------------------------- studies
def _study(tmp_path: Path, **kw):
    args = {"name": "s", "direction": "maximize", "sampler": "random", "seed": 3, "distributions": FLOATS} | kw
    return open_study(storage=open_storage(None, default_path=tmp_path / "optuna.journal"), **args)


def test_a_reopened_study_goes_on_without_asking_its_first_trials_again(tmp_path: Path) -> None:
    first = _study(tmp_path)
    for _ in range(3):
        t = first.ask(FLOATS)
        first.tell(t, t.params["x"])
    again = _study(tmp_path)
    t = again.ask(FLOATS)
    assert t.params not in [tr.params for tr in again.trials[:3]]
    with pytest.raises(ParameterError, match="study 's' in this storage maximizes; keep direction=maximize"):
        _study(tmp_path, direction="minimize")


def test_stale_running_trials_fail_as_interrupted_and_give_their_parameters_back(tmp_path: Path) -> None:
    study = _study(tmp_path)
    done = study.ask(FLOATS)
    study.tell(done, 0.5)
    stale = study.ask(FLOATS)  # its process was killed: nobody tells it
    storage = open_storage(None, default_path=tmp_path / "optuna.journal")
    reopened = _study(tmp_path)
    assert fail_stale_trials(reopened, storage) == [stale.params]
    states = {t.number: (t.state.name, t.user_attrs.get(INTERRUPTED_ATTR)) for t in reopened.trials}
    assert states == {0: ("COMPLETE", None), 1: ("FAIL", True)}


def test_summary_and_plots(tmp_path: Path) -> None:
    study = _study(tmp_path)
    assert summarise(study).best_number is None
    assert "no trial completed" in summarise(study).line()
    for value in (1.0, 3.0, 2.0):
        t = study.ask(FLOATS)
        study.tell(t, value + t.params["y"])
    t = study.ask(FLOATS)
    study.tell(t, state=optuna.trial.TrialState.FAIL)
    s = summarise(study)
    assert (s.complete, s.failed, s.best_value) == (3, 1, study.best_value)
    assert s.best_params == study.best_params and f"best trial #{s.best_number}" in s.line()
    files = save_plots(study, tmp_path / "plots")
    assert set(files) == {"optimization_history", "param_importances"}
    for path in files.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lonely = _study(tmp_path, name="lonely")
    t = lonely.ask(FLOATS)
    lonely.tell(t, 1.0)
    assert set(save_plots(lonely, tmp_path / "lonely")) == {"optimization_history"}  # importances need two
