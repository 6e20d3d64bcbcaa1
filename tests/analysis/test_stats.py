"""Comparison numbers agree with scipy; a known difference is found and no difference is not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from rlmdj.analysis.compare import RunRecord, compare
from rlmdj.analysis.report import to_markdown, write_report
from rlmdj.analysis.stats import (
    describe,
    hedges_g,
    holm,
    paired,
    power_two_sample,
    replicas_needed,
    two_sample,
)
from rlmdj.errors import ParameterError


def _records(values: dict[str, list[float]], scorer: str = "proxy-v1", prefix: str = "proxy") -> list[RunRecord]:
    out = []
    for cond, vals in values.items():
        for i, v in enumerate(vals):
            out.append(RunRecord(run_id=f"{cond}-{i}", condition={"prompt": cond}, replica=i,
                                 metrics={f"{prefix}/OBJ": v, f"{prefix}/CE": v - 1.0}, scorer=scorer))
    return out


def test_describe_matches_scipy() -> None:
    x = [6.5, 6.9, 7.0, 6.7, 6.8]
    s = describe(x)
    lo, hi = st.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=st.sem(x))
    assert s.n == 5 and s.mean == pytest.approx(np.mean(x)) and s.sd == pytest.approx(np.std(x, ddof=1))
    assert (s.ci_low, s.ci_high) == pytest.approx((lo, hi))


def test_two_sample_matches_scipy() -> None:
    a, b = [7.1, 7.3, 7.0, 7.4, 7.2], [6.8, 6.9, 7.0, 6.6, 6.7]
    r = two_sample(a, b)
    assert r.welch_p == pytest.approx(st.ttest_ind(a, b, equal_var=False).pvalue)
    assert r.mw_p == pytest.approx(st.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    sp = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    d = (np.mean(a) - np.mean(b)) / sp
    assert r.hedges_g == pytest.approx(d * (1 - 3 / (4 * 10 - 9)))
    assert hedges_g(a, b) == pytest.approx(r.hedges_g)
    assert r.ci_low < r.diff < r.ci_high


def test_holm() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(holm([math.nan, 0.2])[0])


def test_replicas_needed_reaches_power_and_is_minimal() -> None:
    n = replicas_needed(delta=0.3, sd=0.25)
    assert power_two_sample(n, delta=0.3, sd=0.25) >= 0.8 > power_two_sample(n - 1, delta=0.3, sd=0.25)
    assert replicas_needed(delta=0.3, sd=0.0) == 2


def test_paired_deterministic_difference() -> None:
    p = paired([7.0, 7.0, 7.0], [6.8, 6.8, 6.8])
    assert p.diff == pytest.approx(0.2) and p.p == 0.0


def test_known_difference_detected_and_null_not(tmp_path) -> None:
    rng = np.random.default_rng(1)
    base = list(6.8 + 0.1 * rng.standard_normal(6))
    better = list(7.3 + 0.1 * rng.standard_normal(6))
    same = list(6.8 + 0.1 * rng.standard_normal(6))
    c = compare(_records({"a_base": base, "b_better": better, "c_same": same}), baseline="prompt=a_base")
    verdict = {(t.label, t.metric): t.significant for t in c.tests}
    assert verdict[("prompt=b_better", "proxy/OBJ")]
    assert not verdict[("prompt=c_same", "proxy/OBJ")]
    # Holm across the two comparisons of OBJ.
    raw = [t.result.welch_p for t in c.tests if t.metric == "proxy/OBJ"]
    adj = [t.p_adj for t in c.tests if t.metric == "proxy/OBJ"]
    assert adj == pytest.approx(holm(raw))
    files = write_report(c, tmp_path)
    assert {f.name for f in files} == {"comparison.md", "summary.csv", "tests.csv", "distributions.png"}
    assert "prompt=b_better" in to_markdown(c)


def test_refuses_to_pool_scorers() -> None:
    recs = _records({"a": [1.0, 2.0]}) + _records({"b": [1.0, 2.0]}, scorer="audiobox-x", prefix="audiobox")
    with pytest.raises(ParameterError, match="scorer"):
        compare(recs)
    recs = _records({"a": [1.0, 2.0]}) + _records({"b": [1.0, 2.0]}, scorer="proxy-v2")
    with pytest.raises(ParameterError, match="different scorers"):
        compare(recs)


def test_default_baseline_is_the_sweeps_first_condition_and_no_effect_is_noted() -> None:
    recs = [RunRecord(run_id=f"{c}-{i}", condition={"dj": c}, replica=i, job=job + i,
                      metrics={"proxy/OBJ": v + 0.1 * i}, scorer="proxy-v1")
            for c, job, v in (("reference", 0, 6.0), ("random", 3, 5.0), ("alt", 6, 5.0)) for i in range(3)]
    c = compare(recs)
    assert c.baseline == "dj=reference"  # first swept value, not the alphabetical first
    assert [g.label for g in c.groups] == ["dj=reference", "dj=random", "dj=alt"]
    assert len(c.notes) == 1 and "dj=random and dj=alt" in c.notes[0]
    assert "## Notes" in to_markdown(c)


def test_terminal_report_fits_80_columns() -> None:
    from rich.console import Console

    from rlmdj.analysis.report import print_report

    rng = np.random.default_rng(2)
    recs = _records({name: list(6.0 + rng.standard_normal(4)) for name in ("baseline", "hypnotic_peak")})
    console = Console(width=80, record=True, color_system=None)
    print_report(compare(recs, baseline="prompt=baseline"), console=console)
    text = console.export_text()
    assert "…" not in text and "Welch p" in text and "n/grp" in text
    assert max(len(line) for line in text.splitlines()) <= 80
