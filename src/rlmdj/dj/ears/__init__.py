"""The DJ's ears: hear a stretch of the set and audition moves on a copy of it.

- :mod:`~rlmdj.dj.ears.measure`: what one stretch sounds like (OBJ, axes, loudness, bands, clash).
- :mod:`~rlmdj.dj.ears.listener`: :class:`Ears`, the per-set budgets, ``listen`` and ``audition``.
- :mod:`~rlmdj.dj.ears.settings`: the ears a composed config asks for.
- :mod:`~rlmdj.dj.ears.tools`: the ``listen``/``audition`` tools the RLM calls.
"""

from rlmdj.dj.ears.listener import (
    Ears,
    Move,
    apply_moves,
    compact,
    parse_moves,
    render_ahead,
)
from rlmdj.dj.ears.measure import (
    AXES,
    BANDS,
    LUFS_FLOOR,
    EarScorer,
    EarScorerSource,
    Heard,
    band_balance,
    hear,
    most_clashing,
    need_ear_scorer,
    role_band_energy,
    score_stretch,
    window_seconds,
)

__all__ = [
    "AXES",
    "BANDS",
    "LUFS_FLOOR",
    "EarScorer",
    "EarScorerSource",
    "Ears",
    "Heard",
    "Move",
    "apply_moves",
    "band_balance",
    "compact",
    "hear",
    "most_clashing",
    "need_ear_scorer",
    "parse_moves",
    "render_ahead",
    "role_band_energy",
    "score_stretch",
    "window_seconds",
]
