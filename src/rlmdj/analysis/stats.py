"""Replica statistics: summaries, paired and two-sample tests, effect sizes, power.

Everything here is a pure function of numbers (scipy.stats underneath), so comparisons are
reproducible and testable against scipy directly.

- :func:`describe` — n, mean, SD (ddof=1) and a 95% Student-t interval of the mean.
- :func:`paired` — replica-by-replica contrast (same replica index, same palette): the mean of
  the per-replica differences with the paired t interval and p (``scipy.stats.ttest_rel``),
  Wilcoxon's signed-rank p (exact for n <= 50 without ties or zeros), the paired effect size
  d_z = mean(d) / SD(d), and the replicas needed from the SD of the differences.
- :func:`two_sample` — unpaired contrast, used only when conditions share no replicas: Welch's
  t with its interval (``scipy.stats.ttest_ind(equal_var=False)``), Mann-Whitney U (exact for
  small n), Hedges' g and the replicas needed per group from the pooled SD.
- :func:`holm` — Holm's step-down correction across a family of comparisons.
- :func:`replicas_needed` / :func:`replicas_needed_paired` — n for a two-sided t-test to reach a
  power, computed exactly from the noncentral t distribution (``scipy.stats.nct``).

Why pairing matters: replica r plays the same palette and seed in every condition, and palette
is the largest source of spread. The SD of the differences is then far smaller than the SD of
either condition, so a paired test needs several times fewer replicas for the same power.

Why two tests: t leans on normality of the mean; the rank tests do not, but with few replicas
their smallest p-value is bounded (Wilcoxon: ``2 / 2**n``, 0.25 at n=3, 0.0625 at n=5;
Mann-Whitney: ``2 / C(2n, n)``, 0.10 at n=3), so they are robustness checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as st

from rlmdj.config.experiment import CompareConfig
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
    "power_two_sample",
    "power_paired",
    "replicas_needed",
    "replicas_needed_paired",
]

# Wilcoxon's exact null distribution is used up to this many non-zero differences (scipy's rule).
_EXACT_WILCOXON_MAX_N = 50


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
    pooled = _pooled_sd(x, y)
    if not math.isfinite(pooled) or pooled == 0:
        return math.nan
    d = (x.mean() - y.mean()) / pooled
    correction = 1.0 - 3.0 / (4.0 * (x.size + y.size) - 9.0)
    return float(d * correction)


def _t_power(df: int, ncp: float, alpha: float) -> float:
    crit = st.t.ppf(1 - alpha / 2, df)
    return float(st.nct.sf(crit, df, ncp) + st.nct.cdf(-crit, df, ncp))


def power_two_sample(n: int, *, delta: float, sd: float, alpha: float = CompareConfig.alpha) -> float:
    """Power of a two-sided two-sample t-test with ``n`` per group for a true difference ``delta``."""
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0 if delta != 0 else alpha
    return _t_power(2 * n - 2, abs(delta) / (sd * math.sqrt(2.0 / n)), alpha)


def power_paired(n: int, *, delta: float, sd_diff: float, alpha: float = CompareConfig.alpha) -> float:
    """Power of a two-sided paired t-test over ``n`` pairs whose differences have SD ``sd_diff``."""
    if n < 2:
        return 0.0
    if sd_diff <= 0:
        return 1.0 if delta != 0 else alpha
    return _t_power(n - 1, abs(delta) * math.sqrt(n) / sd_diff, alpha)


def _replicas(power_at: Callable[[int], float], *, groups: int, delta: float, sd: float, power: float,
              alpha: float, n_max: int) -> int:
    """Smallest n with ``power_at(n) >= power``, searched from the normal approximation (``groups``
    scales it: 2 for two samples, 1 for pairs); -1 for an unknown SD, 2 for one that is 0."""
    if not delta > 0:
        raise ParameterError(f"delta must be > 0, got {delta!r} (e.g. 0.3 OBJ)")
    if not math.isfinite(sd):
        return -1
    if sd == 0:
        return 2
    z = st.norm.ppf(1 - alpha / 2) + st.norm.ppf(power)
    n = max(2, int(math.ceil(groups * (z * sd / delta) ** 2)))
    while n > 2 and power_at(n - 1) >= power:
        n -= 1
    while n < n_max and power_at(n) < power:
        n += 1
    return n


def replicas_needed(
    *, delta: float, sd: float, power: float = CompareConfig.power, alpha: float = CompareConfig.alpha,
    n_max: int = 10_000,
) -> int:
    """Smallest replicas per group so a two-sided two-sample t-test detects ``delta`` with ``power``.

    Exact (noncentral t), not the normal approximation; ``sd`` is the per-run SD of the metric
    (the pooled SD of the groups). Returns ``n_max`` if even that is not enough, 2 if the metric
    does not vary at all, and -1 if the SD is unknown.
    """
    return _replicas(lambda n: power_two_sample(n, delta=delta, sd=sd, alpha=alpha), groups=2,
                     delta=delta, sd=sd, power=power, alpha=alpha, n_max=n_max)


def replicas_needed_paired(
    *, delta: float, sd_diff: float, power: float = CompareConfig.power, alpha: float = CompareConfig.alpha,
    n_max: int = 10_000,
) -> int:
    """Smallest number of replicas (pairs) so a two-sided paired t-test detects ``delta``.

    Exact noncentral t with n - 1 degrees of freedom on the SD of the per-replica differences;
    each condition then needs this many replicas. Same conventions as :func:`replicas_needed`.
    """
    return _replicas(lambda n: power_paired(n, delta=delta, sd_diff=sd_diff, alpha=alpha), groups=1,
                     delta=delta, sd=sd_diff, power=power, alpha=alpha, n_max=n_max)


def _pooled_sd(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or y.size < 2:
        return math.nan
    return math.sqrt(((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2))


@dataclass(frozen=True)
class TwoSample:
    """Condition (a) vs baseline (b) on one metric, unpaired."""

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
    delta: float = CompareConfig.delta,
    power: float = CompareConfig.power,
    alpha: float = CompareConfig.alpha,
    confidence: float = 0.95,
) -> TwoSample:
    """Welch's t (with its CI), Mann-Whitney U, Hedges' g and replicas needed for ``a`` vs ``b``.

    Two groups that never vary (deterministic runs) have an exact difference: p is 0 if the
    means differ and 1 if not, rather than scipy's nan.
    """
    x, y = _array(a), _array(b)
    diff = float(x.mean() - y.mean()) if x.size and y.size else math.nan
    lo = hi = t = p = math.nan
    if x.size >= 2 and y.size >= 2:
        if x.var() == 0 and y.var() == 0:
            t, p = (math.inf if diff else 0.0), (0.0 if diff else 1.0)
            lo = hi = diff
        else:
            res = st.ttest_ind(x, y, equal_var=False)
            t, p = float(res.statistic), float(res.pvalue)
            ci = res.confidence_interval(confidence_level=confidence)
            lo, hi = float(ci.low), float(ci.high)
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
    """Mean per-replica difference (a - b): paired t interval and test, Wilcoxon, d_z, power.

    ``d_z`` is the paired effect size mean(d) / SD(d) (Cohen's d_z); ``n_needed`` is the number
    of replicas per condition for a paired t-test to detect ``delta`` at the requested power.
    """

    n: int
    diff: float
    sd: float
    ci_low: float
    ci_high: float
    t: float
    p: float
    wilcoxon_w: float
    wilcoxon_p: float
    wilcoxon_method: str
    d_z: float
    n_needed: int

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


def _wilcoxon(d: np.ndarray) -> tuple[float, float, str]:
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return math.nan, 1.0, "none"
    ties = np.unique(np.abs(nonzero)).size < nonzero.size
    method = "exact" if nonzero.size <= _EXACT_WILCOXON_MAX_N and not ties and nonzero.size == d.size else "approx"
    res = st.wilcoxon(d, method=method)
    return float(res.statistic), float(res.pvalue), method


def paired(
    a: Sequence[float],
    b: Sequence[float],
    *,
    delta: float = CompareConfig.delta,
    power: float = CompareConfig.power,
    alpha: float = CompareConfig.alpha,
    confidence: float = 0.95,
) -> Paired:
    """Paired comparison of equal-length replica series (replica i of a with replica i of b)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ParameterError(f"paired samples need equal lengths, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    d = x - y
    s = describe(d, confidence=confidence)
    nan = math.nan
    if s.n < 2:
        return Paired(s.n, s.mean, s.sd, nan, nan, nan, nan, nan, nan, "none", nan, -1)
    needed = replicas_needed_paired(delta=delta, sd_diff=s.sd, power=power, alpha=alpha)
    if s.sd == 0:
        t, p = (math.inf if s.mean else 0.0), (0.0 if s.mean else 1.0)
        w, wp, method = _wilcoxon(d)
        dz = math.copysign(math.inf, s.mean) if s.mean else nan
        return Paired(s.n, s.mean, 0.0, s.mean, s.mean, t, p, w, wp, method, dz, needed)
    res = st.ttest_rel(x, y)
    ci = res.confidence_interval(confidence_level=confidence)
    w, wp, method = _wilcoxon(d)
    return Paired(s.n, s.mean, s.sd, float(ci.low), float(ci.high), float(res.statistic),
                  float(res.pvalue), w, wp, method, s.mean / s.sd, needed)


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
