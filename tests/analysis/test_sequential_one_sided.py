"""The one-sided confidence sequence is the one its docstring states (noncentral t likelihood
ratios from scipy), is tighter than the two-sided one on its side, and keeps alpha under looks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as st

from rlmdj.analysis.sequential import (
    MIXTURE,
    _log_one_sided,
    cs_multiplier,
    log_bayes_factor_one_sided,
    lower_confidence_sequence,
    lower_multiplier,
)
from rlmdj.errors import ParameterError


@pytest.mark.parametrize(("t", "n", "theta"), [(0.4, 3, 0.5), (2.0, 5, 1.0), (3.1, 12, 0.75), (1.5, 40, 0.3),
                                               (6.0, 8, 2.0)])
def test_component_is_the_noncentral_over_central_t_density(t: float, n: int, theta: float) -> None:
    expected = st.nct.logpdf(t, n - 1, theta * math.sqrt(n)) - st.t.logpdf(t, n - 1)
    assert _log_one_sided(t, n, theta) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("t", "n"), [(1.0, 4), (2.8, 9), (2.6, 30)])
def test_mixture_is_the_one_sided_halves_plus_the_symmetric_spread(t: float, n: int) -> None:
    nu, root, theta0 = n - 1, math.sqrt(n), 0.75

    def lr(delta: float) -> float:
        return st.nct.pdf(t, nu, delta * root) / st.t.pdf(t, nu)

    expected = 0.0
    for m, s, w in MIXTURE:
        m, s = m * theta0, s * theta0
        expected += w * (lr(m) if s == 0 else integrate.quad(
            lambda x, m=m, s=s: 0.5 * (lr(x) + lr(-x)) * st.norm.pdf(x, m, s), m - 10 * s, m + 10 * s)[0])
    assert math.exp(log_bayes_factor_one_sided(t, n, prior_effect=theta0)) == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize("n", [6, 9, 16, 40])
def test_lower_multiplier_is_where_the_mixture_reaches_one_over_alpha(n: int) -> None:
    c = lower_multiplier(n, alpha=0.05, prior_effect=0.75)
    assert math.exp(log_bayes_factor_one_sided(c, n, prior_effect=0.75)) == pytest.approx(20.0)
    # On its side it is tighter than the two-sided sequence, wider than a fixed-n one-sided t.
    assert st.t.ppf(0.95, n - 1) < c < cs_multiplier(n, alpha=0.05, prior_effect=0.75)


def test_too_few_pairs_give_no_bound_and_bad_settings_are_refused() -> None:
    assert lower_multiplier(4, alpha=0.05, prior_effect=0.75) == math.inf
    assert lower_confidence_sequence([0.3, 0.5, 0.1], alpha=0.05, prior_effect=0.75).low == -math.inf
    with pytest.raises(ParameterError, match="alpha"):
        lower_multiplier(10, alpha=1.5)


def test_bound_on_fixed_data_matches_numpy() -> None:
    d = [0.31, -0.12, 0.44, 0.25, 0.08, 0.52, 0.19, 0.37, -0.05, 0.29]
    cs = lower_confidence_sequence(d, alpha=0.05, prior_effect=0.75)
    mean, sd = float(np.mean(d)), float(np.std(d, ddof=1))
    assert (cs.n, cs.mean, cs.sd, cs.high) == (10, pytest.approx(mean), pytest.approx(sd), math.inf)
    assert cs.low == pytest.approx(mean - lower_multiplier(10, alpha=0.05, prior_effect=0.75) * sd / math.sqrt(10))


@pytest.mark.parametrize("mu", [0.0, -0.1])
def test_false_bound_rate_under_repeated_looks_stays_below_alpha(mu: float) -> None:
    """At mu <= 0 the bound rises above 0 at *some* look in at most alpha of sequences, looking after
    every pair from 6 to 60: the anytime guarantee (a fixed-n t bound would far exceed it at 0)."""
    rng = np.random.default_rng(3)
    d = rng.normal(mu, 0.42, (4000, 60))
    csum, csq = np.cumsum(d, 1), np.cumsum(d * d, 1)
    crossed = naive = np.zeros(d.shape[0], bool)
    for n in range(6, 61):
        mean = csum[:, n - 1] / n
        sd = np.sqrt((csq[:, n - 1] - n * mean**2) / (n - 1))
        crossed = crossed | (mean - lower_multiplier(n, alpha=0.05, prior_effect=0.75) * sd / math.sqrt(n) > 0)
        naive = naive | (mean - st.t.ppf(0.95, n - 1) * sd / math.sqrt(n) > 0)
    assert crossed.mean() < 0.05
    if mu == 0:
        assert naive.mean() > 0.15  # the same looks with a fixed-n bound: why the sequence is needed
