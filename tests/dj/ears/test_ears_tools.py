"""listen() and audition() as DJ tools: offered only with ears, validated like the real tools,
budgeted, refused after the end, compact, deterministic, and never touching the real set."""

from __future__ import annotations

import json

import pytest

from rlmdj.config.ears import EarsConfig
from rlmdj.dj.ears import Ears
from rlmdj.dj.ears.tools import EAR_TOOLS, tool_names
from rlmdj.dj.tools.guardrails import Guardrails
from rlmdj.dj.tools.mixer import TOOL_NAMES, SetComplete, ToolLayer


def layer(session, proxy, *, ears=True, hard_stop=True, **budget) -> ToolLayer:
    services = {"ears": Ears(proxy, EarsConfig(**budget))} if ears else None
    return ToolLayer(session, Guardrails(), critique=None, hard_stop=hard_stop,
                     tools=tool_names(ears), services=services)


def call(t: ToolLayer, tool: str, *args) -> dict:
    text = t.call(tool, *args)
    assert len(text) <= 600 or tool not in EAR_TOOLS, text
    return json.loads(text)


def groove(t: ToolLayer, bars: int = 8) -> None:
    for args in (("kick", 0.9, "four_on_floor"), ("hihat", 0.55, "offbeat_8ths"), ("bassline", 0.65)):
        assert call(t, "add", *args)["ok"]
    assert call(t, "play", bars)["ok"]


def test_ear_tools_are_offered_only_with_ears(make_session, proxy) -> None:
    assert tool_names(False) == list(TOOL_NAMES)
    assert tool_names(True)[-2:] == ["listen", "audition"]
    deaf = layer(make_session(), proxy, ears=False)
    assert [f.__name__ for f in deaf.functions()] == list(TOOL_NAMES)
    out = call(deaf, "listen", 8)
    assert not out["ok"] and "unknown tool" in out["error"]
    hearing = layer(make_session(), proxy)
    names = {f.__name__: f for f in hearing.functions()}
    assert "listen" in names and "audition" in names
    assert "OBJ" in names["listen"].__doc__ and "delta" in names["audition"].__doc__


def test_listen_and_valid_audition(make_session, proxy) -> None:
    session = make_session(32)
    t = layer(session, proxy)
    groove(t)
    heard = call(t, "listen")  # default: 8 bars
    assert heard["ok"] and heard["action"] == "listened to bars 1-8" and "mixer" not in heard
    before = (session.audio().tobytes(), session.channels, len(session.history))
    out = call(t, "audition", [["pattern", "hihat", "sixteenth_drive"], ["fader", "bassline", 0.7]])
    assert out["ok"] and set(out["delta"]) == {"OBJ", "CE", "CU", "PC", "PQ"}
    assert (session.audio().tobytes(), session.channels, len(session.history)) == before
    assert session.bars_played == 8
    # The guardrails act on the audition's copy (texture cap 0.55) and say so, not on the set.
    session_caps = dict(t.guardrails.counts)
    capped = call(t, "audition", '[["add", "texture", 0.9]]', 4)
    assert capped["ok"] and any("cap" in c for c in capped.get("corrections", []))
    assert dict(t.guardrails.counts) == session_caps
    trace = [e["tool"] for e in t.trace]
    assert trace[-3:] == ["listen", "audition", "audition"]


@pytest.mark.parametrize("moves, match", [
    ([["pattern", "perc", "galop"]], "move 1"),          # perc is not playing / bad pattern
    ([["fader", "hihat", 1.7]], "gain"),
    ([["add", "kick", 0.9]], "already playing"),
    ([["play", 8]], "not a mixer move"),
    ("fader hihat", "list of moves"),
])
def test_invalid_moves_are_refused_with_a_hint_and_nothing_rendered(make_session, proxy, moves, match) -> None:
    session = make_session(32)
    t = layer(session, proxy)
    groove(t)
    before = session.audio().tobytes()
    out = call(t, "audition", moves, 4)
    assert not out["ok"] and match in out["error"] and out["hint"].startswith("audition([[")
    assert session.audio().tobytes() == before
    assert t.services["ears"].auditions == 0  # a refused call spends no budget


def test_budgets_are_refused_with_a_hint(make_session, proxy) -> None:
    t = layer(make_session(32), proxy, max_listens=2, max_auditions=1)
    groove(t)
    assert call(t, "listen", 4)["ok"] and call(t, "listen", 4)["ok"]
    over = call(t, "listen", 4)
    assert not over["ok"] and "ears.max_listens=2" in over["error"] and over["hint"] == "listen(8)"
    assert call(t, "audition", [["mute", "hihat"]])["ok"]
    over = call(t, "audition", [["mute", "hihat"]])
    assert not over["ok"] and "ears.max_auditions=1" in over["error"]
    metrics = t.services["ears"].metrics()
    assert metrics["dj/ears_calls"] == 3 and metrics["dj/ears_refused"] == 2
    assert t.errors["listen"] == 1 and t.errors["audition"] == 1


def test_after_the_end(make_session, proxy) -> None:
    t = layer(make_session(8), proxy)
    groove(t, 8)
    with pytest.raises(SetComplete):
        t.call("listen", 8)
    soft = layer(make_session(8), proxy, hard_stop=False)
    groove(soft, 8)
    out = call(soft, "audition", [["mute", "hihat"]])
    assert not out["ok"] and "complete" in out["error"]


def test_results_are_deterministic(make_session, proxy) -> None:
    results = []
    for _ in range(2):
        t = layer(make_session(32), proxy)
        groove(t)
        results.append([t.call("listen", 8), t.call("audition", [["swap", "hihat", "hihat-03"]], 4),
                        t.call("play", 4), t.call("listen", 4)])
    assert results[0] == results[1]


def test_audition_then_play_equals_play(make_session, proxy) -> None:
    plain, probed = make_session(32), make_session(32)
    a, b = layer(plain, proxy), layer(probed, proxy)
    groove(a)
    groove(b)
    call(b, "audition", [["remove", "kick"], ["pattern", "hihat", "gallop"]], 8)
    call(b, "listen", 8)
    for t in (a, b):
        call(t, "fader", "hihat", 0.5)
        call(t, "play", 8)
    assert plain.audio().tobytes() == probed.audio().tobytes()


def test_results_fit_the_character_budget_as_printed(make_session, proxy) -> None:
    session = make_session(32)
    t = layer(session, proxy, max_chars=200)
    groove(t, 2)  # 2 bars: the "only 2 bars" and padding notes make the result long
    out = t.call("listen", 8)
    assert len(out) <= 200 and json.loads(out)["truncated"]
    out = t.call("audition", [["add", "texture", 0.9], ["add", "perc", 0.45, "gallop"]], 2)
    assert len(out) <= 200 and json.loads(out)["ok"]
