"""The palette search's space, study and ask/tell loop on a tiny hand-made pack (no audio)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import optuna
import pytest

from rlmdj.audio.sample_info import SampleInfo
from rlmdj.audio.samples import SampleIndex
from rlmdj.errors import ParameterError
from rlmdj.search.loop import counted_trials, requeue_interrupted
from rlmdj.search.palettes import (
    ERROR_ATTR,
    SCORES_ATTR,
    PaletteStudy,
    Scored,
    curated_starts,
    palette_space,
    run_trials,
)
from rlmdj.search.study import INTERRUPTED_ATTR


def _info(sid: str, role: str, kind: str) -> SampleInfo:
    loop = kind == "loop"
    return SampleInfo(id=sid, role=role, kind=kind, bars=1 if loop else None, bpm=128.0 if loop else None,
                      duration_s=1.0, sr=44100, channels=2, sha256=sid, source="test", character="", path=sid)


@pytest.fixture()
def index() -> SampleIndex:
    """kick: 3 one-shots and a kick *loop* (never a choice); bassline: 2 loops and a one-shot."""
    return SampleIndex([_info("kick-0", "kick", "oneshot"), _info("kick-1", "kick", "oneshot"),
                        _info("kick-2", "kick", "oneshot"), _info("kick-loop", "kick", "loop"),
                        _info("bass-0", "bassline", "loop"), _info("bass-1", "bassline", "loop"),
                        _info("bass-hit", "bassline", "oneshot")])


SPACE = {"kick": ("kick-0", "kick-1", "kick-2"), "bassline": ("bass-0", "bass-1")}
# A synthetic objective: each sample adds its worth; kick-2 + bass-1 is the best palette.
WORTH = {"kick-0": 0.0, "kick-1": 0.5, "kick-2": 1.0, "bass-0": 0.0, "bass-1": 2.0}


def _study(space: Mapping = SPACE, sampler: optuna.samplers.BaseSampler | None = None) -> PaletteStudy:
    return PaletteStudy(optuna.create_study(direction="maximize", sampler=sampler or optuna.samplers.RandomSampler(0)),
                        space)


class FakeEvaluator:
    """Scores palettes by WORTH, ``slots`` in flight; ``fail`` names trials whose evaluation raises."""

    def __init__(self, slots: int, fail: set[int] = frozenset(), interrupt_at: int | None = None) -> None:
        self.slots, self.fail, self.interrupt_at = slots, fail, interrupt_at
        self.pending: list[tuple[int, dict]] = []
        self.most_in_flight = 0
        self.seen: list[dict] = []

    def submit(self, number: int, samples: Mapping[str, str]) -> None:
        self.pending.append((number, dict(samples)))
        self.seen.append(dict(samples))
        self.most_in_flight = max(self.most_in_flight, len(self.pending))

    def collect(self):
        number, samples = self.pending.pop(0)
        if number == self.interrupt_at:
            raise KeyboardInterrupt
        if number in self.fail:
            return [(number, RuntimeError(f"palette {number} breaks the renderer"))]
        obj = sum(WORTH[s] for s in samples.values())
        return [(number, Scored(obj, {"CE": obj, "PQ": 1.0}))]


def test_the_space_holds_each_roles_samples_of_the_kind_its_slot_needs(index):
    assert palette_space(index, ["kick", "bassline"]) == SPACE


@pytest.mark.parametrize("roles, words", [
    ([], ["palette.roles is empty"]),
    (["kick", "texture"], ["palette.roles", "no loop sample with role 'texture'"]),
])
def test_a_role_without_samples_is_one_line_naming_palette_roles(index, roles, words):
    with pytest.raises(ParameterError) as err:
        palette_space(index, roles)
    assert all(w in str(err.value) for w in words) and "\n" not in str(err.value)


def test_asked_palettes_fit_the_space_and_told_ones_keep_their_scores():
    study = _study()
    number, samples = study.ask()
    assert set(samples) == set(SPACE) and all(samples[r] in SPACE[r] for r in SPACE)
    study.tell(number, Scored(1.5, {"CE": 2.0}))
    trial = study.study.trials[0]
    assert trial.value == 1.5 and trial.user_attrs[SCORES_ATTR] == {"CE": 2.0}
    assert study.rows()[0].samples == samples


def test_the_loop_keeps_the_evaluator_busy_and_tells_every_trial():
    study, ev = _study(), FakeEvaluator(slots=3)
    told = []
    run_trials(study, 7, ev, lambda n, o: told.append(n))
    assert len(study.study.trials) == 7 and sorted(told) == list(range(7))
    assert ev.most_in_flight == 3  # never more in flight than the evaluator's slots, and it used them
    rows = study.rows()
    assert [r.obj for r in rows] == sorted((r.obj for r in rows), reverse=True)
    assert all(r.obj == sum(WORTH[s] for s in r.samples.values()) for r in rows)


def test_a_failed_trial_is_told_fail_with_its_reason_and_the_study_goes_on():
    study = _study()
    run_trials(study, 6, FakeEvaluator(slots=2, fail={1, 4}))
    states = [t.state.name for t in study.study.trials]
    assert states.count("FAIL") == 2 and states.count("COMPLETE") == 4 and study.failed() == 2
    failed = study.study.trials[1]
    assert "breaks the renderer" in failed.user_attrs[ERROR_ATTR] and len(study.rows()) == 4
    assert counted_trials(study.study) == 6  # failures use the budget


def test_an_interrupted_search_leaves_no_trial_running_and_asks_them_again():
    study = _study()
    ev = FakeEvaluator(slots=3, interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_trials(study, 8, ev)
    trials = study.study.trials
    assert not [t for t in trials if t.state.name == "RUNNING"]
    interrupted = [t for t in trials if t.user_attrs.get(INTERRUPTED_ATTR)]
    assert len(interrupted) == 3 and counted_trials(study.study) == 2  # trials 0 and 1 were told
    assert requeue_interrupted(study.study) == 3
    resumed = PaletteStudy(study.study, SPACE)
    again = FakeEvaluator(slots=1)
    run_trials(resumed, 3, again)
    assert again.seen == [dict(t.params) for t in interrupted]  # the open palettes, asked first


def test_tpe_finds_the_best_palette_of_a_small_space():
    study = _study(sampler=optuna.samplers.TPESampler(seed=1, n_startup_trials=3))
    run_trials(study, 15, FakeEvaluator(slots=1))
    assert study.rows()[0].samples == {"kick": "kick-2", "bassline": "bass-1"}


def _curated(folder, name, samples, **meta):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"name": name, "samples": samples, "meta": meta}))


def test_warm_starts_are_the_best_curated_palettes_that_fit_judged_alike_first(tmp_path):
    folder = tmp_path / "curated"
    _curated(folder, "a", {"kick": "kick-0", "bassline": "bass-0"}, OBJ=7.5, scorer="audiobox", bars=32)
    _curated(folder, "b", {"kick": "kick-1", "bassline": "bass-0"}, OBJ=6.0, scorer="proxy", bars=8)
    _curated(folder, "c", {"kick": "kick-2", "bassline": "bass-1", "clap": "clap-3"}, OBJ=6.5, scorer="proxy", bars=8)
    _curated(folder, "d", {"kick": "kick-2", "bassline": "bass-1"}, OBJ=6.4, scorer="proxy", bars=8)  # same as c
    _curated(folder, "e", {"kick": "kick-loop", "bassline": "bass-1"}, OBJ=9.0, scorer="proxy", bars=8)
    _curated(folder, "f", {"kick": "kick-0"}, OBJ=9.0, scorer="proxy", bars=8)  # misses a role
    _curated(folder, "g", {"kick": "kick-1", "bassline": "bass-1"}, scorer="proxy", bars=8)  # no OBJ
    (folder / "h.json").write_text("{not json")
    starts = curated_starts(folder, SPACE, scorer="proxy", bars=8, limit=5)
    assert starts == [{"kick": "kick-2", "bassline": "bass-1"}, {"kick": "kick-1", "bassline": "bass-0"},
                      {"kick": "kick-0", "bassline": "bass-0"}]
    assert curated_starts(folder, SPACE, scorer="proxy", bars=8, limit=1) == starts[:1]
    assert curated_starts(tmp_path / "none", SPACE, scorer="proxy", bars=8, limit=3) == []


def test_enqueued_palettes_are_asked_first():
    study = _study()
    first = [{"kick": "kick-2", "bassline": "bass-1"}, {"kick": "kick-0", "bassline": "bass-1"}]
    study.enqueue(first)
    ev = FakeEvaluator(slots=1)
    run_trials(study, 4, ev)
    assert ev.seen[:2] == first
