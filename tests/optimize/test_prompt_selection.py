"""The final prompt is chosen by its validation lower bound (checked against scipy), not its mean;
replicas are averaged within a brief, failed sets are missing, and too-few-score candidates and
ties are ranked as the module says."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from rlmdj.errors import ParameterError
from rlmdj.optimize.selection import bounds, select_candidate


def test_bounds_are_scipys_one_sided_t_bounds_over_brief_means() -> None:
    scores = {"a": [6.1, 6.5], "b": 7.2, "c": [5.9, math.nan, 6.3], "d": 6.8, "e": [math.nan]}
    means = [6.3, 7.2, 6.1, 6.8]
    b = bounds(3, scores, alpha=0.1)
    assert (b.index, b.briefs, b.sets) == (3, 4, 6)
    assert b.mean == pytest.approx(np.mean(means)) and b.sd == pytest.approx(np.std(means, ddof=1))
    test = st.ttest_1samp(means, 0.0, alternative="greater")
    assert b.low == pytest.approx(test.confidence_interval(0.9).low)
    upper = st.ttest_1samp(means, 0.0, alternative="less").confidence_interval(0.9).high
    assert b.high == pytest.approx(upper)


def test_chooses_the_highest_lower_bound_not_the_highest_mean() -> None:
    lucky = {0: 8.4, 1: 6.0, 2: 7.9, 3: 5.9}      # mean 7.05, scattered
    steady = {0: 6.9, 1: 6.8, 2: 7.0, 3: 6.85}    # mean 6.89, consistent
    seed = {0: 6.5, 1: 6.4, 2: 6.6, 3: 6.5}
    chosen = select_candidate([seed, lucky, steady])
    by_mean = max(range(3), key=lambda i: chosen.table[i].mean)
    assert by_mean == 1 and chosen.index == 2
    assert chosen.chosen.low == max(b.low for b in chosen.table)
    assert [b.index for b in chosen.table] == [0, 1, 2]


def test_single_scores_ties_and_nothing_scored() -> None:
    # One brief gives no bound: ranked below any candidate with one, however high its mean.
    assert select_candidate([{0: 6.0, 1: 6.2}, {0: 9.9}]).index == 0
    # Nobody has two briefs: the mean decides; equal means keep the earlier (the start).
    assert select_candidate([{0: 6.0}, {0: 6.4}, {0: 6.4}]).index == 1
    # Equal bounds: the higher mean, then the earlier candidate.
    same = {0: 6.0, 1: 6.4}
    assert select_candidate([dict(same), dict(same)]).index == 0
    # Nothing scored (every set failed): keep the start.
    assert select_candidate([{0: math.nan}, {}]).index == 0
    with pytest.raises(ParameterError, match="no candidates"):
        select_candidate([])
    with pytest.raises(ParameterError, match="experiment.optimize.alpha"):
        select_candidate([same], alpha=0.7)


def test_replicas_make_a_brief_one_unit() -> None:
    """Ten replicas of one brief are not ten briefs: still no bound."""
    b = bounds(0, {0: [6.0 + 0.01 * i for i in range(10)]})
    assert (b.briefs, b.sets, b.low) == (1, 10, -math.inf)
