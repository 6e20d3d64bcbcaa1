"""Held-out confirmation: is the chosen prompt better than the one the search started from?

Everything before this point reused its data: minibatches chose children, the validation set
chose among them. Both biases favour the chosen prompt, so its own validation scores cannot
answer the question. Here both prompts play held-out briefs the search never saw, with replica
seeds it never used, paired per (brief, replica); one replica across all held-out briefs is one
look at the two-sided confidence sequence of :mod:`rlmdj.analysis.sequential` (anytime-valid, so
looking after every round is free), with the sequential sweeper's stopping rule
(:func:`rlmdj.analysis.sequential.decide`):

- **better** / **worse**: the sequence excludes 0 on that side;
- **no better than the start**: it lies within +-``delta`` (the sweeper's "equivalent"), or,
  at the cap, it still excludes every improvement of ``delta`` or more (an upper bound below
  ``delta`` alone does not stop it early: a worse prompt should be shown worse);
- **undecided at the cap**: ``max_pairs`` pairs were played and none of the above holds.

Pairs with a failed side are dropped (:class:`rlmdj.optimize.pairs.FailedRollout`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rlmdj.analysis.formatting import number
from rlmdj.analysis.sequential import DIFFERENT, EQUIVALENT, confidence_sequence, decide
from rlmdj.config.optimize import OptimizeConfig
from rlmdj.errors import ParameterError
from rlmdj.optimize.pairs import Candidate, PairedScores, Score, candidate_key

__all__ = ["CONFIRM_PRIOR_EFFECT", "BETTER", "NO_BETTER", "WORSE", "UNDECIDED", "Confirmation",
           "confirm"]

CONFIRM_PRIOR_EFFECT = 0.75
"""Mixture scale of the confidence sequence, in SDs of the differences (0.3 OBJ / 0.42)."""

BETTER, NO_BETTER, WORSE, UNDECIDED = "better", "no better than the start", "worse", "undecided at the cap"
_KEY = "experiment.optimize"


@dataclass(frozen=True)
class Confirmation:
    """The held-out comparison: chosen - start in OBJ, its confidence sequence at the last look,
    pairs used and dropped, replicas per brief and sets played."""

    verdict: str
    effect: float
    low: float
    high: float
    pairs: int
    dropped: int
    briefs: int
    replicas: int
    metric_calls: int
    alpha: float
    delta: float
    same_prompt: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def description(self) -> str:
        """One paragraph for the parent run's description."""
        if self.same_prompt:
            return ("Held-out confirmation: the search kept the starting prompt (no candidate's "
                    "validation lower bound was higher), so there was nothing to confirm.")
        lost = f", {self.dropped} pair(s) dropped for failed rollouts" if self.dropped else ""
        effect = (f"{number(self.effect, 2, signed=True, minus='−')} OBJ "
                  f"[{number(self.low, 2, minus='−')}, {number(self.high, 2, minus='−')}]")
        meaning = {
            BETTER: "the chosen prompt is better than the start, distinguishable from noise",
            WORSE: "the chosen prompt is worse than the start, distinguishable from noise",
            NO_BETTER: f"the chosen prompt is no better than the start (an improvement of "
                       f"{self.delta:g} OBJ or more is excluded)",
            UNDECIDED: f"undecided at the cap of {self.pairs + self.dropped} pairs: neither a difference "
                       f"nor the absence of a {self.delta:g} OBJ improvement could be shown",
        }[self.verdict]
        return (f"Held-out confirmation: the chosen prompt against the starting prompt on {self.briefs} "
                f"held-out briefs with fresh seeds, paired over {self.pairs} pairs ({self.replicas} "
                f"replica(s) per brief{lost}, {self.metric_calls} sets played): {effect} "
                f"(anytime-valid {1 - self.alpha:.0%} confidence sequence); {meaning}.")


def confirm(score: Score, start: Candidate, chosen: Candidate, briefs: Sequence[Hashable], *,
            alpha: float = OptimizeConfig.alpha, delta: float = OptimizeConfig.confirm_delta,
            max_pairs: int = OptimizeConfig.confirm_max_pairs, prior_effect: float = CONFIRM_PRIOR_EFFECT,
            first_replica: int = 0) -> Confirmation:
    """Compare ``chosen`` with ``start`` on the held-out ``briefs``, replicas ``first_replica``,
    ``first_replica + 1``, ... (seeds the search never used), until a verdict or ``max_pairs``
    pairs (each two sets). ``alpha`` is the confidence sequence's two-sided error rate, ``delta``
    the smallest improvement in OBJ worth having."""
    if not 0 < alpha < 0.5:
        raise ParameterError(f"{_KEY}.alpha must be in (0, 0.5), got {alpha!r}")
    if not (math.isfinite(delta) and delta > 0):
        raise ParameterError(f"{_KEY}.confirm_delta must be > 0 (OBJ), got {delta!r}")
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 2:
        raise ParameterError(f"{_KEY}.confirm_max_pairs must be a whole number >= 2, got {max_pairs!r}")
    if not briefs:
        raise ParameterError(f"{_KEY}.n_heldout must be >= 1: the confirmation has no held-out brief")
    if candidate_key(start) == candidate_key(chosen):
        return Confirmation(NO_BETTER, 0.0, 0.0, 0.0, 0, 0, len(briefs), 0, 0, alpha, delta, same_prompt=True)
    scores = PairedScores(score)
    d: list[float] = []
    dropped, tried, replicas = 0, 0, 0
    low, high, verdict = -math.inf, math.inf, UNDECIDED
    while tried < max_pairs:
        for data_id in briefs[: max_pairs - tried]:
            x = scores.difference(start, chosen, data_id, first_replica + replicas)
            tried += 1
            if x is None:
                dropped += 1
            else:
                d.append(x)
        replicas += 1
        cs = confidence_sequence(d, alpha=alpha, prior_effect=prior_effect)
        low, high = max(low, cs.low), min(high, cs.high)
        state = decide(low, high, delta=delta)
        if state == DIFFERENT:
            verdict = BETTER if low > 0 else WORSE
            break
        if state == EQUIVALENT:
            verdict = NO_BETTER
            break
    else:
        verdict = NO_BETTER if high < delta else UNDECIDED
    effect = sum(d) / len(d) if d else math.nan
    return Confirmation(verdict, effect, low, high, len(d), dropped, len(briefs), replicas, scores.calls,
                        alpha, delta)
