"""Paired scores of two prompts on the same briefs and replica seeds, each rollout paid for once.

The acceptance test and the held-out confirmation both compare two candidates through the same
``score(candidate, brief, replica) -> OBJ`` callable; the pair on (brief, replica) uses the same
palette and seed for both, so brief effects and seed luck cancel in the difference. A rollout
that fails raises :class:`FailedRollout`: it is a missing value, never a zero (a zero would read
as a terrible set and push the decision towards whichever side crashed less by chance), and a
pair with a missing side is dropped. Retrying is the caller's job, before it raises.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Hashable
from typing import Any, TypeAlias

from rlmdj.errors import RlmdjError

__all__ = ["Candidate", "FailedRollout", "Score", "candidate_key", "PairedScores"]

Candidate: TypeAlias = dict[str, str]
Score: TypeAlias = Callable[[Candidate, Any, int], float]
"""``score(candidate, data_id, replica)``: the OBJ of ``candidate`` on brief ``data_id`` with the
seed of replica ``replica``; raises :class:`FailedRollout` when the set could not be played."""


class FailedRollout(RlmdjError):
    """A set that could not be played or scored after the caller's retries: no OBJ exists."""


def candidate_key(candidate: Candidate) -> str:
    """A candidate's identity: the SHA-256 of its components in name order (as GEPA's cache)."""
    return hashlib.sha256(json.dumps(sorted(candidate.items())).encode()).hexdigest()


class PairedScores:
    """``score`` memoised per (candidate, brief, replica), counting the calls actually made.

    ``calls`` counts calls to ``score`` (failed ones included): the metric calls a decision spent.
    The caller may cache too; then ``calls`` is an upper bound on fresh rollouts.
    """

    def __init__(self, score: Score) -> None:
        self._score = score
        self._memo: dict[tuple[str, Hashable, int], float | None] = {}
        self.calls = 0

    def known(self, candidate: Candidate, data_id: Hashable, replica: int, value: float | None) -> None:
        """Record a value obtained elsewhere (GEPA's minibatch scores); None or NaN is a failure."""
        ok = value is not None and math.isfinite(float(value))
        self._memo[(candidate_key(candidate), data_id, replica)] = float(value) if ok else None

    def value(self, candidate: Candidate, data_id: Hashable, replica: int) -> float | None:
        """The OBJ, or None when the rollout failed (a non-finite score counts as failed)."""
        key = (candidate_key(candidate), data_id, replica)
        if key not in self._memo:
            self.calls += 1
            try:
                got: float | None = float(self._score(candidate, data_id, replica))
            except FailedRollout:
                got = None
            self._memo[key] = got if got is not None and math.isfinite(got) else None
        return self._memo[key]

    def difference(self, a: Candidate, b: Candidate, data_id: Hashable, replica: int) -> float | None:
        """OBJ(b) - OBJ(a) on one (brief, replica), or None when either failed. ``b`` is scored
        first: when it fails, ``a`` is not played for nothing."""
        vb = self.value(b, data_id, replica)
        if vb is None:
            return None
        va = self.value(a, data_id, replica)
        return None if va is None else vb - va
