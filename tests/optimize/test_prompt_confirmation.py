"""The held-out confirmation reaches the right verdict for better, neutral and worse prompts on
fixed seeds, stops at its cap, drops failed pairs, uses fresh replicas, and its figures are those
of the two-sided confidence sequence on the pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlmdj.analysis.sequential import cs_multiplier
from rlmdj.errors import ParameterError
from rlmdj.optimize.confirmation import (
    BETTER,
    NO_BETTER,
    UNDECIDED,
    WORSE,
    confirm,
)
from rlmdj.optimize.pairs import FailedRollout

START, BRIEFS = {"p": "start"}, ["h0", "h1", "h2", "h3"]


def world(effect: float, seed: int = 0, fail: frozenset = frozenset()):
    base = {b: 6.5 + 0.4 * i for i, b in enumerate(BRIEFS)}
    calls: list[tuple[str, str, int]] = []

    def score(candidate: dict[str, str], brief: str, replica: int) -> float:
        calls.append((candidate["p"], brief, replica))
        if (candidate["p"], brief, replica) in fail:
            raise FailedRollout("no audio")
        key = sum(map(ord, candidate["p"]))
        noise = np.random.default_rng((seed, key, BRIEFS.index(brief), replica)).standard_normal()
        return base[brief] + (effect if candidate["p"] != "start" else 0.0) + 0.3 * float(noise)

    return score, calls


@pytest.mark.parametrize(("effect", "verdict"), [(0.6, BETTER), (0.0, NO_BETTER), (-0.6, WORSE)])
def test_verdicts_for_better_neutral_and_worse_prompts(effect: float, verdict: str) -> None:
    hits = 0
    for seed in range(10):
        score, _ = world(effect, seed)
        result = confirm(score, START, {"p": "chosen"}, BRIEFS, max_pairs=64)
        hits += result.verdict == verdict
        assert result.verdict in (verdict, UNDECIDED)  # never the opposite conclusion
    assert hits >= 8


def test_figures_are_the_confidence_sequence_of_the_pairs() -> None:
    score, calls = world(0.6, seed=3)
    result = confirm(score, START, {"p": "chosen"}, BRIEFS, first_replica=100)
    assert {r for _, _, r in calls} == set(range(100, 100 + result.replicas))  # fresh seeds only
    d = [score({"p": "chosen"}, b, r) - score(START, b, r) for r in range(100, 100 + result.replicas) for b in BRIEFS]
    n, mean, sd = len(d), float(np.mean(d)), float(np.std(d, ddof=1))
    assert (result.pairs, result.effect, result.metric_calls) == (n, pytest.approx(mean), 2 * n)
    half = cs_multiplier(n, alpha=0.05, prior_effect=0.75) * sd / math.sqrt(n)
    assert result.high <= mean + half + 1e-12 and result.low >= mean - half - 1e-12
    assert result.verdict == BETTER and result.low > 0
    text = result.description()
    assert "better than the start" in text and f"{result.pairs} pairs" in text and "+0." in text


def test_undecided_at_the_cap_and_failed_pairs_dropped() -> None:
    score, calls = world(0.15, seed=1, fail=frozenset({("chosen", "h1", 0), ("start", "h2", 1)}))
    result = confirm(score, START, {"p": "chosen"}, BRIEFS, max_pairs=10)
    assert result.verdict == UNDECIDED and result.pairs + result.dropped == 10
    assert result.dropped == 2 and result.replicas == 3
    assert ("start", "h1", 0) not in calls  # the start is not played against a failed chosen set
    assert "undecided at the cap of 10 pairs" in result.description()


def test_the_start_kept_needs_no_confirmation_and_bad_settings_are_refused() -> None:
    score, calls = world(0.0)
    result = confirm(score, START, dict(START), BRIEFS)
    assert result.same_prompt and result.pairs == 0 and not calls
    assert "nothing to confirm" in result.description()
    with pytest.raises(ParameterError, match="confirm_max_pairs"):
        confirm(score, START, {"p": "x"}, BRIEFS, max_pairs=1)
    with pytest.raises(ParameterError, match="n_heldout"):
        confirm(score, START, {"p": "x"}, [])
