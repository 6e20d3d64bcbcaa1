"""The RLM DJ with ears, end to end in the real sandbox with scripted LMs: the tools are in the
tool trace, transcript and accounting, and a replay of the recorded replies is byte-identical."""

from __future__ import annotations

import json

import pytest
from scripted import ScriptedLM

from rlmdj.config.dj import DJConfig, ModelConfig, SandboxConfig
from rlmdj.config.ears import EarsConfig
from rlmdj.dj.ears import Ears
from rlmdj.dj.rlm.driver import RLMDriver, RLMSettings
from rlmdj.dj.rlm.replay import ReplayLM, ReplaySource
from rlmdj.dj.rlm.transcript import Transcript

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

SET = [
    "print(add('kick', 0.92, 'four_on_floor'))\nprint(add('hihat', 0.55, 'offbeat_8ths'))\nprint(play(8))",
    "print(listen(8))\nprint(audition([['pattern', 'hihat', 'sixteenth_drive']], 4))",
    "print(audition([['pattern', 'hihat', 'no_such_pattern']]))\nprint(audition('fader hihat'))",
    "r = json.loads(audition([['add', 'bassline', 0.65]], 4))\n"
    "if r['delta']['OBJ'] > 0:\n    print(add('bassline', 0.65))\nprint(play(8))",
    "print(listen(4))\nprint(play(16))\nprint(listen(4))",  # over budget, then after the end
]


def driver(lm, proxy, **kw) -> RLMDriver:
    settings = RLMSettings(dj=DJConfig(sandbox=SandboxConfig(timeout_s=60)), model=ModelConfig(backoff_s=0.0))
    critic = kw.pop("critic_lm", ScriptedLM([], fallback={"direction": "hold the groove"}))
    return RLMDriver(prompt_text="You are a techno DJ who can hear.", lm=lm, critic_lm=critic,
                     settings=settings, sleep=lambda s: None, ears=Ears(proxy, EarsConfig(max_listens=1)), **kw)


def test_hearing_set_is_traced_accounted_and_replays_byte_identically(make_session, proxy, tmp_path):
    first = make_session(32)
    d = driver(ScriptedLM(["import json\n" + SET[0], *SET[1:]]), proxy)
    d.perform(first)
    report = d.report()
    assert first.finished
    trace = json.loads(report.artifacts["dj/tool_trace.json"])
    ears_calls = [e for e in trace if e["tool"] in ("listen", "audition")]
    assert [e["tool"] for e in ears_calls[:6]] == ["listen", "audition", "audition", "audition",
                                                   "audition", "listen"]
    assert [e["result"]["ok"] for e in ears_calls[:6]] == [True, True, False, False, True, False]
    assert "move 1 pattern(" in ears_calls[2]["result"]["error"]
    assert "ears.max_listens=1" in ears_calls[5]["result"]["error"] and ears_calls[5]["result"]["hint"]
    # The end of the set stops the running code; a call that still gets through is refused.
    for late in ears_calls[6:]:
        assert "set complete" in late["result"]["error"] and late["bar"] == 32
    assert report.metrics["dj/ears_calls"] == 3 and report.metrics["dj/ears_refused"] == 3
    assert report.metrics["dj/tool_calls_after_end"] <= 1
    assert report.metrics["time/ears_s"] > 0 and report.metrics["dj/tool/listen"] >= 2
    assert len(json.loads(report.artifacts["dj/ears.json"])) == 3
    transcript = json.loads(report.artifacts["dj/transcript.json"])
    assert "listened to bars 1-8" in json.dumps(transcript["calls"])
    tools_seen = json.dumps(transcript["calls"][0]["messages"])
    assert "listen(" in tools_seen and "audition(" in tools_seen

    path = tmp_path / "transcript.json"
    path.write_text(report.artifacts["dj/transcript.json"])
    source = ReplaySource(Transcript.load(path))
    again = make_session(32)
    r = driver(ReplayLM(source, "main"), proxy, critic_lm=ReplayLM(source, "critic"), replay=source)
    r.perform(again)
    assert again.audio().tobytes() == first.audio().tobytes()
    assert r.report().artifacts["dj/ears.json"] == report.artifacts["dj/ears.json"]


def test_deaf_dj_is_not_offered_the_ear_tools(make_session, proxy):
    d = RLMDriver(prompt_text="You are a techno DJ.", lm=ScriptedLM(["try:\n    listen(8)\nexcept NameError:\n    print('no ears')\nprint(play(32))"]),
                  critic_lm=None, settings=RLMSettings(dj=DJConfig(sandbox=SandboxConfig(timeout_s=60))),
                  sleep=lambda s: None)
    d.perform(make_session(32))
    report = d.report()
    assert "dj/ears_calls" not in report.metrics
    first_prompt = json.dumps(json.loads(report.artifacts["dj/transcript.json"])["calls"][0]["messages"])
    assert "audition(" not in first_prompt
    trace = json.loads(report.artifacts["dj/tool_trace.json"])
    assert [e["tool"] for e in trace] == ["play"]
