"""Every statistic agrees with scipy on fixed data; power is pinned to textbook values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from rlmdj.analysis.stats import (
    describe,
    hedges_g,
    holm,
    paired,
    power_paired,
    power_two_sample,
    replicas_needed,
    replicas_needed_paired,
    two_sample,
)
from rlmdj.errors import ParameterError

# The example from the issue that motivated paired analysis: replica r shares palette and seed.
REFERENCE = [6.62, 7.05, 5.91, 6.48]
RANDOM = [5.80, 6.05, 5.30, 5.89]


def test_describe_matches_scipy() -> None:
    x = [6.5, 6.9, 7.0, 6.7, 6.8]
    s = describe(x)
    lo, hi = st.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=st.sem(x))
    assert s.n == 5 and s.mean == pytest.approx(np.mean(x)) and s.sd == pytest.approx(np.std(x, ddof=1))
    assert (s.ci_low, s.ci_high) == pytest.approx((lo, hi))


def test_two_sample_matches_scipy() -> None:
    a, b = [7.1, 7.3, 7.0, 7.4, 7.2], [6.8, 6.9, 7.05, 6.6, 6.7, 6.95]
    r = two_sample(a, b)
    welch = st.ttest_ind(a, b, equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert (r.welch_t, r.welch_p) == pytest.approx((welch.statistic, welch.pvalue))
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high))
    assert r.mw_p == pytest.approx(st.mannwhitneyu(a, b, alternative="two-sided", method="exact").pvalue)
    sp = math.sqrt((4 * np.var(a, ddof=1) + 5 * np.var(b, ddof=1)) / 9)
    assert r.hedges_g == pytest.approx((np.mean(a) - np.mean(b)) / sp * (1 - 3 / (4 * 11 - 9)))
    assert hedges_g(a, b) == pytest.approx(r.hedges_g)


def test_paired_matches_scipy() -> None:
    r = paired(RANDOM, REFERENCE)
    ref = st.ttest_rel(RANDOM, REFERENCE)
    ci = ref.confidence_interval(0.95)
    d = np.subtract(RANDOM, REFERENCE)
    assert r.n == 4 and r.diff == pytest.approx(d.mean()) and r.sd == pytest.approx(d.std(ddof=1))
    assert (r.t, r.p) == pytest.approx((ref.statistic, ref.pvalue))
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high))
    w = st.wilcoxon(RANDOM, REFERENCE, method="exact")
    assert r.wilcoxon_method == "exact" and (r.wilcoxon_w, r.wilcoxon_p) == pytest.approx((w.statistic, w.pvalue))
    assert r.d_z == pytest.approx(d.mean() / d.std(ddof=1))
    # Pairing is what makes this answerable: the unpaired test on the same numbers is far weaker.
    assert r.p < 0.01 < two_sample(RANDOM, REFERENCE).welch_p


def test_paired_wilcoxon_is_exact_for_small_n_and_normal_beyond() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(6, 0.3, 8), rng.normal(6.2, 0.3, 8)
    r = paired(a, b)
    assert r.wilcoxon_method == "exact"
    assert r.wilcoxon_p == pytest.approx(st.wilcoxon(a, b, method="exact").pvalue)
    a, b = rng.normal(6, 0.3, 60), rng.normal(6.1, 0.3, 60)
    r = paired(a, b)
    assert r.wilcoxon_method == "approx"
    assert r.wilcoxon_p == pytest.approx(st.wilcoxon(a, b, method="approx").pvalue)


def test_paired_deterministic_difference_and_unequal_lengths() -> None:
    p = paired([7.0, 7.0, 7.0], [6.8, 6.8, 6.8])
    assert p.diff == pytest.approx(0.2) and p.p == 0.0 and p.ci_low == pytest.approx(0.2)
    with pytest.raises(ParameterError, match="equal lengths"):
        paired([1.0, 2.0], [1.0])


def test_holm() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(holm([math.nan, 0.2])[0])


def test_replicas_needed_textbook_values() -> None:
    # Two-sample t, d = 0.5, 80% power, alpha = 0.05: 64 per group (Cohen 1988, Table 2.4.1).
    assert replicas_needed(delta=0.5, sd=1.0) == 64
    # Paired t, d_z = 0.5: 34 pairs (G*Power, "matched pairs"); d_z = 1: 10 pairs.
    assert replicas_needed_paired(delta=0.5, sd_diff=1.0) == 34
    assert replicas_needed_paired(delta=1.0, sd_diff=1.0) == 10
    assert replicas_needed(delta=0.3, sd=0.0) == 2 and replicas_needed_paired(delta=0.3, sd_diff=0.0) == 2
    with pytest.raises(ParameterError, match="delta"):
        replicas_needed_paired(delta=0.0, sd_diff=1.0)


@pytest.mark.parametrize("sd", [0.1, 0.22, 0.5])
def test_replicas_needed_paired_is_minimal_and_exact(sd: float) -> None:
    n = replicas_needed_paired(delta=0.3, sd_diff=sd)
    assert power_paired(n, delta=0.3, sd_diff=sd) >= 0.8 > power_paired(n - 1, delta=0.3, sd_diff=sd)
    # Exact power equals a noncentral-t computation done by hand.
    df, ncp = n - 1, 0.3 * math.sqrt(n) / sd
    crit = st.t.ppf(0.975, df)
    assert power_paired(n, delta=0.3, sd_diff=sd) == pytest.approx(
        st.nct.sf(crit, df, ncp) + st.nct.cdf(-crit, df, ncp))
    m = replicas_needed(delta=0.3, sd=sd)
    assert power_two_sample(m, delta=0.3, sd=sd) >= 0.8 > power_two_sample(m - 1, delta=0.3, sd=sd)
