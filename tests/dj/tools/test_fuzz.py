"""Thousands of random tool calls (150 scripts of 20-60) keep every result valid JSON and every cap."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlmdj.dj.energy import phase_spans
from rlmdj.dj.tools.mixer import TOOL_NAMES, SetComplete, ToolLayer

ROLES = ["kick", "hihat", "bassline", "perc", "texture", "clap", "synth", "", "KICK", "../kick.wav"]
values = st.one_of(
    st.sampled_from(ROLES), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 80),
    st.text(max_size=12), st.sampled_from(["four_on_floor", "gallop", "0.5", "8", "kick-03", "nan"]),
    st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
)
calls = st.lists(st.tuples(st.sampled_from(TOOL_NAMES), st.lists(values, max_size=3)), min_size=20, max_size=60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=calls)
def test_random_calls_keep_invariants(make_session, script):
    session = make_session(32)
    layer = ToolLayer(session)
    fns = {f.__name__: f for f in layer.functions()}
    caps = {p.name: p.max_layers for p, _, _ in phase_spans(32)}
    for name, args in script:
        try:
            text = fns[name](*args)
        except SetComplete:
            assert session.finished
            continue
        except TypeError:
            continue  # wrong arity is Python's own error in the sandbox, before any tool runs
        out = json.loads(text)
        assert isinstance(out["ok"], bool) and ("error" in out) != out["ok"]
        for ch in session.channels.values():
            assert 0.0 <= ch.gain <= layer.guardrails.cap(ch.role)
    for rec in session.history:
        phase = next(p.name for p, a, b in phase_spans(32) if a <= rec.bar < b)
        assert len(rec.audible) <= caps[phase]
