"""Comparisons say how many runs per condition a set budget stopped, in the notes, the verdicts,
the reports and the parent metrics; runs no budget stopped change nothing."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from rlmdj.analysis.compare import RunRecord, compare
from rlmdj.analysis.records import record_from_run
from rlmdj.analysis.report import to_markdown
from rlmdj.analysis.verdict import verdict_metrics, verdicts


def rec(cond: str, replica: int, obj: float, budget: str | None = None) -> RunRecord:
    return RunRecord(run_id=f"{cond}-{replica}", condition={"dj": cond}, metrics={"proxy/OBJ": obj},
                     scorer="proxy-v1", replica=replica, config_hash=f"{cond}-{replica}",
                     palette=f"pal{replica}", palette_hash=f"h{replica}", budget=budget)


def runs() -> list[RunRecord]:
    return ([rec("reference", r, 6.0 + 0.1 * r) for r in range(4)]
            + [rec("rlm", r, 5.5 + 0.2 * r, budget="tokens" if r < 2 else None) for r in range(4)])


def test_budget_hits_per_condition_in_notes_verdicts_and_metrics():
    c = compare(runs())
    assert c.budget_hits == {"dj=rlm": 2}
    assert any(n.startswith("budget: dj=rlm: 2 of 4 run(s) stopped at a set budget (tokens 2)") for n in c.notes)
    [sentence] = verdicts(c)
    assert sentence.endswith("(runs stopped at a set budget: rlm 2 of 4)")
    assert verdict_metrics(c)["compare/rlm/budget_hits"] == 2
    assert "stopped at a set budget" in to_markdown(c)


def test_no_budget_hit_leaves_the_comparison_as_it_was():
    plain = [replace(r, budget=None) for r in runs()]
    c = compare(plain)
    assert c.budget_hits == {} and not any("budget" in n for n in c.notes)
    assert "budget" not in verdicts(c)[0] and not any("budget" in k for k in verdict_metrics(c))


def test_a_record_reads_the_budget_from_the_stop_reason():
    def run(stop: str | None) -> SimpleNamespace:
        tags = {"rlmdj.cond.dj": "rlm", **({"dj.stop_reason": stop} if stop else {})}
        return SimpleNamespace(info=SimpleNamespace(run_id="r", status="FINISHED", start_time=0),
                               data=SimpleNamespace(tags=tags, metrics={"proxy/OBJ": 1.0}, params={}))

    assert record_from_run(run("budget:wall")).budget == "wall"
    assert record_from_run(run("hard_stop")).budget is None
    assert record_from_run(run(None)).budget is None
