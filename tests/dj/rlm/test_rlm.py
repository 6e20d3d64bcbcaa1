"""The real dspy.RLM in the real Deno sandbox, driven by scripted LMs (no network, no keys)."""

from __future__ import annotations

import json

import dspy
import pytest
from scripted import ScriptedLM

from rlmdj.config.dj import DJConfig, ModelConfig, SandboxConfig
from rlmdj.dj.rlm.driver import RLMDriver, RLMSettings
from rlmdj.dj.rlm.replay import ReplayDivergence, ReplayLM, ReplaySource
from rlmdj.dj.rlm.transcript import Transcript

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

SET = [
    "print(status())",
    "print(add('kick', 0.92, 'four_on_floor'))\nprint(play(4))",
    "print(add('hihat', 0.55, 'offbeat_8ths'))\nprint(add('bassline', 0.65))\nprint(play(8))",
    "print(add('perc', 0.4, 'syncopated_a'))\nprint(add('texture', 0.35))\nprint(play(16))",
    "print(fader('perc', 0.45))\nprint(play(8))",
]


def driver(lm, **kw) -> RLMDriver:
    settings = kw.pop("settings", RLMSettings(dj=DJConfig(sandbox=SandboxConfig(timeout_s=30)), model=ModelConfig(backoff_s=0.0)))
    critic = kw.pop("critic_lm", ScriptedLM([], fallback={"direction": "hold the groove"}))
    return RLMDriver(prompt_text="You are a techno DJ.", lm=lm, critic_lm=critic,
                     settings=settings, sleep=lambda s: None, **kw)


def test_well_behaved_set_then_hard_stop(make_session):
    session = make_session(32)
    lm = ScriptedLM([*SET, "print('after the end')"])
    d = driver(lm)
    d.perform(session)
    report = d.report()
    assert session.finished and d.stop_reason == "hard_stop"
    assert lm.calls == len(SET)  # the extra step was never asked for
    assert report.metrics["dj/lm_calls_after_end"] == 0
    assert report.metrics["dj/critic_lm_calls"] == 1
    assert report.metrics["dj/tool_errors"] == 0
    assert len(report.step_metrics["dj/energy"]) == 32
    calls = json.loads(report.artifacts["dj/transcript.json"])["calls"]
    assert [c["lm"] for c in calls].count("main") == len(SET)
    trace = json.loads(report.artifacts["dj/tool_trace.json"])
    assert trace[1]["tool"] == "add" and trace[1]["bar"] == 0


def test_dj_that_keeps_calling_tools_after_completion(make_session):
    session = make_session(32)
    greedy = "print(add('kick', 0.9))\nfor _ in range(100):\n    print(play(8))\n    print(fader('kick', 0.8))"
    lm = ScriptedLM([greedy, *["print(fader('kick', 0.7))"] * 5])
    d = driver(lm)
    d.perform(session)
    assert session.finished and lm.calls == 1
    assert d.report().metrics["dj/lm_calls_after_end_all"] == 0


def test_garbled_code_and_wrong_arguments_keep_the_set_going(make_session):
    session = make_session(32)
    lm = ScriptedLM([
        "print(add('kick', 0.9, '909-Bassdrum.wav'))",
        "this is not python (",
        "print(add('kick', 'loud'))\nprint(play(-3))",
        "print(undefined_name)",
        "add('kick', 0.9)\nprint(play(32))",
    ])
    d = driver(lm)
    d.perform(session)
    report = d.report()
    assert session.finished and report.metrics["dj/tool_errors"] == 3
    history = [c for c in json.loads(report.artifacts["dj/transcript.json"])["calls"] if c["lm"] == "main"]
    last_prompt = json.dumps(history[-1]["messages"])
    assert "hint" in last_prompt and "NameError" in last_prompt


def test_sandbox_killed_mid_set_restarts_without_losing_bars(make_session):
    session = make_session(32)
    box = {}
    def kill_on_first_render(bars, total):
        if "done" not in box:
            box["done"] = True
            box["driver"].factory.made[0].kill()
    session.on_bars = kill_on_first_render
    lm = ScriptedLM(["print(add('kick', 0.9))\nprint(play(8))\nprint(play(8))",
                     "print(status())", "print(play(32))"])
    d = driver(lm)
    box["driver"] = d
    d.perform(session)
    report = d.report()
    assert report.metrics["dj/sandbox_restarts"] == 1
    assert session.finished and len(session.history) == 32
    assert "kick" in session.history[-1].layers  # the mixer survived the crash


def test_rate_limited_then_recovers(make_session):
    session = make_session(32)
    err = dspy.LMRateLimitError("slow down", retry_after=0)
    lm = ScriptedLM([err, err, "add('kick', 0.9)\nprint(play(32))"])
    d = driver(lm)
    d.perform(session)
    m = d.report().metrics
    assert session.finished and m["dj/lm_failed_attempts"] == 2 and m["dj/lm_calls"] == 1


def test_rate_limited_forever_fails_with_partial_record(make_session):
    session = make_session(32)
    err = dspy.LMRateLimitError("slow down")
    lm = ScriptedLM(["add('kick', 0.9)\nprint(play(8))"], fallback=err)
    settings = RLMSettings(dj=DJConfig(sandbox=SandboxConfig(timeout_s=30)), model=ModelConfig(retries=2, backoff_s=0.0))
    d = driver(lm, settings=settings)
    with pytest.raises(dspy.LMRateLimitError):
        d.perform(session)
    report = d.report()
    assert session.bars_played == 8 and d.stop_reason.startswith("error")
    calls = json.loads(report.artifacts["dj/transcript.json"])["calls"]
    assert sum(1 for c in calls if c["error"]) == 3


def test_replay_is_byte_identical_and_divergence_is_reported(make_session, tmp_path):
    first = make_session(32)
    d = driver(ScriptedLM(SET))
    d.perform(first)
    path = tmp_path / "transcript.json"
    path.write_text(d.report().artifacts["dj/transcript.json"])

    source = ReplaySource(Transcript.load(path))
    again = make_session(32)
    r = driver(ReplayLM(source, "main"), critic_lm=ReplayLM(source, "critic"), replay=source)
    r.perform(again)
    assert again.audio().tobytes() == first.audio().tobytes()
    assert r.report().metrics["dj/lm_calls"] == d.report().metrics["dj/lm_calls"]

    tampered = Transcript.load(path)
    tampered.calls[0]["messages_sha256"] = "0" * 64
    source = ReplaySource(tampered)
    r = driver(ReplayLM(source, "main"), critic_lm=ReplayLM(source, "critic"), replay=source)
    with pytest.raises(ReplayDivergence):
        r.perform(make_session(32))
    assert "dj.replay_divergence" in r.report().tags
