"""The deterministic reference arrangement: the palette's ceiling and the pipeline's oracle.

Eight blocks of equal length (32 bars → 4-bar blocks, 64 → 8-bar blocks; other lengths split
at ``round(i * bars / 8)``), each a fixed set of layers with curated gains and patterns, as in
the earlier prototype's reference renderer. No randomness: same palette and length give the
same audio bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rlmdj.dj.drivers.base import DriverReport
from rlmdj.dj.session import Session

if TYPE_CHECKING:
    from rlmdj.dj.ears.measure import EarScorerSource

__all__ = ["REFERENCE_GAINS", "REFERENCE_BLOCKS", "ReferenceDriver", "block_lengths", "from_config"]

REFERENCE_GAINS: Mapping[str, float] = {
    "kick": 0.92,
    "hihat": 0.53,
    "bassline": 0.65,
    "perc": 0.40,
    "texture": 0.35,
    "clap": 0.47,
}

# Each block: role -> pattern (None for loops). Roles the palette lacks are skipped.
REFERENCE_BLOCKS: tuple[Mapping[str, str | None], ...] = (
    {"kick": "four_on_floor"},
    {"kick": "four_on_floor", "hihat": "offbeat_8ths"},
    {"kick": "four_on_floor", "hihat": "offbeat_8ths", "bassline": None},
    {"kick": "four_on_floor", "hihat": "offbeat_8ths", "bassline": None, "perc": "syncopated_a"},
    {"kick": "four_on_floor", "hihat": "offbeat_8ths", "bassline": None, "perc": "syncopated_a",
     "texture": None, "clap": "backbeat"},
    {"kick": "four_on_floor", "hihat": "sixteenth_drive", "bassline": None, "perc": "gallop",
     "texture": None, "clap": "backbeat"},
    {"kick": "four_on_floor", "hihat": "offbeat_8ths", "bassline": None, "perc": "syncopated_b"},
    {"kick": "four_on_floor", "texture": None},
)


def block_lengths(bars: int, blocks: int = len(REFERENCE_BLOCKS)) -> list[int]:
    """Split ``bars`` into ``blocks`` near-equal whole-bar blocks (empty blocks dropped later)."""
    edges = [round(i * bars / blocks) for i in range(blocks + 1)]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


class ReferenceDriver:
    """Plays :data:`REFERENCE_BLOCKS` through the session's public operations."""

    name = "reference"

    def __init__(self, gains: Mapping[str, float] = REFERENCE_GAINS) -> None:
        self.gains = dict(gains)
        self._ops = 0

    def perform(self, session: Session) -> None:
        lengths = block_lengths(session.max_bars)
        for layers, n_bars in zip(REFERENCE_BLOCKS, lengths, strict=True):
            if n_bars <= 0:
                continue
            self._arrange(session, layers)
            session.play(n_bars)

    def _arrange(self, session: Session, layers: Mapping[str, str | None]) -> None:
        wanted = {r: p for r, p in layers.items() if r in session.palette.samples}
        for role in list(session.channels):
            if role not in wanted:
                session.remove(role)
                self._ops += 1
        for role, pattern in wanted.items():
            current = session.channels.get(role)
            if current is None:
                session.add(role, self.gains.get(role, 0.5), pattern)
                self._ops += 1
            elif pattern is not None and current.kind == "oneshot" and current.pattern != pattern:
                session.pattern(role, pattern)
                self._ops += 1

    def report(self) -> DriverReport:
        return DriverReport(metrics={"dj/operations": float(self._ops)})


def from_config(cfg: Any, *, ear_scorer: EarScorerSource | None = None) -> ReferenceDriver:
    """``dj=reference``: the arrangement needs no settings (and no ears)."""
    return ReferenceDriver()
