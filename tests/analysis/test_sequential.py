"""The confidence sequence is the one its docstring states, keeps alpha under repeated looks, and
stops early on large effects (simulation with the sweeper's own state machine)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from rlmdj.analysis.sequential import confidence_sequence, cs_multiplier, decide
from rlmdj.errors import ParameterError
from rlmdj.experiments.sequential import SequentialSettings, SequentialState, plan


def _bayes_factor(t: float, n: int, g: float) -> float:
    """B_n of the t-statistic with a N(0, g) mixture over the standardised effect."""
    nu, r = n - 1, 1 + n * g
    return r ** -0.5 * ((1 + t * t / nu) / (1 + t * t / (nu * r))) ** (n / 2)


def test_closed_form_bayes_factor_is_the_scale_invariant_mixture() -> None:
    """B_n = the N(0, g) mixture over the effect, with sigma integrated against 1/sigma (right Haar):
    the likelihood ratio of the scale-invariant reduction, computed here by quadrature."""
    from scipy import integrate

    d = np.array([0.05, 0.12, 0.21, 0.08, 0.16])
    n, g = d.size, 4.0

    def lik(mu: float, s: float) -> float:  # Gaussian likelihood (constant factors cancel)
        return math.exp(-float(((d - mu) ** 2).sum()) / (2 * s * s)) / s**n

    # sigma over log-space (ds / s = dlog s); the integrands vanish outside these bounds.
    num = integrate.dblquad(lambda delta, u: lik(delta * math.exp(u), math.exp(u)) * math.exp(-delta * delta / (2 * g)) / math.sqrt(2 * math.pi * g),
                            math.log(1e-3), math.log(2.0), -12, 12, epsrel=1e-7)[0]
    den = integrate.quad(lambda u: lik(0.0, math.exp(u)), math.log(1e-3), math.log(2.0), epsrel=1e-9)[0]
    t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
    assert _bayes_factor(t, n, g) == pytest.approx(num / den, rel=1e-5)


@pytest.mark.parametrize("n", [4, 5, 8, 20])
def test_boundary_is_where_the_mixture_bayes_factor_reaches_one_over_alpha(n: int) -> None:
    c = cs_multiplier(n, alpha=0.05, prior_sd=2.0)
    assert math.isfinite(c)
    assert _bayes_factor(c, n, 4.0) == pytest.approx(1 / 0.05)
    # Wider than the fixed-n t interval: the price of looking as often as one likes.
    assert c > st.t.ppf(0.975, n - 1)


def test_confidence_sequence_interval_and_decisions() -> None:
    d = [0.55, 0.62, 0.71, 0.58, 0.66]
    cs = confidence_sequence(d, alpha=0.05)
    half = cs_multiplier(5, alpha=0.05) * np.std(d, ddof=1) / math.sqrt(5)
    assert (cs.low, cs.high) == pytest.approx((np.mean(d) - half, np.mean(d) + half))
    assert decide(cs.low, cs.high, delta=0.3) == "different"
    assert decide(-0.1, 0.2, delta=0.3) == "equivalent"
    assert decide(-0.4, 0.2, delta=0.3) == "continue"
    assert math.isinf(confidence_sequence([0.1], alpha=0.05).high)
    assert math.isinf(cs_multiplier(3, alpha=0.05, prior_sd=2.0))  # too few to exclude anything
    with pytest.raises(ParameterError, match="alpha"):
        cs_multiplier(5, alpha=1.5)


def _simulate(true_diff: float, sd: float, settings: SequentialSettings, sims: int, seed: int) -> list[SequentialState]:
    """Run the sweeper's state machine on simulated paired OBJ (two conditions)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(sims):
        base = rng.normal(6.5, 0.5, settings.max_replicas)  # palette spread: cancels in pairs
        other = base + true_diff + rng.normal(0.0, sd, settings.max_replicas)
        state = SequentialState(settings, ["dj=reference", "dj=random"])
        done = 0
        for target in settings.schedule():
            for r in range(done, target):
                state.record("dj=reference", r, float(base[r]))
                state.record("dj=random", r, float(other[r]))
            done = target
            if state.analyse(target):
                break
        out.append(state)
    return out


def test_null_false_different_rate_is_at_most_alpha() -> None:
    sims, alpha = 600, 0.05
    mc = 3 * math.sqrt(alpha * (1 - alpha) / sims)
    for round_size in (2, 1):  # the default rounds, and a look after every single replica
        states = _simulate(0.0, 0.3, SequentialSettings(round_size=round_size), sims, seed=round_size)
        false_different = np.mean([s.decisions["dj=random"] == "different" for s in states])
        assert false_different <= alpha + mc, (round_size, false_different)


def test_large_difference_stops_within_six_replicas() -> None:
    # True difference 0.6 OBJ, SD of the differences 0.2, analysing after every replica.
    states = _simulate(0.6, 0.2, SequentialSettings(round_size=1), 500, seed=7)
    stopped = [s.rounds[-1]["replicas"] for s in states if s.decisions["dj=random"] == "different"]
    assert sum(n <= 6 for n in stopped) / len(states) >= 0.90
    # With the default rounds (3, 5, 7, ...) nearly every sequence has stopped by 7.
    states = _simulate(0.6, 0.2, SequentialSettings(), 500, seed=8)
    assert np.mean([s.rounds[-1]["replicas"] <= 7 and s.stop_reason == "decided" for s in states]) >= 0.95
    assert "different from the baseline" in states[0].verdicts()[0]
    assert states[0].verdicts()[0].startswith("random vs reference: +0.")


def test_equivalence_and_undecided_stops() -> None:
    [tiny] = _simulate(0.0, 0.02, SequentialSettings(), 1, seed=1)
    assert tiny.decisions["dj=random"] == "equivalent" and tiny.stop_reason == "decided"
    assert "equivalent within ±0.3 OBJ" in tiny.verdicts()[0]
    [noisy] = _simulate(0.1, 1.0, SequentialSettings(max_replicas=6), 1, seed=2)
    assert noisy.decisions["dj=random"] == "undecided" and noisy.stop_reason == "max_replicas"
    assert [r["replicas"] for r in noisy.rounds] == [3, 5, 6]


def test_plan_expands_conditions_and_refuses_what_cannot_be_analysed() -> None:
    conditions, fixed = plan(["dj=reference,random", "bars=8", "prompt=a,b"])
    assert [c.label for c in conditions] == ["dj=reference,prompt=a", "dj=reference,prompt=b",
                                             "dj=random,prompt=a", "dj=random,prompt=b"]
    assert fixed == ["bars=8"]
    with pytest.raises(ParameterError, match="at least two"):
        plan(["dj=random", "bars=8"])
    with pytest.raises(ParameterError, match="remove replica"):
        plan(["dj=reference,random", "replica=range(3)"])
    with pytest.raises(ParameterError, match="palette"):
        plan(["palette=a,b"])
    with pytest.raises(ParameterError, match="max_replicas"):
        SequentialSettings(min_replicas=5, max_replicas=4)
