"""Guardrails the tool layer enforces on the mixer itself, then reports to the model.

The model is a creative driver, not a safety system: limits are applied to the session's state
(never merely suggested) and every intervention is returned as a correction and counted by kind.

- ``gain_cap``: per-role gain ceilings (texture 0.55, synth 0.50 by default).
- ``density``: a layer ceiling by arc phase, applied before every rendered block; the kick
  stays, the quietest other layers are removed.
- ``loop_type``: loops carry their own rhythm; a pattern given for a loop channel is dropped
  and reported instead of refused. (The loop/one-shot kind itself always comes from sample
  metadata — the session enforces that; it is not a switch.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from rlmdj.config.dj import GuardrailsConfig
from rlmdj.dj.energy import PHASES, Phase, phase_at
from rlmdj.dj.session import Session
from rlmdj.dj.tools.feedback import CritiqueSettings

__all__ = [
    "Correction",
    "Guardrails",
    "critique_from_config",
    "guardrails_config",
    "guardrails_from_config",
]


@dataclass(frozen=True)
class Correction:
    """One intervention: what kind, on which role, and what changed."""

    kind: str
    role: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "role": self.role, "detail": self.detail}


class Guardrails:
    """Applies the ``guardrails`` config (:class:`~rlmdj.config.dj.GuardrailsConfig`) to a
    session and keeps the corrections made. ``phases``: the arc whose layer ceilings apply."""

    def __init__(self, settings: GuardrailsConfig | None = None, *,
                 phases: tuple[Phase, ...] = PHASES) -> None:
        self.settings = settings if settings is not None else GuardrailsConfig()
        self.phases = tuple(phases)
        self.counts: Counter[str] = Counter()
        self._pending: list[Correction] = []

    # ---------------------------------------------------------------- hooks
    def attach(self, session: Session) -> None:
        """Register the density ceiling as a ``before_play`` hook of ``session``."""
        if self.settings.density:
            session.before_play.append(self.enforce_density)

    def take(self) -> list[Correction]:
        """Corrections made since the last call (the tool layer reports them once)."""
        out, self._pending = self._pending, []
        return out

    def _note(self, correction: Correction) -> None:
        self.counts[correction.kind] += 1
        self._pending.append(correction)

    # ---------------------------------------------------------------- gains
    def cap(self, role: str) -> float:
        """The highest gain ``role`` may have (1.0 when uncapped or the switch is off)."""
        if not self.settings.gain_cap:
            return 1.0
        return float(self.settings.gain_caps.get(role, 1.0))

    def cap_gain(self, role: str, gain: float) -> float:
        """``gain`` clipped to the role's cap; a clip is recorded as a correction."""
        cap = self.cap(role)
        if gain > cap:
            self._note(Correction("gain_cap", role, f"gain {gain:g} lowered to the {role} cap {cap:g}"))
            return cap
        return gain

    def loop_pattern(self, role: str, kind: str, pattern: Any) -> Any:
        """For a loop channel, drop a rhythm pattern (reported) when the switch is on."""
        if kind != "loop" or not self.settings.loop_type:
            return pattern
        word = "" if pattern is None else str(pattern).strip().strip("'\"")
        if word.lower() in {"", "loop", "none", "null"}:
            return None
        self._note(Correction("loop_type", role, f"{role} is a loop with its own rhythm; pattern {word!r} ignored"))
        return None

    # -------------------------------------------------------------- density
    def enforce_density(self, session: Session, n_bars: int) -> None:
        """Trim audible layers to the ceiling of the phase the next bar is in.

        The kick stays; among the others the loudest survive (ties: the earlier-added one).
        Trimmed channels are removed from the mixer, so the model sees them gone.
        """
        phase = phase_at(session.bars_played, session.max_bars, self.phases)
        channels = session.channels
        audible = [c for c in channels.values() if not c.muted and c.gain > 0]
        if len(audible) <= phase.max_layers:
            return
        order = {r: i for i, r in enumerate(channels)}
        ranked = sorted(audible, key=lambda c: (c.role != "kick", -c.gain, order[c.role]))
        for channel in ranked[phase.max_layers:]:
            session.remove(channel.role)
            self._note(Correction(
                "density", channel.role,
                f"{phase.name} allows {phase.max_layers} layers; removed {channel.role} (gain {channel.gain:g})",
            ))

    def enforce_caps(self, session: Session) -> None:
        """Lower any channel above its cap (a swap may bring a sample whose role is capped)."""
        for channel in session.channels.values():
            capped = self.cap_gain(channel.role, channel.gain)
            if capped != channel.gain:
                session.set_channel(replace(channel, gain=capped))


def guardrails_config(gcfg: Any) -> GuardrailsConfig:
    """The ``guardrails`` group as its schema dataclass (a DictConfig, mapping or the dataclass;
    missing keys take the schema's defaults, unknown keys are an error naming them)."""
    from rlmdj.config.bind import bind

    return bind(gcfg, GuardrailsConfig, "guardrails")


def guardrails_from_config(gcfg: Any) -> Guardrails:
    """:class:`Guardrails` from the ``guardrails`` config group."""
    return Guardrails(guardrails_config(gcfg))


def critique_from_config(gcfg: Any) -> CritiqueSettings | None:
    """The trajectory-critique thresholds the ``guardrails`` group sets (None: switched off)."""
    g = guardrails_config(gcfg)
    if not g.critique:
        return None
    return CritiqueSettings(every=g.critique_every, tolerance=g.energy_tolerance,
                            kick_min_share=g.kick_min_share, max_avg_layers=g.max_avg_layers)
