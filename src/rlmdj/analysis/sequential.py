"""Anytime-valid confidence sequences for a paired mean difference, and the stopping rule.

A sequential sweep looks at its data after every round of replicas and stops when the answer is
clear. Repeated looks break fixed-n tests (peeking at a t-test after every replica inflates its
false-positive rate well above alpha), so the decision uses a **confidence sequence**: a
sequence of intervals CS_n that contains the true mean difference at *every* n simultaneously
with probability >= 1 - alpha, however the stopping time is chosen.

The method: a scale-invariant t confidence sequence (Lai 1976; Wang & Ramdas 2023). For Gaussian
differences d_i ~ N(mu, sigma^2) with sigma unknown, the likelihood ratio of the scale-invariant
reduction of the data (sigma integrated against the right Haar measure d sigma / sigma) for a
standardised effect theta = (mu - mu0) / sigma against theta = 0 depends on the data only through
the t-statistic of mu0, and is a nonnegative martingale with mean 1 under mu = mu0 whatever sigma
is (Pérez-Ortiz et al. 2024). So is any mixture of them over theta fixed in advance. With a
symmetric N(+-m, s^2) component (r = 1 + n s^2, nu = n - 1) it has the closed form

    B_n(t; m, s) = r^(-1/2) exp(-n m^2 / (2 r)) [(nu + t^2) / (nu + t^2 / r)]^(n/2)
                   * 1F1(n/2; 1/2; n m^2 t^2 / (2 r (r nu + t^2))),

(m = 0: Lai's normal mixture; s = 0: the two-sided sequential t-test of Rushton 1950). By Ville's
inequality P(exists n: B_n(mu) >= 1/alpha) <= alpha, so {mu0 : B_n(mu0) < 1/alpha} is a
(1 - alpha) confidence sequence; B_n grows with |t|, so it is

    CS_n = mean(d) +/- c_n * SD(d) / sqrt(n),   B_n(c_n) = 1 / alpha,

and the whole line while sup_t B_n < 1/alpha (too few replicas to exclude anything).

The mixing distribution, scaled by ``prior_effect`` (theta_0 = 2 by default), is
0.75 at +-theta_0 + 0.20 at +-theta_0/2 + 0.05 N(0, (theta_0/2)^2). Why: B_n is linear in the
mixture, so the tightest any t confidence sequence can be at one n is a two-point mass
(the rule of Howard et al. 2021: tune the mixture to the sample size where decisions should come);
at 5 pairs that is theta = +-2 (c_5 = 4.24). The sweeper's first decisive look is at 5 replicas
(min_replicas 3, rounds of 2), and the effects worth stopping early for there are of a few SDs of
the differences (delta = 0.3 to 0.6 OBJ against SDs of 0.15-0.3), so most mass goes to +-2
(c_5 = 4.45; Lai's N(0, g) mixture cannot go below 5.32 at any g, which stops only 80% of
sequences with a 3-SD effect by 6 replicas). +-1 keeps the boundary at most 3% wider than the N(0, 4)
mixture's from 9 to 20 pairs; the N(0, 1) tail makes it shrink to 0 beyond any budget. Multipliers
(alpha 0.05): c_4 = 6.24, c_5 = 4.45, c_7 = 3.95, c_11 = 3.94, c_20 = 3.74; with 3 pairs or fewer
it is unbounded.

References:
- T. L. Lai (1976). On confidence sequences. Annals of Statistics 4(2), 265-280.
- S. Rushton (1950). On a sequential t-test. Biometrika 37, 326-333.
- S. R. Howard, A. Ramdas, J. McAuliffe, J. Sekhon (2021). Time-uniform, nonparametric,
  nonasymptotic confidence sequences. Annals of Statistics 49(2), 1055-1080.
- H. Wang, A. Ramdas (2023). Anytime-valid t-tests and confidence sequences for Gaussian means
  with unknown variance. arXiv:2310.03722 (Sequential Analysis, 2025).
- M. F. Pérez-Ortiz, T. Lardy, R. de Heide, P. D. Grünwald (2024). E-statistics, group invariance
  and anytime-valid testing. Annals of Statistics 52(4), 1410-1432.

One-sided bound (:func:`lower_confidence_sequence`): for "is it better?" alone, each point mass at
+-theta is replaced by its + half: the likelihood ratio of t under theta > 0 alone, noncentral
over central t,

    L_n(t; theta) = exp(-n theta^2 / 2) sum_k y^k Gamma((n + k) / 2) / (Gamma(n / 2) k!),
    y = sqrt(2 n) theta t / sqrt(nu + t^2),

also a martingale with mean 1 at mu = mu0; below mu0 crossings only get rarer (the noncentral t
has a monotone likelihood ratio: tests/analysis/test_sequential_one_sided.py checks it by
simulation); the spread component stays symmetric. For t > 0 this mixture is
above the symmetric one, so LOW_n = mean - c+_n SD / sqrt(n) with c+_n <= c_n, and
P(exists n: LOW_n > mu) <= alpha: the whole alpha on the side a one-sided decision can get wrong.

Stopping rule (:func:`decide`): with m contrasts against the baseline, each uses alpha / m.
"different" when the (running intersection of the) CS excludes 0; "equivalent" when it lies
inside [-delta, +delta]; otherwise continue, and "undecided" once ``max_replicas`` is reached.
:func:`simulate` runs that rule on many simulated sequences at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from rlmdj.config.experiment import SequentialSettings
from rlmdj.errors import ParameterError

__all__ = ["Interval", "MIXTURE", "log_bayes_factor", "cs_multiplier", "confidence_sequence", "decide",
           "log_bayes_factor_one_sided", "lower_multiplier", "lower_confidence_sequence", "simulate", "DIFFERENT", "EQUIVALENT", "CONTINUE", "UNDECIDED"]

DIFFERENT, EQUIVALENT, CONTINUE, UNDECIDED = "different", "equivalent", "continue", "undecided"

# (centre, spread, weight) of each symmetric N(+-centre, spread^2) component, in units of prior_effect.
MIXTURE: tuple[tuple[float, float, float], ...] = ((1.0, 0.0, 0.75), (0.5, 0.0, 0.20), (0.0, 0.5, 0.05))


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


def _log_hyp1f1_half(a: float, z: float) -> float:
    """log 1F1(a; 1/2; z) for a > 0, z >= 0: a series of positive terms, summed in log space."""
    if z <= 0:
        return 0.0
    from scipy import special  # deferred: the sweeper plugin imports this module at every start

    peak = z / 2 + math.sqrt(z * z / 4 + a * z)  # the largest term's index
    # The terms are log-concave in k: beyond 12 widths (sqrt(peak)) of the peak they add nothing,
    # so only that window is summed (not all terms from 0: gigabytes for a large prior_effect).
    width = 12 * math.sqrt(peak + 1) + 40
    k = np.arange(max(0, int(peak - width)), int(peak + width))
    terms = (special.gammaln(a + k) - special.gammaln(a) + k * math.log(z)
             - special.gammaln(k + 0.5) + special.gammaln(0.5) - special.gammaln(k + 1))
    return float(special.logsumexp(terms))


def _log_component(t: float, n: int, m: float, s: float) -> float:
    """log B_n(t; m, s) of the module docstring (t = inf: its supremum)."""
    nu, r = n - 1, 1 + n * s * s
    if math.isinf(t):
        core, z = (n / 2) * math.log(r), n * m * m / (2 * r)
    else:
        core = (n / 2) * (math.log(nu + t * t) - math.log(nu + t * t / r))
        z = n * m * m * t * t / (2 * r * (r * nu + t * t))
    return -0.5 * math.log(r) - n * m * m / (2 * r) + core + _log_hyp1f1_half(n / 2, z)


def log_bayes_factor(t: float, n: int, *, prior_effect: float = SequentialSettings.prior_effect) -> float:
    """log B_n: the mixture likelihood ratio of the t-statistic ``t`` after ``n`` >= 2 pairs."""
    from scipy import special

    return float(special.logsumexp([math.log(w) + _log_component(abs(t), n, m * prior_effect, s * prior_effect)
                                    for m, s, w in MIXTURE]))


@lru_cache(maxsize=4096)
def cs_multiplier(n: int, *, alpha: float,
                  prior_effect: float = SequentialSettings.prior_effect) -> float:
    """c_n: the CS half-width in units of SD / sqrt(n) after ``n`` pairs (inf when unbounded)."""
    return _crossing(log_bayes_factor, n, alpha=alpha, prior_effect=prior_effect, keys="hydra.sweeper.")


def _crossing(log_bf: Callable[..., float], n: int, *, alpha: float, prior_effect: float,
              keys: str = "") -> float:
    """The t at which ``log_bf(t, n)`` reaches log(1 / alpha): a multiplier (inf while even an
    infinite t falls short, i.e. too few pairs to exclude anything). ``keys`` prefixes the
    setting names in the errors."""
    if not 0 < alpha < 1:
        raise ParameterError(f"{keys}alpha must be in (0, 1), got {alpha!r}")
    if not prior_effect > 0:
        raise ParameterError(f"{keys}prior_effect must be > 0, got {prior_effect!r}")
    if n < 2:
        return math.inf
    level = math.log(1 / alpha)
    if log_bf(math.inf, n, prior_effect=prior_effect) <= level:
        return math.inf
    hi = 8.0
    while log_bf(hi, n, prior_effect=prior_effect) < level:
        hi *= 4
    from scipy import optimize

    return float(optimize.brentq(lambda t: log_bf(t, n, prior_effect=prior_effect) - level,
                                 0.0, hi, xtol=1e-12))


def _finite(d: Sequence[float]) -> np.ndarray:
    x = np.asarray([float(v) for v in d], dtype=np.float64)
    return x[np.isfinite(x)]


def confidence_sequence(d: Sequence[float], *, alpha: float,
                        prior_effect: float = SequentialSettings.prior_effect) -> Interval:
    """The CS for the mean of the differences ``d`` (all pairs so far, in order)."""
    x = _finite(d)
    n = int(x.size)
    if n == 0:
        return Interval(0, math.nan, math.nan, -math.inf, math.inf)
    mean = float(x.mean())
    if n < 2:
        return Interval(n, mean, math.nan, -math.inf, math.inf)
    sd = float(x.std(ddof=1))
    c = cs_multiplier(n, alpha=alpha, prior_effect=prior_effect)
    half = c * sd / math.sqrt(n) if math.isfinite(c) else math.inf
    if sd == 0 and math.isfinite(c):
        half = 0.0
    return Interval(n, mean, sd, mean - half, mean + half)


def _log_one_sided(t: float, n: int, theta: float) -> float:
    """log L_n(t; theta) of the module docstring for t >= 0 (t = inf: its supremum)."""
    from scipy import special

    y = math.sqrt(2 * n) * theta * (1.0 if math.isinf(t) else t / math.sqrt(n - 1 + t * t))
    if y <= 0:
        return -n * theta * theta / 2
    peak = y * y / 4 + y * math.sqrt(y * y / 16 + n / 2)  # the largest term's index, roughly
    width = 12 * math.sqrt(peak + 1) + 40
    k = np.arange(max(0, int(peak - width)), int(peak + width))
    terms = k * math.log(y) + special.gammaln((n + k) / 2) - special.gammaln(n / 2) - special.gammaln(k + 1)
    return float(special.logsumexp(terms)) - n * theta * theta / 2


def log_bayes_factor_one_sided(t: float, n: int, *,
                               prior_effect: float = SequentialSettings.prior_effect) -> float:
    """log of the one-sided mixture (module docstring) for t >= 0 after ``n`` >= 2 pairs; it grows
    with t, and a negative t is read as 0 (no evidence that the mean is above mu0)."""
    from scipy import special

    t = max(t, 0.0)
    return float(special.logsumexp([
        math.log(w) + (_log_one_sided(t, n, m * prior_effect) if s == 0
                       else _log_component(t, n, m * prior_effect, s * prior_effect))
        for m, s, w in MIXTURE]))


@lru_cache(maxsize=4096)
def lower_multiplier(n: int, *, alpha: float, prior_effect: float = SequentialSettings.prior_effect) -> float:
    """c+_n: the one-sided bound's distance below the mean in units of SD / sqrt(n) (inf: none yet)."""
    return _crossing(log_bayes_factor_one_sided, n, alpha=alpha, prior_effect=prior_effect)


def lower_confidence_sequence(d: Sequence[float], *, alpha: float,
                              prior_effect: float = SequentialSettings.prior_effect) -> Interval:
    """The one-sided CS for the mean of ``d``: ``low`` is the anytime-valid lower bound (-inf while
    there are too few pairs), ``high`` is +inf."""
    x = _finite(d)
    n = int(x.size)
    if n < 2:
        return Interval(n, float(x.mean()) if n else math.nan, math.nan, -math.inf, math.inf)
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    c = lower_multiplier(n, alpha=alpha, prior_effect=prior_effect)
    low = -math.inf if not math.isfinite(c) else mean if sd == 0 else mean - c * sd / math.sqrt(n)
    return Interval(n, mean, sd, low, math.inf)


def decide(low: float, high: float, *, delta: float) -> str:
    """``different`` (0 outside [low, high]), ``equivalent`` (inside +/-delta) or ``continue``."""
    if low > 0 or high < 0:
        return DIFFERENT
    if -delta <= low and high <= delta:
        return EQUIVALENT
    return CONTINUE


def simulate(d: np.ndarray, looks: Sequence[int], *, alpha: float, delta: float,
             prior_effect: float = SequentialSettings.prior_effect) -> tuple[np.ndarray, np.ndarray]:
    """The stopping rule on many sequences at once: ``d`` holds one sequence of differences per row
    (at least ``looks[-1]`` columns); looks are the replicas analysed (the sweeper's schedule).

    Returns (decision, replicas used) per row: decisions are :data:`DIFFERENT`, :data:`EQUIVALENT`
    or :data:`UNDECIDED` (still continuing at the last look), like one contrast of the sweeper.
    """
    d = np.asarray(d, dtype=np.float64)
    rows = d.shape[0]
    low, high = np.full(rows, -np.inf), np.full(rows, np.inf)
    decision = np.full(rows, CONTINUE, dtype=object)
    used = np.zeros(rows, dtype=int)
    csum, csq = np.cumsum(d, axis=1), np.cumsum(d * d, axis=1)
    for n in looks:
        mean = csum[:, n - 1] / n
        sd = np.sqrt(np.maximum(csq[:, n - 1] - n * mean * mean, 0.0) / (n - 1))
        c = cs_multiplier(n, alpha=alpha, prior_effect=prior_effect)
        half = c * sd / math.sqrt(n) if math.isfinite(c) else np.full(rows, np.inf)
        low, high = np.maximum(low, mean - half), np.minimum(high, mean + half)
        open_ = decision == CONTINUE
        different = open_ & ((low > 0) | (high < 0))
        equivalent = open_ & ~different & (low >= -delta) & (high <= delta)
        decision[different], decision[equivalent] = DIFFERENT, EQUIVALENT
        used[different | equivalent] = n
    last = decision == CONTINUE
    decision[last], used[last] = UNDECIDED, looks[-1]
    return decision.astype(str), used
