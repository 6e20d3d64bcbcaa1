"""Replica statistics: summaries, two-sample and paired tests, effect sizes, power.

Everything here is a pure function of numbers (scipy.stats underneath), so comparisons are
reproducible and testable against scipy directly.

- :func:`describe` — n, mean, SD (ddof=1) and a 95% Student-t interval of the mean.
- :func:`two_sample` — condition vs baseline: difference with Welch's CI, Welch's t-test,
  Mann-Whitney U (exact for small n), Hedges' g and the replicas needed per group.
- :func:`paired` — per-replica differences (same palette and seed within a replica).
- :func:`holm` — Holm's step-down correction across a family of comparisons.
- :func:`replicas_needed` — per-group n for a two-sided two-sample t-test to reach a power,
  computed exactly from the noncentral t distribution (``scipy.stats.nct``).

Why both tests: Welch's t does not assume equal variances but leans on normality of the mean;
Mann-Whitney does not, but with n replicas per group its smallest two-sided p-value is
``2 / C(2n, n)`` (0.10 at n=3, 0.029 at n=4, 0.0079 at n=5), so with 3 replicas it can never
reach 0.05 — it is reported as a robustness check, and the verdict uses the chosen test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as st

from rlmdj.errors import ParameterError

__all__ = [
    "Summary",
    "TwoSample",
    "Paired",
    "describe",
    "two_sample",
    "paired",
    "holm",
    "hedges_g",
    "welch_ci",
    "replicas_needed",
    "power_two_sample",
]


def _array(values: Sequence[float]) -> np.ndarray:
    x = np.asarray([float(v) for v in values], dtype=np.float64)
    return x[np.isfinite(x)]


@dataclass(frozen=True)
class Summary:
    """Replica summary of one metric in one condition (CI is a t-interval of the mean)."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def describe(values: Sequence[float], *, confidence: float = 0.95) -> Summary:
    """n, mean, SD and the ``confidence`` t-interval; n=1 gives an unbounded (nan) interval."""
    x = _array(values)
    n = int(x.size)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    half = float(st.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float:
    """Bias-corrected standardised mean difference (a - b) / pooled SD; nan if SD is 0."""
    x, y = _array(a), _array(b)
    n1, n2 = x.size, y.size
    if n1 < 2 or n2 < 2:
        return math.nan
    pooled = math.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
    if pooled == 0:
        return math.nan
    d = (x.mean() - y.mean()) / pooled
    correction = 1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0)
    return float(d * correction)


def welch_ci(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> tuple[float, float]:
    """CI of mean(a) - mean(b) with Welch-Satterthwaite degrees of freedom."""
    x, y = _array(a), _array(b)
    if x.size < 2 or y.size < 2:
        return math.nan, math.nan
    diff = float(x.mean() - y.mean())
    v1, v2 = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(v1 + v2)
    if se == 0:
        return diff, diff
    df = (v1 + v2) ** 2 / (v1**2 / (x.size - 1) + v2**2 / (y.size - 1))
    half = float(st.t.ppf(0.5 + confidence / 2, df)) * se
    return diff - half, diff + half


def power_two_sample(n: int, *, delta: float, sd: float, alpha: float = 0.05) -> float:
    """Power of a two-sided two-sample t-test with ``n`` per group for a true difference ``delta``."""
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0 if delta != 0 else alpha
    df = 2 * n - 2
    ncp = abs(delta) / (sd * math.sqrt(2.0 / n))
    crit = st.t.ppf(1 - alpha / 2, df)
    return float(st.nct.sf(crit, df, ncp) + st.nct.cdf(-crit, df, ncp))


def replicas_needed(
    *, delta: float, sd: float, power: float = 0.80, alpha: float = 0.05, n_max: int = 10_000
) -> int:
    """Smallest replicas per group so a two-sided t-test detects ``delta`` with ``power``.

    Exact (noncentral t), not the normal approximation; ``sd`` is the per-run SD of the metric
    (use the pooled SD of the groups). Returns ``n_max`` if even that is not enough, and 2 if the
    metric does not vary at all.
    """
    if delta <= 0:
        raise ParameterError(f"delta must be > 0, got {delta!r} (e.g. 0.3 OBJ)")
    if not math.isfinite(sd):
        return -1
    if sd == 0:
        return 2
    # Normal approximation as a starting point, then walk to the exact answer.
    z = st.norm.ppf(1 - alpha / 2) + st.norm.ppf(power)
    n = max(2, int(math.ceil(2 * (z * sd / delta) ** 2)))
    while n > 2 and power_two_sample(n - 1, delta=delta, sd=sd, alpha=alpha) >= power:
        n -= 1
    while n < n_max and power_two_sample(n, delta=delta, sd=sd, alpha=alpha) < power:
        n += 1
    return n


def _pooled_sd(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or y.size < 2:
        return math.nan
    return math.sqrt(((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2))


@dataclass(frozen=True)
class TwoSample:
    """Condition (a) vs baseline (b) on one metric."""

    n_a: int
    n_b: int
    diff: float
    ci_low: float
    ci_high: float
    welch_t: float
    welch_p: float
    mw_u: float
    mw_p: float
    hedges_g: float
    pooled_sd: float
    n_needed: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def two_sample(
    a: Sequence[float],
    b: Sequence[float],
    *,
    delta: float = 0.3,
    power: float = 0.80,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> TwoSample:
    """Welch's t, Mann-Whitney U, Hedges' g and replicas needed for ``a`` vs ``b``.

    Two groups that never vary (deterministic runs) have an exact difference: p is 0 if the
    means differ and 1 if not, rather than scipy's nan.
    """
    x, y = _array(a), _array(b)
    diff = float(x.mean() - y.mean()) if x.size and y.size else math.nan
    lo, hi = welch_ci(x, y, confidence=confidence)
    if x.size >= 2 and y.size >= 2:
        if x.var() == 0 and y.var() == 0:
            t, p = (math.inf if diff else 0.0), (0.0 if diff else 1.0)
        else:
            res = st.ttest_ind(x, y, equal_var=False)
            t, p = float(res.statistic), float(res.pvalue)
    else:
        t, p = math.nan, math.nan
    if x.size >= 1 and y.size >= 1 and not (np.all(x == x[0]) and np.all(y == x[0])):
        mw = st.mannwhitneyu(x, y, alternative="two-sided")
        u, mp = float(mw.statistic), float(mw.pvalue)
    else:
        u, mp = math.nan, (1.0 if x.size and y.size else math.nan)
    pooled = _pooled_sd(x, y)
    needed = replicas_needed(delta=delta, sd=pooled, power=power, alpha=alpha) if math.isfinite(pooled) else -1
    return TwoSample(
        n_a=int(x.size), n_b=int(y.size), diff=diff, ci_low=lo, ci_high=hi,
        welch_t=t, welch_p=p, mw_u=u, mw_p=mp, hedges_g=hedges_g(x, y),
        pooled_sd=pooled, n_needed=needed,
    )


@dataclass(frozen=True)
class Paired:
    """Mean per-replica difference (a - b) with its t-interval and paired t-test."""

    n: int
    diff: float
    sd: float
    ci_low: float
    ci_high: float
    t: float
    p: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def paired(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> Paired:
    """Paired comparison of equal-length replica series (replica i of a with replica i of b)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ParameterError(f"paired samples need equal lengths, got {x.size} and {y.size}")
    d = x - y
    d = d[np.isfinite(d)]
    s = describe(d, confidence=confidence)
    if s.n < 2:
        return Paired(s.n, s.mean, s.sd, s.ci_low, s.ci_high, math.nan, math.nan)
    if s.sd == 0:
        t, p = (math.inf if s.mean else 0.0), (0.0 if s.mean else 1.0)
    else:
        res = st.ttest_1samp(d, 0.0)
        t, p = float(res.statistic), float(res.pvalue)
    return Paired(s.n, s.mean, s.sd, s.ci_low, s.ci_high, t, p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given; nan stays nan)."""
    p = [float(v) for v in pvalues]
    idx = [i for i, v in enumerate(p) if math.isfinite(v)]
    m = len(idx)
    out = [math.nan] * len(p)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p[i])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out
