"""A DJ tool is one function: its signature and docstring give validation, description and hint.

The toy tool here is the "add a tool" recipe of docs/architecture.md: one function, registered,
and it reaches the model's function list, the hints and the random baseline's moves.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import numpy as np
import pytest

from rlmdj.dj.drivers.random import draw_move
from rlmdj.dj.tools.mixer import TOOL_NAMES, TOOLS, ToolLayer
from rlmdj.dj.tools.registry import Gain, Role, Tool


def nudge(t: ToolLayer, role: Role, gain: Gain) -> dict[str, Any]:
    """Move a playing channel's gain halfway to a target: nudge('hihat', 0.6).

    Anything after the first paragraph is for people, not the model.
    """
    ch = t.session.channel(role)
    ch = t.session.fader(ch.role, t.guardrails.cap_gain(ch.role, (ch.gain + gain) / 2))
    return {"action": f"{ch.role} gain {ch.gain:g}"}


def _playing(session) -> list[str]:
    return list(session.channels)


def test_builtin_tools_are_the_registry_in_order():
    assert TOOL_NAMES == ("status", "add", "remove", "fader", "pattern", "mute", "unmute", "swap",
                          "breakdown", "play")
    assert list(TOOLS)[: len(TOOL_NAMES)] == list(TOOL_NAMES)


def test_a_toy_tool_reaches_the_model_the_hints_and_the_random_driver(make_session):
    spec = Tool(nudge, random_weight=50.0, targets=_playing)
    with TOOLS.registered("nudge", spec):
        session = make_session(32)
        layer = ToolLayer(session)
        fn = next(f for f in layer.functions() if f.__name__ == "nudge")
        # Description: the first docstring paragraph; parameters typed Any for DSPy.
        assert fn.__doc__ == "Move a playing channel's gain halfway to a target: nudge('hihat', 0.6)."
        assert list(inspect.signature(fn).parameters) == ["role", "gain"]
        layer.call("add", "kick", 0.9)
        out = json.loads(fn("kick", 0.5))
        assert out["ok"] and out["action"] == "kick gain 0.7"
        # Validation from the annotation (Gain) and the signature (count); hint generated.
        bad = json.loads(fn("kick", "loud"))
        assert not bad["ok"] and "gain must be a number" in bad["error"]
        assert bad["hint"] == "nudge('kick', 0.6)"
        short = json.loads(layer.call("nudge", "kick"))
        assert "missing a required argument" in short["error"]
        # The random baseline draws it (its weight dominates) with a gain from the role's range.
        rng = np.random.default_rng(0)
        drawn = [draw_move(session, rng) for _ in range(20)]
        assert any(d is not None and d[0] == "nudge" for d in drawn)
    assert "nudge" not in TOOLS
    assert "nudge" not in [f.__name__ for f in ToolLayer(make_session(8)).functions()]


def test_a_tool_needs_a_docstring_and_weighted_tools_need_targets():
    def bare(t: ToolLayer) -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="docstring"):
        Tool(bare)
    with pytest.raises(ValueError, match="targets"):
        Tool(nudge, random_weight=1.0)


def test_mix_moves_are_the_tools_that_change_the_mix_without_passing_time():
    from rlmdj.dj.tools.registry import mix_moves

    assert mix_moves() == ("add", "remove", "fader", "pattern", "mute", "unmute", "swap")
    assert TOOLS["play"].passes_time and TOOLS["breakdown"].passes_time
    assert not TOOLS["status"].changes_mix
    # A random move changes the mix by default; another tool says so itself.
    with TOOLS.registered("nudge", Tool(nudge, random_weight=1.0, targets=_playing)):
        assert mix_moves()[-1] == "nudge"
    with TOOLS.registered("nudge", Tool(nudge, changes_mix=True)):
        assert mix_moves()[-1] == "nudge"
    with TOOLS.registered("nudge", Tool(nudge, changes_mix=True, passes_time=True)):
        assert "nudge" not in mix_moves()
    assert "nudge" not in mix_moves()
    with pytest.raises(ValueError, match="passes no time"):
        Tool(nudge, random_weight=1.0, targets=_playing, passes_time=True)


def test_a_layer_can_offer_a_subset_and_rejects_unknown_names(make_session):
    layer = ToolLayer(make_session(8), tools=["status", "play"])
    assert [f.__name__ for f in layer.functions()] == ["status", "play"]
    out = json.loads(layer.call("add", "kick", 0.9))
    assert out["error"] == "unknown tool 'add'; tools: status, play"


def _signature_line(names) -> str:
    return " ".join(f"{n}({', '.join(p.name for p in TOOLS[n].parameters)})" for n in names)


def test_docs_list_the_registered_tools():
    """docs/rlm.md's tool list is the registry's (names and parameters, in order)."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[3] / "docs" / "rlm.md"
    text = " ".join(docs.read_text().split())
    expected = _signature_line(TOOL_NAMES)
    assert f"`{expected}`" in text, f"docs/rlm.md should list the tools as: `{expected}`"


def test_prompts_call_only_registered_tools():
    import re
    from pathlib import Path

    import rlmdj.dj.ears.tools  # noqa: F401 - registers listen/audition, which prompts may name
    from rlmdj.resources import bundled_dir

    builtins = {"print", "len", "range", "str", "int", "float", "SUBMIT", "llm_query"}
    for path in sorted(Path(bundled_dir("prompts")).glob("*.txt")):
        called = set(re.findall(r"\b([a-z_]+)\(", path.read_text())) - builtins
        unknown = called - set(TOOLS)
        assert not unknown, f"{path.name} calls {sorted(unknown)}, which are not registered tools"


def test_random_baseline_moves_are_unchanged_by_the_registry(sample_index, palette):
    """The random DJ draws its moves from the tool registry; it plays exactly the set it played
    when its moves were a hand-written table (digest taken from that implementation)."""
    import hashlib

    from rlmdj.audio.grid import Grid
    from rlmdj.config.dj import GuardrailsConfig
    from rlmdj.dj.drivers.random import RandomDriver
    from rlmdj.dj.session import Session
    from rlmdj.dj.tools.guardrails import Guardrails

    session = Session(index=sample_index, palette=palette, grid=Grid(128.0), max_bars=64)
    driver = RandomDriver(seed=7, guardrails=Guardrails(GuardrailsConfig()))
    driver.perform(session)
    digest = hashlib.sha256(json.dumps(driver.moves).encode()).hexdigest()
    assert (digest, len(driver.moves), dict(driver.guardrails.counts)) == (
        "a2d552b3c69b869d3500f52d1c6b229caf8ac898b71e4d992ac601dbb72a0ed5", 49, {"density": 6})


# What the model read before tools were registry functions; recorded transcripts replay only if
# the tool list in the prompt stays byte-identical.
MODEL_TOOL_LIST = [
    ("status", "() -> str", "Where the set is: bars played, phase, layers and cap, energy vs target, mixer."),
    ("add", "(role: Any, gain: Any, pattern: Any = '') -> str", "Start a channel from the palette: add('hihat', 0.55, 'offbeat_8ths'); loops take no pattern: add('bassline', 0.65)."),
    ("remove", "(role: Any) -> str", "Stop and remove a channel: remove('perc')."),
    ("fader", "(role: Any, gain: Any) -> str", "Set a channel's gain (0..1): fader('hihat', 0.6)."),
    ("pattern", "(role: Any, name: Any) -> str", "Change a one-shot channel's named pattern: pattern('perc', 'gallop')."),
    ("mute", "(role: Any) -> str", "Silence a channel but keep its settings: mute('clap')."),
    ("unmute", "(role: Any) -> str", "Bring a muted channel back: unmute('clap')."),
    ("swap", "(role: Any, choice: Any = '') -> str", "Replace a channel's sample by id: swap('perc', 'perc-03'); swap('perc', '') lists the choices."),
    ("breakdown", "(bars: Any) -> str", "Play bars with the drums muted, then bring them back: breakdown(4)."),
    ("play", "(bars: Any) -> str", "Render the next bars with the current mixer: play(8). This is the only way time passes."),
]


def test_the_model_reads_the_same_tool_list(make_session):
    layer = ToolLayer(make_session(8), tools=TOOL_NAMES)
    got = [(f.__name__, str(inspect.signature(f)).replace("typing.", ""), f.__doc__)
           for f in layer.functions()]
    assert got == MODEL_TOOL_LIST
