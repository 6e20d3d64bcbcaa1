"""Ears core: forks leave the set bit-identical; listen/audition results, budgets and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlmdj.config.ears import EarsConfig
from rlmdj.dj.ears import (
    Ears,
    compact,
    most_clashing,
    parse_moves,
    render_ahead,
    role_band_energy,
)
from rlmdj.errors import ParameterError


def _groove(session, bars: int = 8) -> None:
    session.add("kick", 0.9, "four_on_floor")
    session.add("hihat", 0.5, "offbeat_8ths")
    session.add("bassline", 0.65)
    session.play(bars)


def test_fork_renders_ahead_and_leaves_the_set_bit_identical(make_session) -> None:
    plain, probed = make_session(16), make_session(16)
    for s in (plain, probed):
        _groove(s, 6)
    ahead, _ = render_ahead(probed, [("fader", ["hihat", 0.2]), ("remove", ["kick"])], 4)
    assert ahead.shape[0] == probed.grid.bars_to_samples(4)
    assert probed.bars_played == 6 and set(probed.channels) == {"kick", "hihat", "bassline"}
    assert probed.channels["hihat"].gain == 0.5
    # The fork's bars without moves are exactly the bars the set itself renders next.
    same, _ = render_ahead(probed, [], 4)
    for s in (plain, probed):
        s.play(4)
    assert plain.audio().tobytes() == probed.audio().tobytes()
    assert same.tobytes() == plain.segment(6, 10).tobytes()
    assert not np.array_equal(ahead, same)


def test_listen_reports_scores_change_balance_and_clash(make_session, proxy) -> None:
    session = make_session(32)
    _groove(session, 8)
    ears = Ears(proxy)
    first = ears.listen(session, 8)
    assert first["action"] == "listened to bars 1-8"
    for key in ("OBJ", "CE", "CU", "PC", "PQ", "lufs", "balance", "clash"):
        assert key in first
    assert "change" not in first and "note" not in first
    assert abs(sum(first["balance"].values()) - 1.0) < 0.01
    assert first["lufs"] < 0 and first["clash"]["band"] in ("low", "mid", "high")
    session.remove("bassline")
    session.play(8)
    second = ears.listen(session, 8)
    assert second["change"]["OBJ"] == pytest.approx(second["OBJ"] - first["OBJ"], abs=2e-3)
    assert len(compact(second)) <= 600
    assert ears.metrics()["dj/ears_calls"] == 2 and ears.metrics()["time/ears_s"] > 0


def test_short_stretch_is_padded_and_says_so(make_session, proxy) -> None:
    session = make_session(16)
    _groove(session, 2)
    out = Ears(proxy).listen(session, 8)
    assert "only 2 bar(s) played" in out["note"] and "zero-padded" in out["note"]


def test_audition_compares_without_committing(make_session, proxy) -> None:
    session = make_session(32)
    _groove(session, 8)
    before = (session.audio().tobytes(), session.channels, session.bars_played)
    ears = Ears(proxy)
    out = ears.audition(session, [["remove", "kick"], ["remove", "bassline"]], 4)
    assert out["delta"]["OBJ"] == pytest.approx(out["with_moves_OBJ"] - out["as_is_OBJ"], abs=2e-3)
    assert out["delta"]["OBJ"] < 0  # losing the pulse and the low end is heard
    assert "zero-padded" in out["note"]  # 4 bars = 7.5 s < 10 s
    assert (session.audio().tobytes(), session.channels, session.bars_played) == before
    assert out["auditions_left"] == 7


def test_budgets_and_end_of_set_are_refused(make_session, proxy) -> None:
    session = make_session(8)
    _groove(session, 4)
    ears = Ears(proxy, EarsConfig(max_listens=1, max_auditions=1))
    ears.listen(session, 4)
    with pytest.raises(ParameterError, match="max_listens=1"):
        ears.listen(session, 4)
    ears.audition(session, [["fader", "hihat", 0.3]], 2)
    with pytest.raises(ParameterError, match="max_auditions=1"):
        ears.audition(session, [["fader", "hihat", 0.3]], 2)
    session.play(4)
    fresh = Ears(proxy)
    with pytest.raises(ParameterError, match="complete"):
        fresh.listen(session, 4)
    assert ears.refused == 2 and ears.calls == 2


@pytest.mark.parametrize("moves, match", [
    ([], "non-empty"),
    ("not json", "list of moves"),
    ([["play", 8]], "not a mixer move"),
    ([[0.5, "hihat"]], "must be a list like"),
    ([["fader", "hihat", 0.5]] * 7, "at most 6"),
])
def test_bad_move_lists_are_refused(moves, match) -> None:
    with pytest.raises(ParameterError, match=match):
        parse_moves(moves)


def test_render_ahead_validates_and_guards_moves_as_the_tools_do(make_session) -> None:
    from rlmdj.dj.tools.guardrails import Guardrails

    session = make_session(16)
    _groove(session, 6)
    rails = Guardrails()
    # A capped gain is lowered on the fork and reported; the set's guardrails count nothing.
    _, corrections = render_ahead(session, [("add", ["texture", 0.9])], 2, guardrails=rails)
    assert any("texture cap" in c for c in corrections) and not rails.counts
    with pytest.raises(ParameterError, match=r"move 1 fader\('nobody', 0.5\)"):
        render_ahead(session, [("fader", ["nobody", 0.5])], 2)
    with pytest.raises(ParameterError, match="unknown tool 'play'"):
        render_ahead(session, [("play", [4])], 2)  # time passes only in the set itself
    assert session.bars_played == 6


def test_a_registered_mixer_tool_can_be_auditioned(make_session, proxy) -> None:
    """Moves come from the tool registry: a new tool that changes the mix is a move at once."""
    from rlmdj.dj.tools.registry import TOOLS, Gain, Role, Tool

    def halve(t, role: Role, gain: Gain) -> dict:
        """Halve a channel's gain toward a target: halve('hihat', 0.2)."""
        ch = t.session.channel(role)
        t.session.fader(ch.role, (ch.gain + gain) / 2)
        return {"action": f"{ch.role} halved"}

    session = make_session(32)
    _groove(session, 8)
    with pytest.raises(ParameterError, match="not a mixer move"):
        parse_moves([["halve", "hihat", 0.1]])
    with TOOLS.registered("halve", Tool(halve, changes_mix=True)):
        assert parse_moves([["halve", "hihat", 0.1]]) == [("halve", ["hihat", 0.1])]
        out = Ears(proxy).audition(session, [["halve", "kick", 0.0]], 4)
        assert out["delta"]["OBJ"] != 0 and session.channels["kick"].gain == 0.9


def test_move_lists_accept_json_text_and_one_bare_move() -> None:
    assert parse_moves('[["fader", "hihat", 0.6]]') == [("fader", ["hihat", 0.6])]
    assert parse_moves(["Pattern", "perc", "gallop"]) == [("pattern", ["perc", "gallop"])]


def test_clash_names_the_pair_sharing_most_energy_in_one_band() -> None:
    energy = {"kick": np.array([10.0, 1.0, 0.1]), "bassline": np.array([8.0, 2.0, 0.0]),
              "hihat": np.array([0.0, 1.0, 5.0])}
    assert most_clashing(energy) == {"roles": ["bassline", "kick"], "band": "low", "share": 0.44}
    assert most_clashing({"kick": np.ones(3)}) is None


def test_role_energy_follows_gain_and_mute(make_session) -> None:
    session = make_session(8)
    session.add("kick", 0.5, "four_on_floor")
    session.play(1)
    session.fader("kick", 1.0)
    session.play(1)
    session.mute("kick")
    session.play(1)
    e = [role_band_energy(session, b, b + 1).get("kick") for b in range(3)]
    assert np.allclose(e[1], 4 * e[0]) and e[2] is None


def test_compact_drops_optional_keys_to_fit() -> None:
    result = {"ok": True, "OBJ": 6.1, "note": "x" * 400, "corrections": ["y" * 300]}
    text = compact(result, max_chars=200)
    assert len(text) <= 200 and json.loads(text)["OBJ"] == 6.1 and json.loads(text)["truncated"]


def test_compact_never_exceeds_the_budget() -> None:
    huge = {"ok": True, "action": "x" * 5000, "OBJ": 1.0}
    text = compact(huge, max_chars=200)
    assert len(text) <= 200 and json.loads(text)["truncated"]
