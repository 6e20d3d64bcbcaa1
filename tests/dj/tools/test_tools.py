"""Tool layer and guardrails against a real session: validation, caps, ceiling, critique."""

from __future__ import annotations

import json

import pytest

from rlmdj.config.dj import GuardrailsConfig
from rlmdj.dj.drivers.reference import ReferenceDriver
from rlmdj.dj.energy import bar_energy, phase_spans, target_energy
from rlmdj.dj.tools.feedback import CritiqueSettings, boundaries_crossed, critique
from rlmdj.dj.tools.guardrails import Guardrails
from rlmdj.dj.tools.mixer import SetComplete, ToolLayer


def tools(session, **kw):
    layer = ToolLayer(session, **kw)
    return layer, {f.__name__: f for f in layer.functions()}


@pytest.mark.parametrize("call", [
    ("add", "cowbell", 0.5), ("add", "hihat", "loud"), ("add", "hihat", float("nan")),
    ("add", "hihat", float("inf")), ("add", "hihat", -0.1), ("add", "hihat", 1.5),
    ("add", "hihat", 0.5, "no_such_pattern"), ("add", "kick", 0.9, "samples/909-Bassdrum.wav"),
    ("swap", "kick", "/tmp/kick.wav"), ("play", 0), ("play", -4), ("play", 10**9), ("play", "8.5"),
    ("breakdown", "x"), ("fader", "hihat", 0.5), ("pattern", "kick", "nope"), ("add", "hihat", True),
])
def test_bad_input_returns_error_with_hint_and_changes_nothing(make_session, call):
    session = make_session(32)
    layer, f = tools(session)
    f["add"]("kick", 0.9)
    before = (session.channels, session.bars_played)
    out = json.loads(f[call[0]](*call[1:]))
    assert out["ok"] is False and out["error"] and out["hint"]
    assert (session.channels, session.bars_played) == before


def test_every_result_carries_the_status(make_session):
    _, f = tools(make_session(32))
    out = json.loads(f["add"]("kick", "0.9", "four_on_floor"))
    for key in ("bars_played", "max_bars", "phase", "layers", "layer_cap", "energy",
                "target_energy", "mixer", "corrections"):
        assert key in out


def test_gain_caps_apply_to_the_mixer_and_are_reported(make_session):
    session = make_session(32)
    layer, f = tools(session)
    out = json.loads(f["add"]("texture", 0.9))
    assert session.channels["texture"].gain == 0.55
    assert out["corrections"][0]["kind"] == "gain_cap"
    json.loads(f["fader"]("texture", 1.0))
    assert session.channels["texture"].gain == 0.55
    assert layer.guardrails.counts["gain_cap"] == 2


def test_gain_cap_switch_off(make_session):
    session = make_session(32)
    _, f = tools(session, guardrails=Guardrails(GuardrailsConfig(gain_cap=False)))
    f["add"]("texture", 0.9)
    assert session.channels["texture"].gain == 0.9


def test_loop_kind_from_metadata_and_pattern_dropped(make_session):
    session = make_session(32)
    _, f = tools(session)
    out = json.loads(f["add"]("bassline", 0.6, "four_on_floor"))
    assert out["ok"] and session.channels["bassline"].kind == "loop"
    assert out["corrections"][0]["kind"] == "loop_type"
    alt = json.loads(f["swap"]("bassline", ""))["alternatives"]
    json.loads(f["swap"]("bassline", alt[-1]))
    assert session.channels["bassline"].kind == "loop"


def test_density_ceiling_keeps_kick_and_loudest(make_session):
    session = make_session(32)
    _, f = tools(session)
    for role, gain in [("kick", 0.5), ("hihat", 0.6), ("bassline", 0.7), ("perc", 0.3), ("clap", 0.4)]:
        f["add"](role, gain)
    out = json.loads(f["play"](1))  # intro: 3 layers
    assert set(session.channels) == {"kick", "bassline", "hihat"}
    assert {c["role"] for c in out["corrections"]} == {"perc", "clap"}
    assert all(len(r.audible) <= 3 for r in session.history)


def test_long_play_applies_each_phase_ceiling(make_session):
    session = make_session(32)
    _, f = tools(session)
    for role in ("kick", "hihat", "bassline"):
        f["add"](role, 0.6)
    f["play"](4)
    for role in ("perc", "texture", "clap"):
        f["add"](role, 0.4)
    f["play"](28)
    caps = {p.name: p.max_layers for p, _, _ in phase_spans(32)}
    for rec in session.history:
        phase = next(p.name for p, a, b in phase_spans(32) if a <= rec.bar < b)
        assert len(rec.audible) <= caps[phase]


def test_play_beyond_remaining_plays_the_rest_and_hard_stop(make_session):
    session = make_session(32)
    layer, f = tools(session)
    f["add"]("kick", 0.9)
    f["play"](30)
    out = json.loads(f["play"](8))
    assert out["bars_played"] == 32 and out["set_complete"] and "note" in out
    with pytest.raises(SetComplete):
        f["fader"]("kick", 0.5)
    assert layer.calls_after_end == 1


def test_critique_fires_at_every_boundary_with_uneven_plays(make_session):
    session = make_session(64)
    layer, f = tools(session, critique=CritiqueSettings(every=8))
    f["add"]("kick", 0.3)  # far below target: every window gets a note
    for n in (3, 7, 5, 11, 2, 13, 9):
        f["play"](n)
    ends = [e["bar"] for e in layer.feedback_log if e["kind"] == "critique"]
    assert ends == [8, 16, 24, 32, 40, 48]
    assert boundaries_crossed(5, 21, 8) == [8, 16]


def test_reference_arrangement_sits_on_target(make_session):
    for bars in (32, 64):
        session = make_session(bars)
        ReferenceDriver().perform(session)
        for rec in session.history:
            assert bar_energy(rec.layers) == pytest.approx(target_energy(rec.bar, bars), abs=0.01)
        for end in range(8, bars + 1, 8):
            note = critique(session.history, end, bars)
            assert "below the target" not in note and "add a layer" not in note
            assert note == "", note


def test_critic_every_16_bars_skipped_after_the_end(make_session):
    session = make_session(32)
    asked = []
    layer, f = tools(session, critic=lambda s: asked.append(s["bars_played"]) or "hold")
    f["add"]("kick", 0.9)
    out = json.loads(f["play"](20))
    assert asked == [16] and any(x.startswith("critic:") for x in out["feedback"])
    f["play"](12)
    assert asked == [16]
