"""The mixer tools the RLM calls from its sandbox, each returning one JSON string.

:class:`ToolLayer` wraps a :class:`~rlmdj.dj.session.Session`: it validates every argument
(strings or numbers), applies the guardrails to the mixer, renders through the session, adds
trajectory critique and critic feedback when due, and records a trace of every call. A bad
argument returns ``{"ok": false, "error": ..., "hint": <a correct call>}`` and changes nothing;
nothing a model can pass raises out of a tool. The one deliberate exception is
:class:`SetComplete`: once the last bar is rendered, any further call raises it so the
sandbox code stops at once (the hard stop; the driver then ends the RLM loop).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from rlmdj.audio.patterns import pattern_names, pattern_steps
from rlmdj.dj.critique import CritiqueSettings, boundaries_crossed, critique
from rlmdj.dj.energy import bar_energy, phase_at, phase_spans, target_energy
from rlmdj.dj.guardrails import Guardrails
from rlmdj.dj.session import DEFAULT_PATTERNS, Session, parse_bars, parse_gain
from rlmdj.errors import ParameterError, RlmdjError

__all__ = ["TOOL_NAMES", "SetComplete", "ToolLayer"]

log = logging.getLogger(__name__)

TOOL_NAMES: tuple[str, ...] = (
    "status", "add", "remove", "fader", "pattern", "mute", "unmute", "swap", "breakdown", "play",
)
_FILE_SUFFIXES = (".wav", ".aif", ".aiff", ".flac", ".mp3", ".ogg")


class SetComplete(RlmdjError):
    """Raised by any tool call after the last bar was played: the set is over."""


class ToolLayer:
    """Validated, guarded, traced mixer tools over one session.

    ``critique``: rule-based feedback settings (``None`` turns it off). ``critic``: a callable
    ``(summary: dict) -> str`` asked for one direction every ``critic_every`` bars (``None``
    turns it off). ``hard_stop``: raise :class:`SetComplete` on calls after the end (off: return
    a soft "set complete" result, as the earlier prototype did).
    """

    def __init__(
        self,
        session: Session,
        guardrails: Guardrails | None = None,
        *,
        critique: CritiqueSettings | None = None,
        critic: Callable[[dict[str, Any]], str] | None = None,
        critic_every: int = 16,
        hard_stop: bool = True,
    ) -> None:
        self.session = session
        self.guardrails = guardrails or Guardrails()
        self.guardrails.attach(session)
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
        self.calls[tool] += 1
        if self.session.finished and tool != "status":
            self.calls_after_end += 1
            if self.hard_stop:
                self._record(tool, args, bar, {"ok": False, "error": "set complete"})
                raise SetComplete(
                    f"the set is complete ({self.session.max_bars} bars played); stop calling tools"
                )
        try:
            handler = self._handler(tool, args)
            body = handler(*args)
            result = {"ok": True, **body}
        except ParameterError as exc:
            result = {"ok": False, "error": str(exc), "hint": self._hint(tool)}
        except Exception as exc:  # noqa: BLE001 - no model input may crash the sandbox bridge
            log.exception("tool %s failed", tool)
            result = {"ok": False, "error": f"{tool} failed: {type(exc).__name__}: {exc}",
                      "hint": self._hint(tool)}
        if not result["ok"]:
            self.errors[tool] += 1
        # Status rides on every result; a refused call may still report corrections made before it.
        result.update(self._status())
        text = json.dumps(result, allow_nan=False, default=str)
        self._record(tool, args, bar, result)
        return text

    def _handler(self, tool: str, args: tuple[Any, ...]) -> Callable[..., dict[str, Any]]:
        """The tool's method, once ``args`` fit its signature.

        A wrong argument count is the model's mistake (ParameterError, with a hint); a
        TypeError raised *inside* a tool is a bug and is logged as one by :meth:`call`.
        """
        handler = getattr(self, f"_tool_{tool}", None)
        if tool not in TOOL_NAMES or handler is None:
            raise ParameterError(f"unknown tool {tool!r}; tools: {', '.join(TOOL_NAMES)}")
        try:
            inspect.signature(handler).bind(*args)
        except TypeError as exc:
            raise ParameterError(f"{tool}(): {exc}") from None
        return handler

    def functions(self) -> list[Callable[..., str]]:
        """The sandbox-facing functions, named as the model calls them, one-line docstrings."""
        call = self.call

        def status() -> str:
            """Where the set is: bars played, phase, layers and cap, energy vs target, mixer."""
            return call("status")

        def add(role: Any, gain: Any, pattern: Any = "") -> str:
            """Start a channel from the palette: add('hihat', 0.55, 'offbeat_8ths'); loops take no pattern: add('bassline', 0.65)."""
            return call("add", role, gain, pattern)

        def remove(role: Any) -> str:
            """Stop and remove a channel: remove('perc')."""
            return call("remove", role)

        def fader(role: Any, gain: Any) -> str:
            """Set a channel's gain (0..1): fader('hihat', 0.6)."""
            return call("fader", role, gain)

        def pattern(role: Any, name: Any) -> str:
            """Change a one-shot channel's named pattern: pattern('perc', 'gallop')."""
            return call("pattern", role, name)

        def mute(role: Any) -> str:
            """Silence a channel but keep its settings: mute('clap')."""
            return call("mute", role)

        def unmute(role: Any) -> str:
            """Bring a muted channel back: unmute('clap')."""
            return call("unmute", role)

        def swap(role: Any, choice: Any = "") -> str:
            """Replace a channel's sample by id: swap('perc', 'perc-03'); swap('perc', '') lists the choices."""
            return call("swap", role, choice)

        def breakdown(bars: Any) -> str:
            """Play bars with the drums muted, then bring them back: breakdown(4)."""
            return call("breakdown", bars)

        def play(bars: Any) -> str:
            """Render the next bars with the current mixer: play(8). This is the only way time passes."""
            return call("play", bars)

        return [status, add, remove, fader, pattern, mute, unmute, swap, breakdown, play]

    # ------------------------------------------------------------------ tools
    def _tool_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": "status"}
        if self._last_feedback:
            out["last_feedback"] = self._last_feedback
        return out

    def _tool_add(self, role: Any, gain: Any, pattern: Any = "") -> dict[str, Any]:
        g = _gain(gain)
        if isinstance(pattern, str) and _looks_like_file(pattern):
            raise ParameterError(
                f"add() takes a pattern name, not a sample file ({pattern!r}); the sample comes "
                "from the palette (use swap(role, '<sample id>') to change it)"
            )
        key = str(role).strip().strip("'\"").lower()
        self.session.alternatives(key)  # an unknown role is reported before anything else
        if key in self.session.channels:
            raise ParameterError(
                f"{key!r} is already playing; use fader('{key}', 0.7) or pattern('{key}', ...) to change it"
            )
        kind = self._kind(key) or ""
        if kind == "oneshot" and pattern not in (None, "") and str(pattern).strip():
            pattern_steps(str(pattern))
        pat = self.guardrails.loop_pattern(key, kind, pattern)
        ch = self.session.add(key, self.guardrails.cap_gain(key, g), pat)
        return {"action": f"added {ch.role}"}

    def _tool_remove(self, role: Any) -> dict[str, Any]:
        ch = self.session.remove(role)
        return {"action": f"removed {ch.role}"}

    def _tool_fader(self, role: Any, gain: Any) -> dict[str, Any]:
        g = _gain(gain)
        ch = self.session.channel(role)
        ch = self.session.fader(ch.role, self.guardrails.cap_gain(ch.role, g))
        return {"action": f"{ch.role} gain {ch.gain:g}"}

    def _tool_pattern(self, role: Any, name: Any) -> dict[str, Any]:
        ch = self.session.pattern(role, str(name))
        return {"action": f"{ch.role} pattern {ch.pattern}"}

    def _tool_mute(self, role: Any) -> dict[str, Any]:
        ch = self.session.mute(role)
        return {"action": f"muted {ch.role}"}

    def _tool_unmute(self, role: Any) -> dict[str, Any]:
        ch = self.session.unmute(role)
        return {"action": f"unmuted {ch.role}"}

    def _tool_swap(self, role: Any, choice: Any = "") -> dict[str, Any]:
        if choice is None or str(choice).strip().strip("'\"") == "":
            key = str(role).strip().strip("'\"").lower()
            return {"action": f"choices for {key}", "alternatives": self.session.alternatives(key)}
        ch = self.session.swap(role, str(choice).strip().strip("'\""))
        self.guardrails.enforce_caps(self.session)
        return {"action": f"{ch.role} now plays {ch.sample_id} ({ch.kind})"}

    def _tool_play(self, bars: Any) -> dict[str, Any]:
        return self._render(bars, breakdown=False)

    def _tool_breakdown(self, bars: Any) -> dict[str, Any]:
        return self._render(bars, breakdown=True)

    # -------------------------------------------------------------- internals
    def _render(self, bars: Any, *, breakdown: bool) -> dict[str, Any]:
        if isinstance(bars, bool):
            raise ParameterError(f"bars must be a whole number >= 1, got {bars!r} (e.g. 8)")
        asked = parse_bars(bars, limit=self.session.max_bars)
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
        phase = phase_at(nxt, s.max_bars, self.guardrails.settings.phases)
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

    def _hint(self, tool: str) -> str:
        roles = list(self.session.palette.samples)
        one = next((r for r in roles if r in DEFAULT_PATTERNS and r != "kick"), roles[0] if roles else "kick")
        loop = next((r for r in roles if self._kind(r) == "loop"), None)
        playing = list(self.session.channels) or [one]
        p = DEFAULT_PATTERNS.get(one, "four_on_floor")
        hints = {
            "status": "status()",
            "add": f"add('{one}', 0.5, '{p}')" + (f" or add('{loop}', 0.6)" if loop else ""),
            "remove": f"remove('{playing[-1]}')",
            "fader": f"fader('{playing[-1]}', 0.6)",
            "pattern": f"pattern('{one}', '{p}') — patterns: {', '.join(pattern_names())}",
            "mute": f"mute('{playing[-1]}')",
            "unmute": f"unmute('{playing[-1]}')",
            "swap": f"swap('{playing[-1]}', '') to list choices, then swap('{playing[-1]}', '<id>')",
            "breakdown": "breakdown(4)",
            "play": "play(8)",
        }
        return hints.get(tool, "status()")

    def _kind(self, role: str) -> str | None:
        try:
            return self.session.index.get(self.session.palette.samples[role]).kind
        except (KeyError, ParameterError):
            return None

    def _record(self, tool: str, args: tuple[Any, ...], bar: int, result: dict[str, Any]) -> None:
        self.trace.append({
            "seq": len(self.trace),
            "tool": tool,
            "args": [_jsonable(a) for a in args],
            "bar": bar,
            "result": result,
        })


def _gain(value: Any) -> float:
    if isinstance(value, bool):
        raise ParameterError(f"gain must be a number between 0 and 1, got {value!r} (e.g. 0.8)")
    return parse_gain(value)


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
