"""The lean scaffold and the windowed history: what the model reads, its size, and its bounds.

No sandbox and no model here: the system message is built the way every main request builds
it (``RLMDriver.system_text``; the sandbox tests check it equals the one sent), and the ledger
is folded over a real session played through the tool layer.
"""

from __future__ import annotations

import re

import dspy
import pytest
from scripted import ScriptedLM

from rlmdj.config.dj import DJConfig, GuardrailsConfig, ModelConfig
from rlmdj.dj.rlm.driver import RLMDriver, RLMSettings
from rlmdj.dj.rlm.dspy_compat import REPLEntry, WindowedHistory
from rlmdj.dj.rlm.scaffold import lean_instructions, ledger
from rlmdj.dj.tools.guardrails import Guardrails, critique_from_config
from rlmdj.dj.tools.mixer import ToolLayer
from rlmdj.errors import ParameterError
from rlmdj.resources import bundled_dir

BASELINE = (bundled_dir("prompts") / "baseline.txt").read_text()
# What DSPy's stock scaffold teaches and a DJ copies instead of playing.
META_STRATEGY = ("Sub-agents", "dspy.Predict", "ReActV2", "EXPLORE FIRST", "USE llm_query FOR SEMANTICS",
                 "llm_query_batched", "SUBMIT(")


def system(**dj) -> str:
    settings = RLMSettings(dj=DJConfig(**dj))
    return RLMDriver(prompt_text=BASELINE, lm=ScriptedLM([]), settings=settings).system_text()


def test_lean_system_message_is_short_and_teaches_no_meta_strategy():
    text = system()
    assert len(text) < 4000, len(text)
    assert BASELINE.strip().splitlines()[0] in text
    assert not [w for w in (*META_STRATEGY, "llm_query") if w in text]
    scaffold = lean_instructions(["palette", "set_plan"], [], sub_lm_calls=None)
    assert len(scaffold) <= 800 and scaffold in text
    # Every tool is listed as DSPy lists it (the tool text the model reads is unchanged).
    stock = system(scaffold="dspy")
    tools = [ln.strip() for ln in stock[stock.index("- `status()`"):].splitlines()]
    assert "\n".join(tools) in text
    # Not indented eight spaces a line, as DSPy's chat adapter does.
    assert "\n        You are a techno DJ" in stock and "\nYou are a techno DJ" in text


def test_dspy_scaffold_is_dspys_stock_text():
    text = system(scaffold="dspy")
    assert all(w in text for w in META_STRATEGY)
    assert len(text) > 7000


def test_llm_query_is_offered_only_with_a_sub_lm():
    text = system(sub_lm=True)
    assert "llm_query(prompt)" in text and "at most 4 calls" in text
    assert not [w for w in META_STRATEGY if w in text]
    assert system(sub_lm=True, max_llm_calls=2) != text


def test_each_setting_changes_the_registered_text_or_not():
    assert system() != system(scaffold="dspy")
    # The history setting changes later requests, not the system message.
    assert system(history="full") == system()


@pytest.mark.parametrize(("dj", "key"), [
    ({"scaffold": "stock"}, "dj.scaffold"), ({"history": "all"}, "dj.history"),
    ({"history_window": 0}, "dj.history_window"), ({"history_window": -2}, "dj.history_window"),
])
def test_bad_settings_fail_naming_the_key(dj, key):
    with pytest.raises(ParameterError, match=rf"^{key} must be") as info:
        RLMDriver(prompt_text=BASELINE, lm=ScriptedLM([]), settings=RLMSettings(dj=DJConfig(**dj)))
    assert "\n" not in str(info.value)


def test_a_sub_model_the_lean_scaffold_never_calls_is_refused():
    settings = RLMSettings(dj=DJConfig(), model=ModelConfig(sub_model="openai/gpt-4o-mini"))
    with pytest.raises(ParameterError, match=r"^model.sub_model=.*dj.sub_lm=true"):
        RLMDriver(prompt_text=BASELINE, lm=ScriptedLM([]), settings=settings)
    for dj in (DJConfig(sub_lm=True), DJConfig(scaffold="dspy")):
        RLMDriver(prompt_text=BASELINE, lm=ScriptedLM([]), settings=RLMSettings(dj=dj, model=settings.model))


def _played(make_session, bars: int, step: int):
    """A set played through the tools in ``step``-bar steps, with refused calls; its REPL entries."""
    session = make_session(bars)
    layer = ToolLayer(session, critique=critique_from_config(GuardrailsConfig()))
    moves = [("add", "kick", 0.92, "four_on_floor"), ("add", "hihat", 0.55, "offbeat_8ths"),
             ("add", "hihat", "loud"), ("fader", "hihat", 0.6), ("add", "bassline", 0.65)]
    entries = []
    for i in range(bars // step):
        move = moves[i % len(moves)]
        out = [layer.call(*move), layer.call("play", step)]
        text = "[Error] NameError: name 'x' is not defined" if i % 7 == 3 else "\n".join(out)
        entries.append(REPLEntry(reasoning="next", code=f"print({move[0]}(...))", output=text))
    return session, layer, entries


def _ledger(session, layer, entries, shown=3) -> str:
    return ledger(entries[:-shown], shown=shown, session=session, trace=layer.trace,
                  feedback=layer.feedback_log, guardrails=Guardrails())


def test_the_ledger_says_where_the_set_is_and_what_went_wrong(make_session):
    session, layer, entries = _played(make_session, 32, 4)
    text = _ledger(session, layer, entries)
    lines = text.splitlines()
    assert lines[0] == "=== Steps 1-5 in brief (the last 3 follow in full) ==="
    assert "bars played: 32 of 32" in text
    mixer = ", ".join(f"{r} {c.gain:.2f} {c.pattern or 'loop'}" for r, c in session.channels.items())
    assert f"mixer now: {mixer}\n" in text and mixer.startswith("kick 0.92 four_on_floor")
    assert any(ln.startswith("intro (bars 1-4): add 1, play 1") for ln in lines)
    assert "last refused call: add('hihat', 'loud')" in text
    assert "last code error (step 4): NameError" in text
    assert re.search(r"\nlast feedback \(bar \d+\): \S", text)


def test_the_ledger_is_bounded_however_long_the_set(make_session):
    short = _ledger(*_played(make_session, 32, 4))
    long = _ledger(*_played(make_session, 512, 1))  # 512 steps, 500+ folded
    assert len(long.splitlines()) <= 5 + 6  # one line per phase, six others at most
    assert len(long) <= 1.5 * len(short) + 200, (len(short), len(long))


def test_the_window_shows_the_ledger_then_the_last_steps_verbatim():
    entries = [REPLEntry(reasoning=f"r{i}", code=f"print({i})", output=str(i)) for i in range(6)]
    shown = WindowedHistory(entries=entries, window=2, ledger="LEDGER")
    text = shown.format()
    assert text.startswith("LEDGER\n=== Step 5 ===") and "=== Step 6 ===" in text
    assert "print(3)" not in text and "print(4)" in text
    # Shown only: appending keeps every entry, as a plain history.
    grown = shown.append(code="print(6)", output="6")
    assert type(grown) is dspy.primitives.repl_types.REPLHistory and len(grown.entries) == 7
    # Up to the window, it is the full history.
    assert WindowedHistory(entries=entries[:2], window=2, ledger="LEDGER").format() == \
        dspy.primitives.repl_types.REPLHistory(entries=entries[:2]).format()


def test_scaffold_and_history_are_part_of_the_condition(compose_cfg):
    from rlmdj.tracking.identity import config_hash

    base = config_hash(compose_cfg("dj=rlm", "model=openai", "prompt=baseline"))
    for override in ("dj.scaffold=dspy", "dj.history=full", "dj.history_window=5", "dj.sub_lm=true"):
        assert config_hash(compose_cfg("dj=rlm", "model=openai", "prompt=baseline", override)) != base, override


def test_a_transcript_from_before_the_scaffold_setting_replays_with_dspys(compose_cfg, tmp_path):
    from rlmdj.dj.rlm.driver import rlm_driver_from_config
    from rlmdj.dj.rlm.transcript import Transcript

    old = tmp_path / "old.json"
    Transcript(meta={"prompt_text": BASELINE, "prompt_name": "baseline"}).save(old)
    driver = rlm_driver_from_config(compose_cfg("dj=rlm", f"dj.replay_transcript={old}"))
    assert (driver.settings.dj.scaffold, driver.settings.dj.history) == ("dspy", "full")
    new = tmp_path / "new.json"
    Transcript(meta={"prompt_text": BASELINE, "scaffold": "lean", "history": "window",
                     "history_window": 2, "sub_lm": False}).save(new)
    driver = rlm_driver_from_config(compose_cfg("dj=rlm", f"dj.replay_transcript={new}", "dj.scaffold=dspy"))
    assert (driver.settings.dj.scaffold, driver.settings.dj.history_window) == ("lean", 2)


@pytest.mark.slow
@pytest.mark.parametrize(("args", "expected"), [
    (["dj.history_window=0"], "dj.history_window must be at least 1, got 0 (e.g. dj.history_window=3)"),
    (["dj.scaffold=stock"], "dj.scaffold must be one of lean, dspy, got 'stock' (e.g. dj.scaffold=lean)"),
    (["dj.history=all"], "dj.history must be one of window, full, got 'all' (e.g. dj.history=window)"),
    (["model.sub_model=openai/local-small"], "model.sub_model=openai/local-small is never called"),
    (["-m", "dj.scaffold=lean,dpsy"], "dj.scaffold must be one of lean, dspy, got 'dpsy'"),
], ids=["window", "scaffold", "history", "sub_model", "sweep"])
def test_the_command_refuses_bad_settings_before_anything_is_spent(tmp_path, pack_cache_dir, args, expected):
    import os
    import subprocess
    import sys
    from pathlib import Path

    rlmdj = str(Path(sys.executable).parent / "rlmdj")
    # A model server that does not exist: the refusal must come before any request.
    proc = subprocess.run([rlmdj, *args, "dj=rlm", "model=local", "model.api_base=http://127.0.0.1:9/v1",
                           "prompt=baseline", "bars=8", "progress=false"],
                          cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("rlmdj: error:")]
    assert len(lines) == 1 and expected in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no store, no run, no output folder
