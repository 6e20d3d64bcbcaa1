"""The set's arc: phases by position, layer ceilings, and an energy measure with its targets.

Positions are fractions of the set's length, so 32-, 64- and 128-bar sets share one arc.

Energy is the sum of audible layer gains over the sum of the reference arrangement's gains at
its peak (six layers at curated levels), so the reference peak mix reads 1.0 whatever the set's
length. Target energies are the reference arrangement's own energies, block by block (eighths
of the set): playing the reference puts every bar exactly on target, which the earlier prototype
(energy = sum of gains / layer cap, targets 0.25..0.90) could never do — its reference mix always
read "build up". A DJ that follows the prompt's gain ranges lands near the same curve.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rlmdj.dj.drivers.reference import REFERENCE_BLOCKS, REFERENCE_GAINS, block_lengths

__all__ = [
    "PHASES",
    "Phase",
    "TARGET_ENERGY",
    "bar_energy",
    "block_index",
    "phase_at",
    "phase_spans",
    "target_energy",
]


@dataclass(frozen=True)
class Phase:
    """One arc phase: it runs up to fraction ``end`` of the set and allows ``max_layers``."""

    name: str
    end: float
    max_layers: int


# Layer ceilings by position (fractions of max bars), as in the reference system.
PHASES: tuple[Phase, ...] = (
    Phase("intro", 0.125, 3),
    Phase("build", 0.375, 6),
    Phase("peak", 0.8125, 6),
    Phase("strip", 0.906, 4),
    Phase("outro", 1.0, 2),
)

_FULL_MIX = sum(REFERENCE_GAINS.values())


def _block_energy(block: Mapping[str, str | None]) -> float:
    return round(sum(REFERENCE_GAINS[r] for r in block) / _FULL_MIX, 3)


# Target energy per eighth of the set: the reference arrangement's energy in that block.
TARGET_ENERGY: tuple[float, ...] = tuple(_block_energy(b) for b in REFERENCE_BLOCKS)


def phase_at(bar: int, max_bars: int, phases: Iterable[Phase] = PHASES) -> Phase:
    """The phase 0-based ``bar`` falls in (the last phase for bars at or past the end)."""
    table = tuple(phases)
    position = bar / max(1, max_bars)
    for phase in table:
        if position < phase.end:
            return phase
    return table[-1]


def phase_spans(max_bars: int, phases: Iterable[Phase] = PHASES) -> list[tuple[Phase, int, int]]:
    """``(phase, first_bar, end_bar)`` (0-based, end exclusive) for a set of ``max_bars``;
    phases too short to own a whole bar are left out."""
    spans: list[tuple[Phase, int, int]] = []
    start = 0
    for phase in phases:
        end = min(max_bars, _first_bar_at_or_after(phase.end, max_bars))
        if end > start:
            spans.append((phase, start, end))
            start = end
    if start < max_bars and spans:
        last, first, _ = spans[-1]
        spans[-1] = (last, first, max_bars)
    return spans


def _first_bar_at_or_after(fraction: float, max_bars: int) -> int:
    bar = int(fraction * max_bars)
    while bar / max_bars < fraction:
        bar += 1
    return bar


def block_index(bar: int, max_bars: int) -> int:
    """Which eighth of the set (0..7) 0-based ``bar`` falls in, cut exactly as the reference
    arrangement cuts its blocks."""
    edge = 0
    lengths = block_lengths(max_bars, len(TARGET_ENERGY))
    for i, length in enumerate(lengths):
        edge += length
        if bar < edge:
            return i
    return len(TARGET_ENERGY) - 1


def target_energy(bar: int, max_bars: int) -> float:
    """Target energy of 0-based ``bar``."""
    return TARGET_ENERGY[block_index(bar, max_bars)]


def bar_energy(layers: Mapping[str, Mapping[str, Any]]) -> float:
    """Energy of one bar's mixer state (``role -> {"gain", "muted", ...}``); muted layers are
    silent and count zero."""
    total = sum(float(c["gain"]) for c in layers.values() if not c.get("muted") and float(c["gain"]) > 0)
    return round(total / _FULL_MIX, 4)
