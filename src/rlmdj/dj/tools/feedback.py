"""Trajectory critique: rule-based feedback on the last window of *rendered* bars.

:func:`boundaries_crossed` finds every window boundary (every 8 bars by default) a block of
played bars crossed, whatever the block's length — the earlier prototype only fired when a
play() ended exactly on a multiple of 8 and went silent after one uneven play. :func:`critique`
turns one window of :class:`~rlmdj.dj.session.BarRecord` into short, actionable lines.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from rlmdj.config.dj import GuardrailsConfig
from rlmdj.dj.energy import bar_energy, phase_at, target_energy
from rlmdj.dj.session import BarRecord

__all__ = ["CritiqueSettings", "boundaries_crossed", "critique"]


@dataclass(frozen=True)
class CritiqueSettings:
    """Thresholds of the rules (energies are fractions of the reference peak mix).

    The configurable ones default to the ``guardrails`` schema (:class:`GuardrailsConfig`),
    their single definition; build them from a config with
    :func:`rlmdj.dj.tools.guardrails.critique_from_config`.
    """

    every: int = GuardrailsConfig.critique_every
    tolerance: float = GuardrailsConfig.energy_tolerance
    unstable_sd: float = 0.15
    trend: float = 0.15
    kick_min_share: float = GuardrailsConfig.kick_min_share
    max_avg_layers: float = GuardrailsConfig.max_avg_layers


def boundaries_crossed(before: int, after: int, every: int) -> list[int]:
    """Multiples of ``every`` in ``(before, after]``: the windows completed by a played block."""
    if every <= 0 or after <= before:
        return []
    first = (before // every + 1) * every
    return list(range(first, after + 1, every))


def critique(history: Sequence[BarRecord], end: int, max_bars: int,
             settings: CritiqueSettings | None = None) -> str:
    """Feedback on bars ``[end - every, end)`` of ``history``; ``""`` when all is on course."""
    s = settings or CritiqueSettings()
    window = [r for r in history if end - s.every <= r.bar < end]
    if not window:
        return ""
    energies = [bar_energy(r.layers) for r in window]
    targets = [target_energy(r.bar, max_bars) for r in window]
    mean_e, mean_t = statistics.fmean(energies), statistics.fmean(targets)
    phase = phase_at(window[-1].bar, max_bars).name
    where = f"bars {window[0].bar + 1}-{window[-1].bar + 1} ({phase})"
    notes: list[str] = []
    if mean_e < mean_t - s.tolerance:
        notes.append(f"energy {mean_e:.2f} is below the target {mean_t:.2f}: add a layer or raise a fader")
    elif mean_e > mean_t + s.tolerance:
        notes.append(f"energy {mean_e:.2f} is above the target {mean_t:.2f}: pull a layer back")
    half = len(window) // 2
    if half:
        drift = statistics.fmean(energies[half:]) - statistics.fmean(energies[:half])
        wanted = statistics.fmean(targets[half:]) - statistics.fmean(targets[:half])
        if drift - wanted > s.trend:
            notes.append("energy is rising faster than the arc asks")
        elif wanted - drift > s.trend:
            notes.append("energy is falling while the arc asks to hold or rise")
    residuals = [e - t for e, t in zip(energies, targets, strict=True)]
    if len(residuals) > 1 and statistics.pstdev(residuals) > s.unstable_sd:
        notes.append("energy jumps around: hold changes for longer phrases")
    playing = [r for r in window if not r.breakdown]
    if playing:
        kick_share = sum(1 for r in playing if "kick" in r.audible) / len(playing)
        if kick_share < s.kick_min_share:
            notes.append(f"the kick played in only {kick_share:.0%} of bars: keep it running")
    avg_layers = statistics.fmean(len(r.audible) for r in window)
    if avg_layers > s.max_avg_layers:
        notes.append(f"{avg_layers:.1f} layers on average is dense: remove one")
    if not notes:
        return ""
    return f"{where}: " + "; ".join(notes) + "."
