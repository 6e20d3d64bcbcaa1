"""GEPA's acceptance step made a paired, anytime-valid one-sided test: a child prompt joins the
pool only when it is better than its parent beyond noise.

GEPA's default (``StrictImprovementAcceptance``) takes a child whenever its minibatch sum beats
its parent's. A set's OBJ varies by ~0.3 from seed to seed, so a child no better than its parent
wins that comparison half the time: the pool fills with lucky candidates, each costing a full
validation pass. :class:`PairedAcceptance` replaces it:

- **Paired.** Child and parent are compared on the same briefs with the same replica seeds;
  the decision reads the differences ``d = OBJ(child) - OBJ(parent)``, in which brief and seed
  effects cancel. Replica 0 is what GEPA already played (``subsample_scores_before/after``).
- **One-sided, anytime-valid.** Accept when the lower bound of a one-sided confidence sequence
  for the mean difference (:func:`rlmdj.analysis.sequential.lower_confidence_sequence`) is above
  ``min_effect``. The bound holds at every number of pairs at once, so adding a replica while
  the decision is open and looking again does not inflate the error: P(accept | true mean
  difference <= min_effect) <= ``alpha`` per decision, however many looks were taken.
- **Replicas only while open.** After each replica across the minibatch the decision is open
  while the lower bound is at or below ``min_effect`` and the mean difference above it; a child
  not ahead of its parent is rejected at once (no more rollouts spent on it), and one still open
  after ``max_replicas`` replicas per brief is rejected as undecided. Stopping early for futility
  only lowers the acceptance rate, so it costs power, never the error rate.
- **Failures are missing, not zero.** A rollout that raised :class:`FailedRollout` (or a non-finite
  minibatch score) drops its pair; the count is logged.

Why anytime-valid rather than a correction for the number of decisions: the number of looks in
one decision is data-dependent (a borderline child gets more replicas), which a fixed-n test
cannot allow without a peeking penalty, while the confidence sequence makes the look count free.
The number of *decisions* is also unknown in advance (it depends on the budget and on how often
the reflection proposes), so a Bonferroni-style alpha / m is not available either. What the
guarantee is: each decision, taken alone, accepts a child no better than its parent with
probability <= alpha, so the *expected number* of such false acceptances over a run is <= alpha
times the number of decisions on null children. What it is not: a family-wise bound (with 40 null
children, about 2 false acceptances at alpha 0.05 are expected), and it does not say the accepted
child beats the *seed* or generalises beyond the minibatch's briefs: the validation pool
(:mod:`rlmdj.optimize.selection`) and the held-out confirmation
(:mod:`rlmdj.optimize.confirmation`) answer those.

Defaults (``experiment.optimize`` in :class:`rlmdj.config.optimize.OptimizeConfig`, tuned with
``benchmarks/bench_prompt_acceptance.py`` at SD 0.3 per set): a minibatch of 4 briefs, at most 10
replicas per brief, ``alpha`` 0.05, mixture scale :data:`PRIOR_EFFECT` (effects of ~0.75 SD of
the differences: 0.3 OBJ against an SD of 0.42). They accept ~2% of children with no true effect
and ~88% with +0.3 OBJ; a minibatch of 3 accepts only ~79% of the latter.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rlmdj.analysis.sequential import lower_multiplier
from rlmdj.config.optimize import OptimizeConfig
from rlmdj.errors import ParameterError
from rlmdj.optimize.pairs import PairedScores, Score, candidate_key

if TYPE_CHECKING:
    from gepa.core.state import GEPAState
    from gepa.proposer.base import CandidateProposal

__all__ = ["MIN_EFFECT", "PRIOR_EFFECT", "Decision", "PairedAcceptance"]

MIN_EFFECT = 0.0
"""OBJ the child must beat its parent by (the tested null is mean difference <= this)."""
PRIOR_EFFECT = 0.75
"""Scale of the confidence sequence's mixture, in SDs of the differences."""

_KEY = "experiment.optimize"


@dataclass
class Decision:
    """One acceptance decision, for the job's MLflow tags and candidate table.

    ``child`` is the pool index the accepted child got (filled by :meth:`PairedAcceptance.link`);
    ``low``/``high`` are the one-sided bounds at the last look (each at level ``alpha``), the
    running intersection over looks; ``metric_calls`` counts the rollouts the decision requested
    beyond GEPA's minibatch evaluation; ``dropped`` the pairs lost to failed rollouts.
    """

    iteration: int
    parent: int
    child: int | None
    candidate: str
    briefs: int
    replicas: int
    pairs: int
    dropped: int
    mean: float
    sd: float
    low: float
    high: float
    accepted: bool
    reason: str
    metric_calls: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PairedAcceptance:
    """GEPA ``AcceptanceCriterion``: accept a child only when a paired one-sided anytime-valid test
    at level ``alpha`` says it beats its parent by more than ``min_effect`` (module docstring).

    ``alpha`` is the one-sided error rate per decision; ``max_replicas`` the replicas per minibatch
    brief a decision may use, GEPA's replica 0 included (so at most 2 * minibatch *
    (max_replicas - 1) extra metric calls). ``score(candidate, data_id, replica)`` plays one set (raising :class:`FailedRollout` when it
    cannot); replicas 1, 2, ... of a minibatch brief are played only while the decision is open,
    at most ``max_replicas`` per brief (replica 0 included). With ``count_in_budget`` the extra
    rollouts are added to GEPA's ``state.total_num_evals``, so ``max_metric_calls`` sees them.
    """

    def __init__(self, score: Score, *, alpha: float = OptimizeConfig.alpha,
                 max_replicas: int = OptimizeConfig.max_replicas,
                 min_effect: float = MIN_EFFECT, prior_effect: float = PRIOR_EFFECT,
                 count_in_budget: bool = True) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 0.5:
            raise ParameterError(f"{_KEY}.alpha must be in (0, 0.5), got {alpha!r}")
        if isinstance(max_replicas, bool) or not isinstance(max_replicas, int) or max_replicas < 1:
            raise ParameterError(f"{_KEY}.max_replicas must be a whole number >= 1, got {max_replicas!r}")
        if not isinstance(min_effect, int | float) or not (math.isfinite(min_effect) and min_effect >= 0):
            raise ParameterError(f"{_KEY}.min_effect must be a finite number >= 0 (OBJ), got {min_effect!r}")
        if not isinstance(prior_effect, int | float) or not 0 < prior_effect <= 10:
            raise ParameterError(f"{_KEY}.prior_effect must be in (0, 10], got {prior_effect!r}")
        self.alpha, self.max_replicas = float(alpha), max_replicas
        self.min_effect, self.prior_effect = float(min_effect), float(prior_effect)
        self.count_in_budget = count_in_budget
        self.scores = PairedScores(score)
        self.decisions: list[Decision] = []
        self._by_proposal: dict[int, tuple[Any, Decision]] = {}

    # GEPA's protocol -------------------------------------------------------------------------
    def should_accept(self, proposal: CandidateProposal, state: GEPAState) -> bool:
        return self.decision(proposal, state).accepted

    def reject_reason(self, proposal: CandidateProposal, state: GEPAState) -> str:
        return self.decision(proposal, state).reason

    # -----------------------------------------------------------------------------------------
    def decision(self, proposal: CandidateProposal, state: GEPAState) -> Decision:
        """The decision on ``proposal``, taken once (later calls return the same one)."""
        seen = self._by_proposal.get(id(proposal))
        if seen is not None and seen[0] is proposal:
            return seen[1]
        made = self._decide(proposal, state)
        self.decisions.append(made)
        self._by_proposal = {k: v for k, v in list(self._by_proposal.items())[-63:]}
        self._by_proposal[id(proposal)] = (proposal, made)
        if self.count_in_budget and made.metric_calls and hasattr(state, "increment_evals"):
            state.increment_evals(made.metric_calls)
        return made

    def link(self, state: GEPAState) -> None:
        """Fill ``child`` of accepted decisions with the pool index their candidate got."""
        index = {candidate_key(c): i for i, c in enumerate(state.program_candidates)}
        for d in self.decisions:
            if d.accepted and d.child is None:
                d.child = index.get(d.candidate)

    def summary(self) -> dict[str, float]:
        """Counts over all decisions so far: for the job's run metrics."""
        return {"decisions": float(len(self.decisions)),
                "accepted": float(sum(d.accepted for d in self.decisions)),
                "metric_calls": float(sum(d.metric_calls for d in self.decisions)),
                "dropped_pairs": float(sum(d.dropped for d in self.decisions))}

    def _decide(self, proposal: CandidateProposal, state: GEPAState) -> Decision:
        parent_id = proposal.parent_program_ids[0]
        parent, child = state.program_candidates[parent_id], proposal.candidate
        ids: Sequence[Hashable] = list(proposal.subsample_indices or [])
        for cand, got in ((parent, proposal.subsample_scores_before), (child, proposal.subsample_scores_after)):
            if got is not None and len(got) == len(ids):  # else replica 0 is scored like the others
                for data_id, value in zip(ids, got, strict=True):
                    self.scores.known(cand, data_id, 0, value)
        calls0 = self.scores.calls
        d: list[float] = []
        dropped, low, high, thr = 0, -math.inf, math.inf, self.min_effect
        verdict, replicas = None, 0
        for r in range(self.max_replicas):
            replicas = r + 1
            for data_id in ids:
                x = self.scores.difference(parent, child, data_id, r)
                if x is None:
                    dropped += 1
                else:
                    d.append(x)
            low, high = self._bounds(d, low, high)
            mean = sum(d) / len(d) if d else math.nan
            if low > thr:
                verdict = True
                break
            if d and mean <= thr:
                verdict = False
                break
        n = len(d)
        mean = sum(d) / n if n else math.nan
        sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else math.nan
        spent = self.scores.calls - calls0
        reason = self._reason(verdict, n, replicas, dropped, mean, low)
        return Decision(iteration=int(getattr(state, "i", -1)) + 1, parent=parent_id, child=None,
                        candidate=candidate_key(child), briefs=len(ids), replicas=replicas, pairs=n,
                        dropped=dropped, mean=mean, sd=sd, low=low, high=high, accepted=bool(verdict),
                        reason=reason, metric_calls=spent)

    def _bounds(self, d: list[float], low: float, high: float) -> tuple[float, float]:
        """The running intersection of the one-sided bounds (each at level alpha) with ``d``."""
        n = len(d)
        if n < 2:
            return low, high
        mean = sum(d) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
        c = lower_multiplier(n, alpha=self.alpha, prior_effect=self.prior_effect)
        if not math.isfinite(c):
            return low, high
        half = c * sd / math.sqrt(n)
        return max(low, mean - half), min(high, mean + half)

    def _reason(self, verdict: bool | None, n: int, replicas: int, dropped: int, mean: float,
                low: float) -> str:
        thr = f"{self.min_effect:+.2f}"
        lost = f", {dropped} pair(s) dropped for failed rollouts" if dropped else ""
        where = f"after {n} pairs ({replicas} replica(s) per brief{lost})"
        if verdict:
            return f"accepted: child - parent {mean:+.3f} OBJ, lower bound {low:+.3f} > {thr} {where}"
        if n == 0:
            return f"rejected: no complete pair {where}"
        if verdict is False:
            return f"rejected: child not ahead of its parent ({mean:+.3f} OBJ <= {thr}) {where}"
        return (f"rejected: undecided at the cap of {self.max_replicas} replicas ({mean:+.3f} OBJ, "
                f"lower bound {low:+.3f} <= {thr}) {where}")
