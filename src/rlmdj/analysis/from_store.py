"""Compare conditions of runs already in the store, and log the report to a run.

Select runs by a sweep's parent run (``experiment.compare.parent=<run id>``), by experiment
name and/or an MLflow filter string. The analysis follows the design of the runs (paired by
replica where conditions share replicas, one run per configuration; see
:mod:`rlmdj.analysis.compare`). The report (terminal tables, Markdown, HTML, CSV, PNG, the
listening room ``listen.html``), the verdict sentences (as the run's description) and the
``compare/<condition>/...`` metrics go to the parent run, or to a new ``compare`` run when no
parent is given.

:func:`compare_analysis` is the end-of-sweep analysis ``experiment.analysis=compare``; the
``rlmdj experiment=compare`` job (:mod:`rlmdj.experiments.jobs.compare`) calls the same functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlmdj.analysis.compare import SWEPT_KEYS_TAG, Comparison, compare, load_runs
from rlmdj.analysis.listen import write_listen_page
from rlmdj.analysis.report import log_report, print_report
from rlmdj.config.bind import bind
from rlmdj.config.experiment import CompareConfig, check_compare
from rlmdj.errors import ParameterError

__all__ = [
    "SEQUENTIAL_VERDICT_TAG", "compare_analysis", "compare_from_store", "compare_settings", "report_to_run",
    "resolve_parent", "sequential_lead",
]

# Written on a parent run by the sequential sweeper: its stopping verdict, which leads the description.
SEQUENTIAL_VERDICT_TAG = "rlmdj.sequential.verdict"


def resolve_parent(client: Any, run_id: str, *, key: str = "experiment.compare.parent") -> Any:
    """The run ``run_id`` names, also by a unique prefix (as printed in listings); else a clear error.

    The error names ``key``, the setting the id came from, and lists the most recent sweep
    parents, which is what a mistyped id was meant to be.
    """
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        pass
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    parents = client.search_runs(experiment_ids, filter_string="tags.`rlmdj.sweep` = 'parent'",
                                 order_by=["attributes.start_time DESC"], max_results=1000) if experiment_ids else []
    hits = [r for r in parents if r.info.run_id.startswith(run_id)]
    if len(hits) == 1:
        return hits[0]
    recent = "; ".join(f"{r.info.run_id} ({r.info.run_name})" for r in parents[:5]) or "none"
    what = "matches several sweep parents" if hits else "is not a run in this store"
    raise ParameterError(f"{key}={run_id!r} {what}; recent sweep parents: {recent}")


def compare_settings(settings: Any) -> CompareConfig:
    """``settings`` (an ``experiment.compare`` node, a partial dict or a CompareConfig) as its
    schema, checked: every default is CompareConfig's, and a value out of range is one
    ParameterError."""
    s = bind(settings, CompareConfig, "experiment.compare")
    check_compare(s)
    return s


def compare_from_store(
    client: Any,
    experiment_ids: list[str],
    settings: Any,
    *,
    parent: str | None = None,
) -> Comparison:
    """Load matching FINISHED runs and compare them with ``settings`` (an ``experiment.compare`` node).

    Conditions come from ``by``, else the parent's swept keys, else (store-wide) the config keys
    that differ between the runs.
    """
    s = compare_settings(settings)
    parent = parent or s.parent
    by = list(s.by)
    if parent and not by:
        swept = client.get_run(parent).data.tags.get(SWEPT_KEYS_TAG, "")
        by = [k for k in swept.split(",") if k]
    records = load_runs(client, experiment_ids=experiment_ids, parent_run_id=parent,
                        filter_string=s.filter or None)
    return compare(records, group_by=by or None, metrics=list(s.metrics) or None, primary=s.primary,
                   scorer=s.scorer or None, baseline=s.baseline or None, test=s.test, alpha=s.alpha,
                   delta=s.delta, power=s.power, unit=s.unit)


def report_to_run(client: Any, experiment_id: str, target: str, comparison: Comparison, settings: Any,
            out_dir: Path, *, title: str, lead: str = "") -> list[Path]:
    """Listening room, report files, description and verdict metrics on run ``target``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        write_listen_page(client, comparison, out_dir / "listen.html", experiment_id=experiment_id,
                          max_inline_mb=float(compare_settings(settings).max_inline_mb))
    except Exception as exc:  # noqa: BLE001 - the page is a view; the numbers must still be logged
        client.set_tag(target, "rlmdj.listen_error", repr(exc)[:500])
    return log_report(client, target, comparison, out_dir, title=title, lead=lead)


def sequential_lead(client: Any, parent: str) -> str:
    """A sequential sweep's verdict, which heads the description above the fixed-n verdicts."""
    verdict = client.get_run(parent).data.tags.get(SEQUENTIAL_VERDICT_TAG, "")
    return f"{verdict}\n\nFixed-n comparison of the same runs (ignores the looks after each round):" if verdict else ""


def compare_analysis(client: Any, experiment_id: str, parent: str, config: DictConfig,
                     *, out_dir: Path) -> Comparison:
    """``experiment.analysis=compare``: the sweep's conditions against its baseline."""
    comparison = compare_from_store(client, [experiment_id], config.experiment.compare, parent=parent)
    lead = sequential_lead(client, parent)
    if lead:
        comparison.notes.append("this sweep stopped by a sequential rule: the fixed-n p-values and CIs here do "
                                "not account for the looks after each round; its verdict comes from the "
                                "confidence sequence (see the description and sequential.json)")
    print_report(comparison, with_verdicts=False)  # the sweep prints the verdicts last
    report_to_run(client, experiment_id, parent, comparison, config.experiment.compare, out_dir,
            title="Sweep comparison", lead=lead)
    return comparison
