"""What the RLM reads besides the DJ prompt: its inputs, the REPL contract, its folded history.

- :func:`palette_text` and :func:`set_plan_text` are the two inputs (the sample menu and this
  set's phases in bars).
- :func:`lean_instructions` is rlmdj's own scaffold (``dj.scaffold=lean``): only the contract the
  model needs to act (variables, ``print``, state persists, tools return JSON, the set ends by
  itself). DSPy's stock RLM text (``dj.scaffold=dspy``) also teaches generic strategies
  (sub-agents, ``llm_query`` for semantics, "explore first") that a DJ copies instead of playing,
  and it makes every request ~4,500 characters longer.
- :func:`ledger` folds the steps before the last ``dj.history_window`` into a few lines
  (``dj.history=window``): bars played, the mixer now, tool calls per phase, the last feedback
  and errors. Its size depends on the number of phases and roles, not on the set's length, so
  a 128-bar set's requests are no longer than a 32-bar set's.

Everything here is a pure function of the session and the tool trace, so a replay renders the
same text and the recorded requests match byte for byte.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rlmdj.audio.patterns import pattern_names
from rlmdj.config.dj import DJConfig, ModelConfig
from rlmdj.dj.drivers.reference import block_lengths
from rlmdj.dj.energy import TARGET_ENERGY, bar_energy, phase_at, phase_spans, target_energy
from rlmdj.dj.session import Session
from rlmdj.dj.tools.guardrails import Guardrails
from rlmdj.errors import ParameterError

__all__ = [
    "HISTORIES",
    "LEAN_FIELDS",
    "SCAFFOLDS",
    "check_settings",
    "check_sub_model",
    "lean_instructions",
    "ledger",
    "palette_text",
    "set_plan_text",
]

SCAFFOLDS: tuple[str, ...] = ("lean", "dspy")
HISTORIES: tuple[str, ...] = ("window", "full")

#: Descriptions of the action signature's fields under the lean scaffold (DSPy's own ask for
#: "step-by-step" plans and restate the REPL rules).
LEAN_FIELDS = {
    "variables_info": "Your input variables",
    "repl_history": "Your earlier turns and what they printed",
    "iteration": "This turn out of the most allowed",
    "reasoning": "What the last output tells you; what you do now",
    "code": "Python, in a ```python block",
}

_LEAN = """\
Each turn, write Python; it runs in one REPL whose variables persist between turns. You see \
only what your code prints.
- Variables {inputs} hold your inputs.
- Each tool below returns a JSON string: print it.
- The set ends by itself after its last bar; there is nothing to submit.{sub_lm}
Tools:"""
_SUB_LM = "\n- llm_query(prompt) asks another model and returns its answer as text (at most {calls} calls)."

_FEEDBACK_CHARS = 300
_ERROR_CHARS = 200


def check_settings(dj: DJConfig, model: ModelConfig | None = None) -> None:
    """ParameterError naming the first ``dj`` scaffold/history setting that cannot work (and a
    ``model.sub_model`` the lean scaffold would never call). The preflight checks the same keys
    with the same messages (:func:`rlmdj.dj.rlm_inputs.check`)."""
    for key, value, choices in (("scaffold", dj.scaffold, SCAFFOLDS), ("history", dj.history, HISTORIES)):
        if value not in choices:
            raise ParameterError(f"dj.{key} must be one of {', '.join(choices)}, got {value!r} "
                                 f"(e.g. dj.{key}={choices[0]})")
    window = dj.history_window
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ParameterError(f"dj.history_window must be at least 1, got {window!r} (e.g. dj.history_window=3)")
    if model is not None:
        check_sub_model(dj.scaffold, dj.sub_lm, model.sub_model)


def check_sub_model(scaffold: str, sub_lm: bool, sub_model: str | None) -> None:
    """A ``model.sub_model`` must be one the set can call: not under a lean scaffold without ``llm_query``."""
    if sub_model and scaffold == "lean" and not sub_lm:
        raise ParameterError(f"model.sub_model={sub_model} is never called: the lean scaffold offers "
                             "llm_query only with dj.sub_lm=true (set it, or drop model.sub_model)")


def lean_instructions(inputs: Sequence[str], tool_lines: Sequence[str], *, sub_lm_calls: int | None) -> str:
    """The lean scaffold around ``tool_lines``; ``sub_lm_calls``: offer ``llm_query`` (None: not)."""
    sub = "" if sub_lm_calls is None else _SUB_LM.format(calls=sub_lm_calls)
    head = _LEAN.format(inputs=", ".join(f"`{n}`" for n in inputs), sub_lm=sub)
    return "\n".join([head, *tool_lines])


def palette_text(session: Session, guardrails: Guardrails) -> str:
    """The sample menu the model reads: role, sample id, loop/one-shot, character, cap."""
    lines = ["role       sample         type     character"]
    for role, sid in session.palette.samples.items():
        info = session.index.get(sid)
        lines.append(f"{role:<10} {sid:<14} {info.kind:<8} {info.character}")
    caps = {r: guardrails.cap(r) for r in session.palette.samples if guardrails.cap(r) < 1.0}
    if caps:
        lines.append("gain caps (higher values are lowered): " + ", ".join(f"{r} {c:g}" for r, c in caps.items()))
    lines.append("patterns for one-shot roles: " + ", ".join(pattern_names()))
    lines.append("loops (type loop) carry their own rhythm: add them without a pattern")
    return "\n".join(lines)


def set_plan_text(session: Session, guardrails: Guardrails) -> str:
    """Set length, phases in bars of this set with layer caps, and target energy by bars."""
    g = session.grid
    n = session.max_bars
    lines = [
        f"{n} bars at {g.bpm:g} BPM ({g.seconds_per_bar:.3f} s per bar). play(n) is the only way time "
        f"passes; the set ends after bar {n} and then every tool stops working.",
        "phases (bars are 1-based, layer cap = most layers that may sound):",
    ]
    for phase, start, end in phase_spans(n, guardrails.phases):
        cap = f"max {phase.max_layers} layers" if guardrails.settings.density else "no layer cap"
        lines.append(f"  {phase.name:<6} bars {start + 1}-{end}  {cap}")
    edges, start = [], 0
    for length, target in zip(block_lengths(n, len(TARGET_ENERGY)), TARGET_ENERGY, strict=True):
        if length > 0:
            edges.append(f"{start + 1}-{start + length} {target:.2f}")
        start += length
    lines.append("target energy by bars: " + ", ".join(edges))
    lines.append("energy = sum of audible gains / 3.32 (a full six-layer mix at typical levels reads 1.0)")
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call_text(entry: dict[str, Any]) -> str:
    args = ", ".join(repr(a) for a in entry.get("args", []))
    return f"{entry['tool']}({args}): {entry['result'].get('error', '')}"


def ledger(folded: Sequence[Any], *, shown: int, session: Session, trace: Sequence[dict[str, Any]],
           feedback: Sequence[dict[str, Any]], guardrails: Guardrails) -> str:
    """The steps ``folded`` (REPL entries with ``output``) in brief, before ``shown`` verbatim ones.

    One line each for the set's position, the mixer now and the last feedback and errors, and
    one per phase reached with its tool calls by name: bounded by phases x tools, however many
    steps were folded.
    """
    n, played = session.max_bars, session.bars_played
    steps = "Step 1" if len(folded) == 1 else f"Steps 1-{len(folded)}"
    lines = [f"=== {steps} in brief (the last {shown} follow in full) ==="]
    nxt = min(played, n - 1)
    layers = {r: {"gain": c.gain, "muted": c.muted} for r, c in session.channels.items()}
    phase = phase_at(nxt, n, guardrails.phases)
    lines.append(f"bars played: {played} of {n}; now {phase.name}, energy {bar_energy(layers):.2f} "
                 f"(target {target_energy(nxt, n):.2f})")
    mixer = ", ".join(f"{r} {c.gain:.2f} {c.pattern or 'loop'}{' muted' if c.muted else ''}"
                      for r, c in session.channels.items())
    lines.append(f"mixer now: {mixer or 'empty'}")
    for p, start, end in phase_spans(n, guardrails.phases):
        calls = [e for e in trace if start <= e["bar"] < end]
        if not calls:
            continue
        counts = Counter(e["tool"] for e in calls)
        refused = sum(1 for e in calls if not e["result"].get("ok", True))
        named = ", ".join(f"{t} {k}" for t, k in counts.items())
        lines.append(f"{p.name} (bars {start + 1}-{end}): {named}" + (f"; {refused} refused" if refused else ""))
    said = [f for f in feedback if f.get("text")]
    if said:
        lines.append(f"last feedback (bar {said[-1]['bar']}): {_clip(said[-1]['text'], _FEEDBACK_CHARS)}")
    refused_calls = [e for e in trace if not e["result"].get("ok", True)]
    if refused_calls:
        lines.append(f"last refused call: {_clip(_call_text(refused_calls[-1]), _ERROR_CHARS)}")
    failed = [(i, e) for i, e in enumerate(folded) if str(e.output).startswith("[Error]")]
    if failed:
        i, e = failed[-1]
        lines.append(f"last code error (step {i + 1}): {_clip(str(e.output).removeprefix('[Error]'), _ERROR_CHARS)}")
    return "\n".join(lines)
