"""Anytime-valid confidence sequences for a paired mean difference, and the stopping rule.

A sequential sweep looks at its data after every round of replicas and stops when the answer is
clear. Repeated looks break fixed-n tests (peeking at a t-test after every replica inflates its
false-positive rate well above alpha), so the decision uses a **confidence sequence**: a
sequence of intervals CS_n that contains the true mean difference at *every* n simultaneously
with probability >= 1 - alpha, however the stopping time is chosen.

The method: the scale-invariant normal-mixture t confidence sequence (Lai 1976; analysed by
Wang & Ramdas 2023; the normal-mixture boundary family is that of Howard et al. 2021). For
Gaussian differences d_i ~ N(mu, sigma^2) with sigma unknown, the Bayes factor of the t-statistic
for mean mu0, with a N(0, g) mixture over the standardised effect (mu - mu0) / sigma,

    B_n(mu0) = (1 + n g)^(-1/2) * [(1 + t^2/nu) / (1 + t^2/(nu (1 + n g)))]^(n/2),  nu = n - 1,

is a nonnegative martingale under mu = mu0 for every sigma (it is the likelihood ratio of the
scale-invariant reduction of the data). By Ville's inequality P(exists n: B_n(mu) >= 1/alpha) <=
alpha, so {mu0 : B_n(mu0) < 1/alpha} is a (1 - alpha) confidence sequence. Solving for t gives
a closed form: with r = 1 + n g and K = (sqrt(r) / alpha)^(2/n),

    CS_n = mean(d) +/- c_n * SD(d) / sqrt(n),  c_n = sqrt(nu * r * (K - 1) / (r - K))  (K < r),

and the whole line while K >= r (too few replicas to exclude anything). ``prior_sd`` = sqrt(g)
is the spread of standardised effects the mixture favours. With 2 the boundary is tightest
around 5-7 pairs (c_5 = 5.36, c_6 = 4.73), where differences of a few SDs of the differences
(typical between DJ conditions on shared palettes) are decided; at 20 pairs it is 7% wider than
the tightest choice for that n (c_20 = 3.63 vs 3.39). With 3 pairs or fewer it is unbounded.

References:
- T. L. Lai (1976). On confidence sequences. Annals of Statistics 4(2), 265-280.
- S. R. Howard, A. Ramdas, J. McAuliffe, J. Sekhon (2021). Time-uniform, nonparametric,
  nonasymptotic confidence sequences. Annals of Statistics 49(2), 1055-1080.
- H. Wang, A. Ramdas (2023). Anytime-valid t-tests and confidence sequences for Gaussian means
  with unknown variance. arXiv:2310.03722 (Sequential Analysis, 2025).

Stopping rule (:func:`decide`): with m contrasts against the baseline, each uses alpha / m.
"different" when the (running intersection of the) CS excludes 0; "equivalent" when it lies
inside [-delta, +delta]; otherwise continue, and "undecided" once ``max_replicas`` is reached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from rlmdj.errors import ParameterError

__all__ = ["Interval", "cs_multiplier", "confidence_sequence", "decide", "DIFFERENT", "EQUIVALENT",
           "CONTINUE", "UNDECIDED"]

DIFFERENT, EQUIVALENT, CONTINUE, UNDECIDED = "different", "equivalent", "continue", "undecided"


@dataclass(frozen=True)
class Interval:
    """The confidence sequence at one look: ``n`` pairs, mean difference and bounds."""

    n: int
    mean: float
    sd: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def cs_multiplier(n: int, *, alpha: float, prior_sd: float = 2.0) -> float:
    """c_n: the CS half-width in units of SD / sqrt(n) after ``n`` pairs (inf when unbounded)."""
    if not 0 < alpha < 1:
        raise ParameterError(f"hydra.sweeper.alpha must be in (0, 1), got {alpha!r}")
    if not prior_sd > 0:
        raise ParameterError(f"hydra.sweeper.prior_sd must be > 0, got {prior_sd!r}")
    if n < 2:
        return math.inf
    r = 1.0 + n * prior_sd**2
    k = (math.sqrt(r) / alpha) ** (2.0 / n)
    if k >= r:
        return math.inf
    return math.sqrt((n - 1) * r * (k - 1) / (r - k))


def confidence_sequence(d: Sequence[float], *, alpha: float, prior_sd: float = 2.0) -> Interval:
    """The CS for the mean of the differences ``d`` (all pairs so far, in order)."""
    x = np.asarray([float(v) for v in d], dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(0, math.nan, math.nan, -math.inf, math.inf)
    mean = float(x.mean())
    if n < 2:
        return Interval(n, mean, math.nan, -math.inf, math.inf)
    sd = float(x.std(ddof=1))
    c = cs_multiplier(n, alpha=alpha, prior_sd=prior_sd)
    half = c * sd / math.sqrt(n) if math.isfinite(c) else math.inf
    if sd == 0 and math.isfinite(c):
        half = 0.0
    return Interval(n, mean, sd, mean - half, mean + half)


def decide(low: float, high: float, *, delta: float) -> str:
    """``different`` (0 outside [low, high]), ``equivalent`` (inside +/-delta) or ``continue``."""
    if low > 0 or high < 0:
        return DIFFERENT
    if -delta <= low and high <= delta:
        return EQUIVALENT
    return CONTINUE
