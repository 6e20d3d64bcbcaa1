"""The study's metric: a candidate's set on a brief's replica, played once (memory and disk
cache), retried on failure and then *failed* (never a zero), with the feedback the reflection
reads; what GEPA and the acceptance test see of it; the budgets; the prompt file written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rlmdj.config.optimize import OptimizeConfig
from rlmdj.errors import ParameterError
from rlmdj.experiments.outcome import RunOutcome
from rlmdj.optimize.briefs import Brief, Splits
from rlmdj.optimize.budget import BudgetSpent, StudyBudget, iteration_calls
from rlmdj.optimize.pairs import FailedRollout
from rlmdj.optimize.program import FAILED, DJAdapter, Example, scorer_for
from rlmdj.optimize.rollout import Rollouts, feedback_text, text_hash
from rlmdj.scoring.base import ScoreResult, WindowScore

AXES = {"CE": 6.0, "CU": 6.0, "PC": 5.0, "PQ": 7.0}
B1, B2 = Brief("p1", "/x/p1.json", 16, 11), Brief("p2", "/x/p2.json", 16, 22)

HISTORY = [{"bar": b, "phase": "intro" if b < 4 else "build", "energy": 0.3, "target_energy": 0.5, "layers": 2}
           for b in range(8)]
TRACE = [{"bar": 2, "tool": "add", "args": ["texture", 0.9], "result": {"ok": True, "corrections": [
             {"kind": "gain_cap", "role": "texture", "detail": "0.90 capped to 0.55"}]}},
         {"bar": 5, "tool": "mute", "args": ["snare"], "result": {"ok": False, "error": "no role snare",
                                                                  "hint": "mute('kick')"}}]
FEEDBACK = [{"bar": 8, "kind": "critique", "text": "energy below target in the build"}]


class FakeRunSet:
    """``run_set`` standing in for the real one: OBJ from the prompt text and the replica; fails
    ``fail`` times first (or always, ``fail=-1``); writes the dj/*.json files a set leaves."""

    def __init__(self, fail: int = 0) -> None:
        self.calls: list[dict] = []
        self.fail = fail

    def __call__(self, cfg, *, parent_run_id=None, extra_tags=None, quiet=False):
        text = Path(cfg.prompt.path).read_text()
        self.calls.append({"text": text, "palette": cfg.palette.name, "replica": cfg.replica, "bars": cfg.bars,
                           "parent": parent_run_id, "tags": dict(extra_tags or {})})
        if self.fail:
            self.fail -= 1
            raise RuntimeError("sandbox crashed")
        out = Path(cfg.paths.output_dir)
        (out / "dj").mkdir(parents=True, exist_ok=True)
        for name, data in (("history.json", HISTORY), ("tool_trace.json", TRACE), ("feedback.json", FEEDBACK)):
            (out / "dj" / name).write_text(json.dumps(data))
        score = ScoreResult("proxy", "proxy-test", {**AXES, "CE": 5.0 + len(text) % 3 + (cfg.replica % 7) / 10},
                            windows=[WindowScore(0.0, 7.5, 1.0, AXES), WindowScore(7.5, 7.5, 1.0, AXES)])
        return RunOutcome(run_id=f"run{len(self.calls)}", status="FINISHED", config_hash="h", output_dir=out,
                          score=score, metrics={"dj/cost_usd": 0.01, "dj/tool_errors": 1.0})


@pytest.fixture()
def cfg(compose_cfg, tmp_path):
    return compose_cfg("dj=rlm", "model=local", "prompt=baseline", "model.retries=2", "tracking.enabled=false")


@pytest.fixture()
def fake(monkeypatch):
    f = FakeRunSet()
    monkeypatch.setattr("rlmdj.experiments.jobs.run.run_set", f)
    return f


def test_a_set_is_played_once_per_candidate_brief_and_replica(cfg, fake, tmp_path):
    state = tmp_path / "state"
    r = Rollouts(cfg, state, parent_run_id="parent")
    a = r.evaluate("play long", B1, 0, split="train")
    assert r.evaluate("play long", B1, 0, split="train") is a and len(fake.calls) == 1
    r.evaluate("play long", B1, 1, split="train")
    r.evaluate("play short", B1, 0, split="train")
    assert len(fake.calls) == 3 and r.played == 3
    call = fake.calls[0]
    assert call["text"] == "play long" and call["palette"] == "p1" and call["bars"] == 16 and call["parent"] == "parent"
    assert call["tags"]["rlmdj.optimize.candidate"] == text_hash("play long")
    assert call["tags"]["rlmdj.optimize.brief"] == B1.id and call["tags"]["rlmdj.optimize.split"] == "train"
    # A new process (a resumed study) reads the cache from the state: nothing is played again.
    again = Rollouts(cfg, state, parent_run_id="other")
    assert again.evaluate("play long", B1, 0, split="train").obj == a.obj and len(fake.calls) == 3


def test_a_failing_set_is_retried_then_failed_not_zero(cfg, monkeypatch, tmp_path):
    always = FakeRunSet(fail=-1)
    monkeypatch.setattr("rlmdj.experiments.jobs.run.run_set", always)
    r = Rollouts(cfg, tmp_path / "s", parent_run_id=None)
    got = r.evaluate("x", B1, 0, split="val")
    assert got.failed and got.obj is None and got.attempts == 3 and len(always.calls) == 3  # model.retries=2
    assert "sandbox crashed" in got.error and "failed" in got.feedback
    assert r.evaluate("x", B1, 0, split="val") is got and len(always.calls) == 3  # recorded, not replayed
    flaky = FakeRunSet(fail=1)
    monkeypatch.setattr("rlmdj.experiments.jobs.run.run_set", flaky)
    ok = r.evaluate("x", B2, 0, split="val")
    assert not ok.failed and ok.attempts == 2 and math.isfinite(ok.obj)


def test_a_setting_error_stops_the_study_instead_of_failing_a_set(cfg, monkeypatch, tmp_path):
    def bad(*a, **k):
        raise ParameterError("palette.path: gone")

    monkeypatch.setattr("rlmdj.experiments.jobs.run.run_set", bad)
    with pytest.raises(ParameterError, match="palette.path"):
        Rollouts(cfg, tmp_path / "s", parent_run_id=None).evaluate("x", B1, 0, split="train")


def test_feedback_names_corrections_critique_energy_errors_and_windows(cfg, fake, tmp_path):
    text = Rollouts(cfg, tmp_path / "s", parent_run_id=None).evaluate("x", B1, 0, split="train").feedback
    assert text.startswith("OBJ ")
    assert "gain_cap on texture: 0.90 capped to 0.55" in text
    assert "bar 8: critique: energy below target in the build" in text
    assert "intro (bars 1-4): energy 0.30 vs target 0.50 (-0.20)" in text
    assert "mute('snare'): no role snare (hint: mute('kick'))" in text
    assert "bars 1-4:" in text and "bars 5-8:" in text  # 7.5 s windows at 128 BPM = 4 bars each
    assert "tool_errors=1" in text


def test_feedback_leaves_out_empty_sections():
    score = ScoreResult("proxy", "p", AXES)
    text = feedback_text(score=score, bpm=128, history=[], feedback=[], trace=[], metrics={})
    assert text.count("\n") == 0 and "Guardrail" not in text


def test_gepa_sees_a_failure_as_minus_infinity_and_acceptance_as_failed(cfg, monkeypatch, tmp_path):
    monkeypatch.setattr("rlmdj.experiments.jobs.run.run_set", FakeRunSet(fail=-1))
    r = Rollouts(cfg, tmp_path / "s", parent_run_id=None)
    batch = DJAdapter(r).evaluate([Example(B1, 0, "train")], {"instructions": "x"}, capture_traces=True)
    assert batch.scores == [FAILED] and batch.trajectories[0].failed
    rows = DJAdapter(r).make_reflective_dataset({"instructions": "x"}, batch, ["instructions"])["instructions"]
    assert "FAILED" in rows[0]["Generated Outputs"] and rows[0]["Feedback"]
    splits = Splits((B1,), (B2,), ())
    score = scorer_for(r, splits, [Example(B1, 0, "train")])
    with pytest.raises(FailedRollout):
        score({"instructions": "x"}, 0, 0)


def test_scorer_maps_gepa_ids_and_brief_ids(cfg, fake, tmp_path):
    r = Rollouts(cfg, tmp_path / "s", parent_run_id=None)
    splits = Splits((B1,), (), (B2,))
    score = scorer_for(r, splits, [Example(B1, 0, "train")])
    assert score({"instructions": "y"}, 0, 2) == r.cached("y", B1, 2).obj
    score({"instructions": "y"}, B2.id, 1)
    assert fake.calls[-1]["tags"]["rlmdj.optimize.split"] == "heldout"


def test_budgets_stop_with_their_reason(tmp_path):
    s = OptimizeConfig(max_metric_calls=2, max_cost_usd=1.0)
    b = StudyBudget(s)
    b.admit()
    b.record(0.1)
    b.record(0.1)
    with pytest.raises(BudgetSpent, match="max_metric_calls"):
        b.admit()
    assert b(None) and b.reason.startswith("max_metric_calls: 2 of 2")
    b.confirming = True  # the confirmation is capped by its pairs; cost still stops it
    b.admit()
    b.set_cost_usd = 1.5
    with pytest.raises(BudgetSpent, match="max_cost_usd"):
        b.admit()
    b.save(tmp_path / "b.json")
    c = StudyBudget(s)
    c.load(tmp_path / "b.json")
    assert c.prior_wall_s >= 0 and c.prior_reflection_usd == 0
    assert iteration_calls(OptimizeConfig(n_val=3, val_replicas=2, minibatch=3)) == 18


def test_prompt_files_never_overwrite_and_their_header_is_not_sent(tmp_path):
    from rlmdj.dj.rlm_inputs import prompt_text
    from rlmdj.optimize.lineage import write_prompt_file

    a = write_prompt_file(tmp_path, "baseline", "Play long.\n", ["from: prompt=baseline"])
    b = write_prompt_file(tmp_path, "baseline", "Play longer.\n", ["from: prompt=baseline"])
    assert (a.name, b.name) == ("baseline_opt_1.txt", "baseline_opt_2.txt")
    assert "baseline_opt_2" in b.read_text().splitlines()[0]
    cfg = OmegaConf.create({"prompt": {"name": "baseline_opt_1", "path": str(a)}, "paths": {"prompts_dir": "/nope"}})
    assert prompt_text(cfg) == ("baseline_opt_1", "Play long.\n")


def test_a_written_prompt_is_an_option_of_the_prompt_group(tmp_path, compose_cfg, monkeypatch):
    from rlmdj.config.root import register_prompt_files
    from rlmdj.optimize.lineage import write_prompt_file

    path = write_prompt_file(tmp_path / "prompts", "baseline", "Play long.\n", ["x"])
    assert register_prompt_files([tmp_path / "prompts"]) == ["baseline_opt_1"]
    cfg = compose_cfg("prompt=baseline_opt_1")
    assert cfg.prompt.path == str(path.resolve()) and cfg.prompt.name == "baseline_opt_1"
