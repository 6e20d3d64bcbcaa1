"""Comparisons follow the design: pairs by replica + palette, one run per config, OBJ primary."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import stats as st

from rlmdj.analysis.compare import RunRecord, compare
from rlmdj.analysis.report import print_report, to_html, to_markdown, write_report
from rlmdj.analysis.stats import holm
from rlmdj.analysis.verdict import verdict_metrics, verdicts
from rlmdj.errors import ParameterError

AXES = ("OBJ", "CE", "CU", "PC", "PQ")


def rec(cond: str, replica: int, obj: float, *, key: str = "dj", palette: str | None = None,
        config: str | None = None, start: int = 0, params: dict | None = None, job: int | None = None,
        scorer: str = "proxy-v1", prefix: str = "proxy", tagged: bool = True) -> RunRecord:
    pal = palette or f"pal{replica}"
    metrics = {f"{prefix}/{a}": obj + 0.1 * i + 0.01 * replica for i, a in enumerate(AXES)}
    metrics[f"{prefix}/OBJ"] = obj
    return RunRecord(
        run_id=f"{cond}-{replica}-{start}", condition={key: cond} if tagged else {}, metrics=metrics,
        scorer=scorer, replica=replica, config_hash=config or f"{cond}-{replica}-{pal}", palette=pal,
        palette_hash=f"h-{pal}", start_time=start, job=job, params=dict(params or {}),
    )


REFERENCE = [6.62, 7.05, 5.91, 6.48]
RANDOM = [5.80, 6.05, 5.30, 5.89]


def _issue_sweep() -> list[RunRecord]:
    return ([rec("reference", r, v, job=r) for r, v in enumerate(REFERENCE)]
            + [rec("random", r, v, job=4 + r) for r, v in enumerate(RANDOM)])


def test_shared_replicas_are_paired_and_match_scipy() -> None:
    c = compare(_issue_sweep())
    assert c.baseline == "dj=reference" and c.primary == "proxy/OBJ"
    [t] = c.primary_tests()
    ref = st.ttest_rel(RANDOM, REFERENCE)
    assert t.design == "paired" and t.n_a == 4 and t.effect_name == "d_z"
    assert t.p_t == pytest.approx(ref.pvalue) and t.p_adj == pytest.approx(ref.pvalue)
    assert (t.ci_low, t.ci_high) == pytest.approx(tuple(ref.confidence_interval()))
    assert t.p_rank == pytest.approx(st.wilcoxon(RANDOM, REFERENCE, method="exact").pvalue)
    assert t.significant
    [sentence] = verdicts(c)
    assert sentence.startswith("random vs reference: −0.76 OBJ [−1.06, −0.45], paired over 4 replicas, Holm p = 0.004")
    assert sentence.endswith("lower, distinguishable from noise")
    m = verdict_metrics(c)
    assert m["compare/random/delta_OBJ"] == pytest.approx(np.mean(RANDOM) - np.mean(REFERENCE))
    assert set(m) == {f"compare/random/{k}" for k in ("delta_OBJ", "ci_low", "ci_high", "p_holm", "n")}
    assert m["compare/random/n"] == 4


def test_no_shared_replicas_falls_back_to_welch() -> None:
    recs = ([rec("reference", r, v) for r, v in enumerate(REFERENCE)]
            + [rec("random", 10 + r, v) for r, v in enumerate(RANDOM)])
    [t] = compare(recs, baseline="reference").primary_tests()
    welch = st.ttest_ind(RANDOM, REFERENCE, equal_var=False)
    assert t.design == "unpaired" and t.effect_name == "g"
    assert t.p_t == pytest.approx(welch.pvalue)
    assert (t.ci_low, t.ci_high) == pytest.approx(tuple(welch.confidence_interval()))
    assert t.p_rank == pytest.approx(st.mannwhitneyu(RANDOM, REFERENCE, method="exact").pvalue)
    assert "unpaired, 4 vs 4 runs" in verdicts(compare(recs))[0]


def test_incomplete_pairs_name_the_replicas_set_aside() -> None:
    recs = _issue_sweep() + [rec("reference", 4, 6.3)]
    c = compare(recs)
    [t] = c.primary_tests()
    assert t.design == "paired" and t.n_a == 4
    assert t.set_aside == ["replica 4 (pal4) (dj=reference only)"]
    assert "replica 4 (pal4) (dj=reference only) set aside" in to_markdown(c)


def test_same_replica_on_another_palette_is_not_a_pair() -> None:
    recs = _issue_sweep()
    recs[-1] = rec("random", 3, RANDOM[3], palette="other")
    [t] = compare(recs).primary_tests()
    assert t.n_a == 3 and len(t.set_aside) == 2


def test_one_run_per_configuration() -> None:
    # Two sweeps over the same store: 7 runs, 4 distinct configurations.
    recs = _issue_sweep()[:2] + _issue_sweep()[4:6]
    dupes = [rec("reference", 0, 6.0, start=10), rec("reference", 1, 6.1, start=10), rec("random", 0, 5.0, start=10)]
    c = compare(recs + dupes)
    assert [g.summaries["proxy/OBJ"].n for g in c.groups] == [2, 2]
    assert len(c.duplicates) == 3 and "3 run(s) set aside as duplicates" in c.notes[0]
    # The latest FINISHED run of a configuration is the one counted.
    assert c.group("dj=reference").value_of("proxy/OBJ")["0|h-pal0"] == 6.0


def test_store_wide_conditions_are_the_config_keys_that_differ() -> None:
    base = {"bars": "32", "palette.name": "random", "tracking.uri": "x"}

    def standalone(driver: str, replica: int, obj: float, resume: str) -> RunRecord:
        params = {**base, "dj.driver": driver, "dj.name": driver, "replica": str(replica),
                  "experiment.resume": resume, "paths.output_dir": f"/o/{driver}{replica}{resume}",
                  "scorer.cache": str(replica % 2 == 0)}  # outside the config hash: not a condition
        return rec(driver, replica, obj, params=params, tagged=False)

    recs = [standalone("reference", r, v, "False" if r < 2 else "True") for r, v in enumerate(REFERENCE)]
    recs += [standalone("random", r, v, "True") for r, v in enumerate(RANDOM)]
    c = compare(recs)
    assert c.group_by == ["dj.driver"]  # not experiment.resume, paths.*, replica; dj.name said once
    assert [g.label for g in c.groups] == ["dj.driver=random", "dj.driver=reference"]
    assert any("dj.name varies with dj.driver" in n for n in c.notes)
    # A replica-only set of runs interrupted and resumed is one condition.
    only = compare([standalone("reference", r, v, "False" if r < 2 else "True") for r, v in enumerate(REFERENCE)])
    assert only.group_by == [] and [g.label for g in only.groups] == ["all"] and only.tests == []


def test_runs_without_the_condition_key_are_set_aside_not_grouped_under_empty() -> None:
    recs = _issue_sweep() + [rec("x", 0, 6.0, tagged=False)]
    c = compare(recs, group_by=["dj"])
    assert [g.label for g in c.groups] == ["dj=reference", "dj=random"]
    assert any("1 run(s) set aside" in n for n in c.notes)


def test_palettes_are_never_pooled_unless_they_are_the_unit() -> None:
    def run(dj: str, palette: str, replica: int, obj: float) -> RunRecord:
        return rec(dj, replica, obj, palette=palette, params={"palette.name": palette})

    recs = [run(d, p, r, 6.0 + (0.5 if d == "random" else 0) + (0.3 if p == "p2" else 0) + 0.05 * r)
            for d in ("reference", "random") for p in ("p1", "p2") for r in range(2)]
    c = compare(recs, group_by=["dj"])
    assert c.group_by == ["dj", "palette.name"] and len(c.groups) == 4
    by_palette = compare(recs, group_by=["dj"], unit="palette", baseline="reference")
    assert [g.units for g in by_palette.groups] == [["palette p1", "palette p2"]] * 2
    [t] = by_palette.primary_tests()
    assert t.design == "paired" and t.n_a == 2 and t.diff == pytest.approx(0.5)
    assert "paired over 2 palettes" in verdicts(by_palette)[0]
    one = [r for r in recs if r.palette == "p1"]
    with pytest.raises(ParameterError, match="unit=palette needs at least 2 palettes per condition"):
        compare(one, group_by=["dj"], unit="palette")


def test_primary_is_holm_across_conditions_and_axes_are_exploratory() -> None:
    rng = np.random.default_rng(1)
    recs = []
    for cond, shift in (("a", 0.0), ("b", 0.5), ("c", 0.02)):
        for r in range(6):
            recs.append(rec(cond, r, 6.0 + 0.3 * rng.standard_normal() + shift, key="prompt"))
    c = compare(recs, baseline="a")
    prim = c.primary_tests()
    assert [t.label for t in prim] == ["prompt=b", "prompt=c"] and all(t.primary for t in prim)
    assert [t.p_adj for t in prim] == pytest.approx(holm([t.p for t in prim]))
    sec = [t for t in c.tests if not t.primary]
    assert len(sec) == 8  # 2 conditions x 4 axes, one family
    assert [t.p_adj for t in sec] == pytest.approx(holm([t.p for t in sec]))
    md = to_markdown(c)
    assert "primary metric: proxy/OBJ" in md and "exploratory" in md and "| CE* |" in md


def test_primary_metric_and_test_are_configurable_and_checked() -> None:
    c = compare(_issue_sweep(), primary="CE", test="rank")
    assert c.primary == "proxy/CE" and c.metrics[0] == "proxy/CE"
    [t] = c.primary_tests()
    assert t.p == t.p_rank
    with pytest.raises(ParameterError, match="experiment.compare.primary"):
        compare(_issue_sweep(), primary="XX")
    with pytest.raises(ParameterError, match="experiment.compare.test"):
        compare(_issue_sweep(), test="z")


def test_refuses_to_pool_scorers() -> None:
    # A run scored only by another scorer is excluded by name, never pooled.
    c = compare(_issue_sweep() + [rec("x", 0, 1.0, scorer="audiobox-x", prefix="audiobox")])
    assert [g.label for g in c.groups] == ["dj=reference", "dj=random"]
    assert any(n.startswith("1 run(s) excluded: not scored by proxy") and "x-0-0" in n for n in c.notes)
    recs = _issue_sweep() + [rec("x", 0, 1.0, scorer="proxy-v2")]
    with pytest.raises(ParameterError, match="different proxy scorers"):
        compare(recs)


def test_no_difference_verdict_says_how_many_replicas_would_do() -> None:
    rng = np.random.default_rng(5)
    recs = [rec(c, r, 6.0 + 0.2 * rng.standard_normal()) for c in ("reference", "random") for r in range(4)]
    c = compare(recs)
    [t] = c.primary_tests()
    assert not t.significant
    assert verdicts(c)[0].endswith(f"no difference detected; with the SD observed, {t.n_needed} replicas per "
                                   "condition would detect 0.3 OBJ at 80% power")


def test_identical_conditions_are_noted() -> None:
    recs = [rec(c, r, 6.0 + 0.1 * r, job=j + r) for c, j in (("reference", 0), ("random", 3), ("alt", 6))
            for r in range(3)]
    recs = [r if r.condition["dj"] != "alt" else rec("alt", r.replica, 6.0 + 0.1 * r.replica, job=6)
            for r in recs]
    c = compare(recs)
    assert [g.label for g in c.groups] == ["dj=reference", "dj=random", "dj=alt"]
    assert any("scored identically" in n for n in c.notes)


def test_report_files_state_the_design_and_stay_readable(tmp_path) -> None:
    c = compare(_issue_sweep())
    files = write_report(c, tmp_path)
    assert {f.name for f in files} == {"comparison.md", "comparison.html", "summary.csv", "tests.csv",
                                       "distributions.png"}
    rows = list(csv.DictReader((tmp_path / "tests.csv").open()))
    assert {r["design"] for r in rows} == {"paired"} and rows[0]["family"] == "primary"
    assert rows[0]["unit"] == "replica" and float(rows[0]["p_t"]) == pytest.approx(st.ttest_rel(RANDOM, REFERENCE).pvalue)
    header = next(line for line in to_markdown(c).splitlines() if line.startswith("| condition | metric | design"))
    assert max(len(h.strip()) for h in header.split("|")) <= 9  # short headers: nothing to cut off
    page = to_html(c)
    assert "<script" not in page and "paired 4" in page and "random vs reference" in page


def test_terminal_report_fits_80_columns_and_ends_with_the_verdict() -> None:
    from rich.console import Console

    console = Console(width=80, record=True, color_system=None)
    print_report(compare(_issue_sweep()), console=console)
    text = console.export_text()
    assert "…" not in text and "p rank" in text and "n Δ" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    tail = text[text.rindex("verdict:"):]
    assert tail.startswith("verdict: random vs reference") and tail.rstrip().endswith("distinguishable from noise")
    assert math.isfinite(compare(_issue_sweep()).primary_tests()[0].effect)


def test_description_fits_an_mlflow_tag_however_many_conditions() -> None:
    from rlmdj.analysis.report import description

    recs = [rec(f"prompt_variant_number_{k:03d}", r, 6.0 + 0.01 * k + 0.1 * r, key="prompt", job=k * 3 + r)
            for k in range(60) for r in range(3)]
    text = description(compare(recs))
    assert len(text) <= 8000 and text.endswith("(more in comparison/comparison.md)")
