"""The RLM's code against the tool boundary, in the real Deno/Pyodide sandbox: non-finite and
out-of-range numbers are refused by rlmdj's validation, a model that ignores the end of the set
is stopped at once, and unparsable replies are re-asked within the retry budget."""

from __future__ import annotations

import json
import time

import pytest
from scripted import ScriptedLM

from rlmdj.config.dj import DJConfig, ModelConfig, SandboxConfig
from rlmdj.dj.rlm.driver import RLMDriver, RLMSettings
from rlmdj.dj.rlm.reask import ModelReplyError

pytestmark = [pytest.mark.sandbox, pytest.mark.slow, pytest.mark.hardening]


def driver(lm, settings: RLMSettings | None = None) -> RLMDriver:
    settings = settings or RLMSettings(dj=DJConfig(sandbox=SandboxConfig(timeout_s=60)), model=ModelConfig(backoff_s=0.0))
    critic = ScriptedLM([], fallback={"direction": "hold the groove"})
    return RLMDriver(prompt_text="You are a techno DJ.", lm=lm, critic_lm=critic,
                     settings=settings, sleep=lambda s: None)


def main_calls(report) -> list[dict]:
    return [c for c in json.loads(report.artifacts["dj/transcript.json"])["calls"] if c["lm"] == "main"]


def test_non_finite_and_huge_numbers_reach_validation(make_session):
    session = make_session(16)
    probe = "\n".join([
        "print('printed before the bad calls')",
        "print(fader('kick', float('nan')))",
        "print(play(float('inf')))",
        "print(play(10**400))",
        "print(add('hihat', float('-inf'), 'offbeat_8ths'))",
        "print(fader('kick', 2**70))",
        "print('printed after the bad calls')",
    ])
    lm = ScriptedLM(["print(add('kick', 0.9, 'four_on_floor'))", probe, "print(play(16))"])
    d = driver(lm)
    d.perform(session)
    report = d.report()
    assert session.finished
    trace = json.loads(report.artifacts["dj/tool_trace.json"])
    refused = [t for t in trace if t["tool"] in ("fader", "play", "add") and not t["result"]["ok"]]
    assert [t["tool"] for t in refused] == ["fader", "play", "play", "add", "fader"]
    for entry in refused:
        assert entry["result"]["hint"], entry
        assert "must" in entry["result"]["error"] or "between" in entry["result"]["error"]
    # The non-finite values arrived (as text) instead of a bridge error or None.
    assert refused[0]["args"][1] == "nan" and refused[1]["args"][0] == "inf"
    assert refused[2]["args"][0] is not None and "e+" in str(refused[2]["args"][0])
    assert report.metrics["dj/tool_errors"] == 5
    # The step's output, printed before and after the refused calls, reached the model.
    next_prompt = json.dumps(main_calls(report)[2]["messages"])
    assert "printed before the bad calls" in next_prompt
    assert "printed after the bad calls" in next_prompt
    assert '\\"ok\\": false' in next_prompt and "hint" in next_prompt
    assert "Tool bridge error" not in next_prompt


def test_model_that_catches_the_end_of_set_finishes_at_once(make_session):
    session = make_session(32)
    stubborn = "\n".join([
        "add('kick', 0.9)",
        "refused = 0",
        "while True:",
        "    try:",
        "        play(1)",
        "    except Exception:",
        "        refused += 1",
    ])
    lm = ScriptedLM([stubborn, "print('never asked')"])
    d = driver(lm, RLMSettings(model=ModelConfig(backoff_s=0.0)))  # default sandbox timeout (120 s)
    assert d.settings.sandbox.timeout_s == 120.0
    started = time.perf_counter()
    d.perform(session)
    wall = time.perf_counter() - started
    report = d.report()
    assert wall < 20, f"the run took {wall:.1f} s"
    assert session.finished and d.stop_reason == "hard_stop"
    assert lm.calls == 1
    assert report.metrics["dj/sandbox_restarts"] == 0
    assert report.metrics["dj/sandbox_stops"] == 1
    trace = json.loads(report.artifacts["dj/tool_trace.json"])
    after_end = [t for t in trace if not t["result"].get("ok", True) and "set complete" in t["result"]["error"]]
    assert len(after_end) <= 1  # a count, not one entry per refused call
    assert len(trace) <= 40


def test_unparsable_reply_is_asked_again(make_session):
    session = make_session(16)
    garbage = {"nonsense": "I will not follow the format"}
    lm = ScriptedLM([garbage, garbage, "print(add('kick', 0.9))\nprint(play(16))"])
    d = driver(lm)
    d.perform(session)
    report = d.report()
    assert session.finished
    assert report.metrics["dj/reasks"] == 1


def test_model_that_never_answers_in_format_fails_with_one_line(make_session):
    session = make_session(16)
    garbage = {"nonsense": "still not the format"}
    lm = ScriptedLM([], fallback=garbage)
    d = driver(lm, RLMSettings(dj=DJConfig(sandbox=SandboxConfig(timeout_s=60)), model=ModelConfig(backoff_s=0.0, retries=2)))
    with pytest.raises(ModelReplyError) as info:
        d.perform(session)
    message = str(info.value)
    assert "\n" not in message and "could not be parsed 3 time(s)" in message
    assert lm.calls == 6  # (1 + 2 re-asks) x (chat format + DSPy's JSON fallback)
