"""The mixer tools the RLM calls from its sandbox, each returning one JSON string.

Each tool is one function below, registered with :func:`~rlmdj.dj.tools.registry.tool`: its
signature and docstring give its argument validation, the description the model reads and its
hint (see :mod:`rlmdj.dj.tools.registry`). :class:`ToolLayer` wraps a
:class:`~rlmdj.dj.session.Session` and runs them: it validates every argument (strings or
numbers), applies the guardrails to the mixer, renders through the session, adds trajectory
critique and critic feedback when due, and records a trace of every call. A bad argument returns
``{"ok": false, "error": ..., "hint": <a correct call>}`` and changes nothing; nothing a model
can pass raises out of a tool. The one deliberate exception is :class:`SetComplete`: once the
last bar is rendered, any further call raises it so the sandbox code stops at once (the hard
stop; the driver then ends the RLM loop).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rlmdj.audio.patterns import pattern_names, pattern_steps
from rlmdj.config.dj import GuardrailsConfig
from rlmdj.dj.energy import bar_energy, phase_at, phase_spans, target_energy
from rlmdj.dj.session import DEFAULT_PATTERNS, Session
from rlmdj.dj.tools.feedback import CritiqueSettings, boundaries_crossed, critique
from rlmdj.dj.tools.guardrails import Guardrails
from rlmdj.dj.tools.registry import (
    TOOLS,
    Bars,
    Gain,
    OptionalPattern,
    PatternName,
    Role,
    SampleChoice,
    Tool,
    tool,
)
from rlmdj.errors import ParameterError, RlmdjError

__all__ = ["TOOL_NAMES", "TOOLS", "SetComplete", "ToolLayer", "tool"]

log = logging.getLogger(__name__)

_FILE_SUFFIXES = (".wav", ".aif", ".aiff", ".flac", ".mp3", ".ogg")


class SetComplete(RlmdjError):
    """Raised by any tool call after the last bar was played: the set is over."""


class ToolLayer:
    """Validated, guarded, traced mixer tools over one session.

    ``critique``: rule-based feedback settings (``None`` turns it off). ``critic``: a callable
    ``(summary: dict) -> str`` asked for one direction every ``critic_every`` bars (``None``
    turns it off). ``hard_stop``: raise :class:`SetComplete` on calls after the end (off: return
    a soft "set complete" result, as the earlier prototype did). ``tools``: the registered tool
    names offered (default: all of :data:`TOOLS`, in registration order). ``services``: objects
    tools may need beyond the session (looked up by name, e.g. a listening model).
    ``attach=False`` leaves the guardrails' density hook to the caller (the random driver).
    """

    def __init__(
        self,
        session: Session,
        guardrails: Guardrails | None = None,
        *,
        critique: CritiqueSettings | None = None,
        critic: Callable[[dict[str, Any]], str] | None = None,
        critic_every: int = GuardrailsConfig.critic_every,
        hard_stop: bool = GuardrailsConfig.hard_stop,
        tools: Sequence[str] | None = None,
        services: Mapping[str, Any] | None = None,
        attach: bool = True,
    ) -> None:
        self.session = session
        self.guardrails = guardrails or Guardrails()
        if attach:
            self.guardrails.attach(session)
        names = list(TOOLS) if tools is None else list(tools)
        self.tools: dict[str, Tool] = {name: TOOLS.get(name) for name in names}
        self.services: dict[str, Any] = dict(services or {})
        self.critique_settings = critique
        self.critic = critic
        self.critic_every = int(critic_every)
        self.hard_stop = hard_stop
        self.trace: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.calls_after_end = 0
        self.feedback_log: list[dict[str, Any]] = []
        self._last_feedback: list[str] = []

    # ------------------------------------------------------------------ entry
    def call(self, tool: str, *args: Any) -> str:
        """Run tool ``tool`` with ``args``; always returns JSON text (or raises SetComplete)."""
        bar = self.session.bars_played
        self._started = time.time()  # wall clock: the run's trace places the call in time
        self.calls[tool] += 1
        if self.session.finished and tool != "status":
            self.calls_after_end += 1
            if self.hard_stop:
                if self.calls_after_end == 1:  # later refusals are only counted: a model looping
                    # on the end of the set must not grow the trace by one entry per call
                    self._record(tool, args, bar, {"ok": False, "error": "set complete; later "
                                                   "calls counted in dj/tool_calls_after_end"})
                raise SetComplete(
                    f"the set is complete ({self.session.max_bars} bars played); stop calling tools"
                )
        try:
            body = self._tool(tool).invoke(self, args)
            result = {"ok": True, **body}
        except ParameterError as exc:
            result = {"ok": False, "error": str(exc), "hint": self._hint(tool)}
        except Exception as exc:  # noqa: BLE001 - no model input may crash the sandbox bridge
            log.exception("tool %s failed", tool)
            result = {"ok": False, "error": f"{tool} failed: {type(exc).__name__}: {exc}",
                      "hint": self._hint(tool)}
        if not result["ok"]:
            self.errors[tool] += 1
        # Status rides on every result (but brief tools'); a refused call may still report
        # corrections made before it.
        spec = self.tools.get(tool)
        if spec is None or not spec.brief:
            result.update(self._status())
        text = json.dumps(result, allow_nan=False, default=str)
        self._record(tool, args, bar, result)
        return text

    def _tool(self, name: str) -> Tool:
        """The offered tool called ``name``; an unknown name is the model's mistake."""
        found = self.tools.get(name)
        if found is None:
            raise ParameterError(f"unknown tool {name!r}; tools: {', '.join(self.tools)}")
        return found

    def functions(self) -> list[Callable[..., str]]:
        """The sandbox-facing functions, named as the model calls them, one-line docstrings."""
        return [spec.sandbox_function(self.call) for spec in self.tools.values()]

    # -------------------------------------------------------------- internals
    def render(self, asked: int, *, breakdown: bool) -> dict[str, Any]:
        """Play (or break down) ``asked`` checked bars, split at phase edges; with feedback."""
        before = self.session.bars_played
        left = min(asked, self.session.remaining)
        # Split at phase boundaries so each phase's layer ceiling applies from its first bar.
        while left > 0:
            start = self.session.bars_played
            edge = next(end for _, _, end in phase_spans(self.session.max_bars) if end > start)
            n = min(left, edge - start)
            done = (self.session.breakdown if breakdown else self.session.play)(n)
            if done <= 0:
                break
            left -= done
        after = self.session.bars_played
        out: dict[str, Any] = {"action": f"{'breakdown' if breakdown else 'played'} bars {before + 1}-{after}"}
        if asked > after - before:
            out["note"] = f"asked for {asked} bars; only {after - before} remained"
        feedback = [] if self.session.finished else self._feedback(before, after)
        if feedback:
            out["feedback"] = feedback
            self._last_feedback = feedback
        return out

    def _feedback(self, before: int, after: int) -> list[str]:
        notes: list[str] = []
        s = self.critique_settings
        if s is not None:
            for end in boundaries_crossed(before, after, s.every):
                text = critique(self.session.history, end, self.session.max_bars, s)
                self.feedback_log.append({"bar": end, "kind": "critique", "text": text})
                if text:
                    notes.append(f"critique: {text}")
        if self.critic is not None:
            crossed = boundaries_crossed(before, after, self.critic_every)
            if crossed:
                text = self.critic(self._summary(crossed[-1]))
                self.feedback_log.append({"bar": crossed[-1], "kind": "critic", "text": text})
                if text:
                    notes.append(f"critic: {text}")
        return notes

    def _summary(self, end: int) -> dict[str, Any]:
        """What the critic is told: position, phase, and the last window's bars in brief."""
        window = [r for r in self.session.history if end - self.critic_every <= r.bar < end]
        rows = []
        for r in window[:: max(1, len(window) // 4)]:
            layers = {k: f"{v['gain']:.2f}{' muted' if v['muted'] else ''} {v['pattern'] or 'loop'}"
                      for k, v in r.layers.items()}
            rows.append({"bar": r.bar + 1, "energy": bar_energy(r.layers), "layers": layers})
        nxt = min(end, self.session.max_bars - 1)
        return {
            "bars_played": end,
            "max_bars": self.session.max_bars,
            "phase": phase_at(end - 1, self.session.max_bars).name,
            "next_phase": phase_at(nxt, self.session.max_bars).name,
            "target_energy_next": target_energy(nxt, self.session.max_bars),
            "recent_bars": rows,
        }

    def _status(self) -> dict[str, Any]:
        s = self.session
        nxt = min(s.bars_played, s.max_bars - 1)
        phase = phase_at(nxt, s.max_bars, self.guardrails.phases)
        mixer = {
            r: f"{c.gain:.2f} {c.pattern or 'loop'}{' muted' if c.muted else ''}"
            for r, c in s.channels.items()
        }
        layers = {r: {"gain": c.gain, "muted": c.muted} for r, c in s.channels.items()}
        span_end = next((end for p, _, end in phase_spans(s.max_bars) if p.name == phase.name), s.max_bars)
        out: dict[str, Any] = {
            "bars_played": s.bars_played,
            "max_bars": s.max_bars,
            "phase": phase.name,
            "phase_ends_after_bar": span_end,
            "layers": sum(1 for c in s.channels.values() if not c.muted and c.gain > 0),
            "layer_cap": phase.max_layers if self.guardrails.settings.density else None,
            "energy": round(bar_energy(layers), 2),
            "target_energy": target_energy(nxt, s.max_bars),
            "mixer": mixer,
            "corrections": [c.to_dict() for c in self.guardrails.take()],
        }
        if s.finished:
            out["set_complete"] = True
        return out

    def hint_context(self) -> dict[str, str]:
        """Names a hint template may use: a playing role, a one-shot role and its pattern, a
        loop alternative, and the pattern names."""
        roles = list(self.session.palette.samples)
        one = next((r for r in roles if r in DEFAULT_PATTERNS and r != "kick"), roles[0] if roles else "kick")
        loop = next((r for r in roles if self.kind(r) == "loop"), None)
        playing = list(self.session.channels) or [one]
        return {
            "playing": playing[-1],
            "oneshot": one,
            "pattern": DEFAULT_PATTERNS.get(one, "four_on_floor"),
            "loop_alt": f" or add('{loop}', 0.6)" if loop else "",
            "patterns": ", ".join(pattern_names()),
        }

    def _hint(self, name: str) -> str:
        found = self.tools.get(name)
        return found.hint(self.hint_context()) if found is not None else "status()"

    def kind(self, role: str) -> str | None:
        """``loop`` or ``oneshot`` for a palette role (None when unknown)."""
        try:
            return self.session.index.get(self.session.palette.samples[role]).kind
        except (KeyError, ParameterError):
            return None

    def _record(self, tool: str, args: tuple[Any, ...], bar: int, result: dict[str, Any]) -> None:
        self.trace.append({
            "seq": len(self.trace),
            "t0": getattr(self, "_started", None),
            "t1": time.time(),
            "tool": tool,
            "args": [_jsonable(a) for a in args],
            "bar": bar,
            "result": result,
        })


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _looks_like_file(text: str) -> bool:
    t = text.strip().lower()
    return "/" in t or "\\" in t or t.endswith(_FILE_SUFFIXES)


def _role_key(role: Any) -> str:
    return str(role).strip().strip("'\"").lower()


# ---------------------------------------------------------------------- targets
# The roles a tool can act on now: what the random baseline draws from.
def _not_playing(s: Session) -> list[str]:
    return [r for r in s.palette.samples if r not in s.channels]


def _playing(s: Session) -> list[str]:
    return list(s.channels)


def _removable(s: Session) -> list[str]:
    return [r for r in s.channels if r != "kick" or len(s.channels) == 1]


def _oneshots(s: Session) -> list[str]:
    return [r for r, c in s.channels.items() if c.kind == "oneshot"]


def _unmuted(s: Session) -> list[str]:
    return [r for r, c in s.channels.items() if not c.muted]


def _muted(s: Session) -> list[str]:
    return [r for r, c in s.channels.items() if c.muted]


# ------------------------------------------------------------------------ tools
# Registration order is the order of the model's tool list and of the random driver's moves.
@tool
def status(t: ToolLayer) -> dict[str, Any]:
    """Where the set is: bars played, phase, layers and cap, energy vs target, mixer."""
    out: dict[str, Any] = {"action": "status"}
    if t._last_feedback:
        out["last_feedback"] = t._last_feedback
    return out


@tool(random_weight=0.30, targets=_not_playing)
def add(t: ToolLayer, role: Role, gain: Gain, pattern: OptionalPattern = "") -> dict[str, Any]:
    """Start a channel from the palette: add('hihat', 0.55, 'offbeat_8ths'); loops take no pattern: add('bassline', 0.65).

    Hint: add('{oneshot}', 0.5, '{pattern}'){loop_alt}
    """
    if isinstance(pattern, str) and _looks_like_file(pattern):
        raise ParameterError(
            f"add() takes a pattern name, not a sample file ({pattern!r}); the sample comes "
            "from the palette (use swap(role, '<sample id>') to change it)"
        )
    key = _role_key(role)
    t.session.alternatives(key)  # an unknown role is reported before anything else
    if key in t.session.channels:
        raise ParameterError(
            f"{key!r} is already playing; use fader('{key}', 0.7) or pattern('{key}', ...) to change it"
        )
    kind = t.kind(key) or ""
    if kind == "oneshot" and pattern not in (None, "") and str(pattern).strip():
        pattern_steps(str(pattern))
    pat = t.guardrails.loop_pattern(key, kind, pattern)
    ch = t.session.add(key, t.guardrails.cap_gain(key, gain), pat)
    return {"action": f"added {ch.role}"}


@tool(random_weight=0.12, targets=_removable)
def remove(t: ToolLayer, role: Role) -> dict[str, Any]:
    """Stop and remove a channel: remove('perc')."""
    ch = t.session.remove(role)
    return {"action": f"removed {ch.role}"}


@tool(random_weight=0.22, targets=_playing)
def fader(t: ToolLayer, role: Role, gain: Gain) -> dict[str, Any]:
    """Set a channel's gain (0..1): fader('hihat', 0.6)."""
    ch = t.session.channel(role)
    ch = t.session.fader(ch.role, t.guardrails.cap_gain(ch.role, gain))
    return {"action": f"{ch.role} gain {ch.gain:g}"}


@tool(random_weight=0.18, targets=_oneshots)
def pattern(t: ToolLayer, role: Role, name: PatternName) -> dict[str, Any]:
    """Change a one-shot channel's named pattern: pattern('perc', 'gallop').

    Hint: pattern('{oneshot}', '{pattern}') — patterns: {patterns}
    """
    ch = t.session.pattern(role, str(name))
    return {"action": f"{ch.role} pattern {ch.pattern}"}


@tool(random_weight=0.06, targets=_unmuted)
def mute(t: ToolLayer, role: Role) -> dict[str, Any]:
    """Silence a channel but keep its settings: mute('clap')."""
    ch = t.session.mute(role)
    return {"action": f"muted {ch.role}"}


@tool(random_weight=0.07, targets=_muted)
def unmute(t: ToolLayer, role: Role) -> dict[str, Any]:
    """Bring a muted channel back: unmute('clap')."""
    ch = t.session.unmute(role)
    return {"action": f"unmuted {ch.role}"}


@tool(random_weight=0.05, targets=_playing)
def swap(t: ToolLayer, role: Role, choice: SampleChoice = "") -> dict[str, Any]:
    """Replace a channel's sample by id: swap('perc', 'perc-03'); swap('perc', '') lists the choices.

    Hint: swap('{playing}', '') to list choices, then swap('{playing}', '<id>')
    """
    if choice is None or str(choice).strip().strip("'\"") == "":
        key = _role_key(role)
        return {"action": f"choices for {key}", "alternatives": t.session.alternatives(key)}
    ch = t.session.swap(role, str(choice).strip().strip("'\""))
    t.guardrails.enforce_caps(t.session)
    return {"action": f"{ch.role} now plays {ch.sample_id} ({ch.kind})"}


@tool(passes_time=True)
def breakdown(t: ToolLayer, bars: Bars) -> dict[str, Any]:
    """Play bars with the drums muted, then bring them back: breakdown(4).

    Hint: breakdown(4)
    """
    return t.render(bars, breakdown=True)


@tool(passes_time=True)
def play(t: ToolLayer, bars: Bars) -> dict[str, Any]:
    """Render the next bars with the current mixer: play(8). This is the only way time passes."""
    return t.render(bars, breakdown=False)


#: The built-in tools, in the order the model sees them.
TOOL_NAMES: tuple[str, ...] = tuple(TOOLS)
