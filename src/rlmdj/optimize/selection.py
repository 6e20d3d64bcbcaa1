"""The final prompt is the candidate with the highest *lower* confidence bound on validation, not
the highest mean.

After a search over many candidates the one with the highest validation mean is, more often than
not, one whose few scores were lucky (the winner's curse): its mean is biased up the most where
it rests on the fewest or noisiest scores. Ranking by a one-sided lower bound (Student t at
``alpha``) charges each candidate for its own uncertainty, so a candidate with a slightly lower
mean on many consistent briefs beats one with a higher mean on two scattered ones.

The unit is the brief: a brief's replicas are averaged first (replicas of one brief share its
palette, so they are not independent evidence about other briefs), then the bound is over
briefs. A candidate with fewer than two briefs has no bound (-inf) and is chosen only when no
candidate has one, by mean. Ties on the bound go to the higher mean, then the more briefs, then
the earlier candidate (the seed is 0: with nothing to tell them apart, the start is kept).
The bound is a ranking rule, not a test across candidates: whether the choice beats the start
is the held-out confirmation's question (:mod:`rlmdj.optimize.confirmation`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rlmdj.config.optimize import OptimizeConfig
from rlmdj.errors import ParameterError

__all__ = ["Bounds", "Selection", "bounds", "select_candidate"]

Scores = Mapping[Hashable, float | Sequence[float]]


@dataclass(frozen=True)
class Bounds:
    """One candidate's validation summary: briefs with a score, sets scored, mean of the brief
    means, their SD, and the one-sided bounds (``low`` ranks; ``high`` is its mirror)."""

    index: int
    briefs: int
    sets: int
    mean: float
    sd: float
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Selection:
    """The chosen candidate's index and every candidate's bounds, in candidate order."""

    index: int
    table: list[Bounds]

    @property
    def chosen(self) -> Bounds:
        return self.table[self.index]


def _brief_means(scores: Scores) -> tuple[list[float], int]:
    """Per-brief means of the finite scores (failed sets are missing), and the sets counted."""
    means, sets = [], 0
    for value in scores.values():
        values = [float(value)] if isinstance(value, int | float) else [float(v) for v in value]
        ok = [v for v in values if math.isfinite(v)]
        if ok:
            means.append(sum(ok) / len(ok))
            sets += len(ok)
    return means, sets


def bounds(index: int, scores: Scores, *, alpha: float = OptimizeConfig.alpha) -> Bounds:
    """The validation bounds of one candidate from ``{brief: score or [replica scores]}``."""
    from scipy import stats

    means, sets = _brief_means(scores)
    n = len(means)
    mean = sum(means) / n if n else math.nan
    if n < 2:
        return Bounds(index, n, sets, mean, math.nan, -math.inf, math.inf)
    sd = math.sqrt(sum((x - mean) ** 2 for x in means) / (n - 1))
    half = float(stats.t.ppf(1 - alpha, n - 1)) * sd / math.sqrt(n)
    return Bounds(index, n, sets, mean, sd, mean - half, mean + half)


def select_candidate(scores: Sequence[Scores], *, alpha: float = OptimizeConfig.alpha) -> Selection:
    """The candidate to keep: highest lower bound at ``alpha`` over its validation briefs.

    ``scores[i]`` maps each validation brief to candidate i's score there, or to its replica
    scores (GEPA's ``state.prog_candidate_val_subscores`` has the first form).
    """
    if not 0 < alpha < 0.5:
        raise ParameterError(f"experiment.optimize.alpha must be in (0, 0.5), got {alpha!r}")
    if not scores:
        raise ParameterError("no candidates to select from: the search evaluated none on validation")
    table = [bounds(i, s, alpha=alpha) for i, s in enumerate(scores)]
    scored = [b for b in table if b.briefs > 0]
    if not scored:
        return Selection(0, table)  # nothing was scored: keep the start
    ranked = [b for b in scored if b.briefs >= 2] or scored
    key = (lambda b: (b.low, b.mean, b.briefs, -b.index)) if ranked[0].briefs >= 2 else \
        (lambda b: (b.mean, b.briefs, -b.index))
    return Selection(max(ranked, key=key).index, table)
