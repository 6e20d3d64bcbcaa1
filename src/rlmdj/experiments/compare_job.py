"""``rlmdj experiment=compare``: compare conditions of runs already in the store.

Select runs by a sweep's parent run (``experiment.compare.parent=<run id>``), by experiment
name and/or an MLflow filter string; the report (terminal table, Markdown, CSV, PNG) is logged
to the parent run, or to a new ``compare`` run when no parent is given.

:func:`run_analysis` is what the sweep callback calls when a multirun ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.analysis.compare import SWEPT_KEYS_TAG, Comparison, compare, load_runs
from rlmdj.analysis.report import log_report, print_report
from rlmdj.errors import ParameterError
from rlmdj.experiments.registry import job

__all__ = ["compare_analysis", "compare_from_store", "compare_job", "resolve_parent", "run_analysis"]


def resolve_parent(client: Any, run_id: str) -> Any:
    """The run ``run_id`` names, also by a unique prefix (as printed in listings); else a clear error.

    The error lists the most recent sweep parents, which is what a mistyped id was meant to be.
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
    raise ParameterError(f"experiment.compare.parent={run_id!r} {what}; recent sweep parents: {recent}")


def compare_from_store(
    client: Any,
    experiment_ids: list[str],
    settings: DictConfig | dict,
    *,
    parent: str | None = None,
) -> Comparison:
    """Load matching FINISHED runs and compare them with ``settings`` (an ``experiment.compare`` node)."""
    s = OmegaConf.create(settings) if isinstance(settings, dict) else settings
    parent = parent or s.get("parent")
    by = list(s.get("by") or [])
    if parent and not by:
        swept = client.get_run(parent).data.tags.get(SWEPT_KEYS_TAG, "")
        by = [k for k in swept.split(",") if k]
    records = load_runs(client, experiment_ids=experiment_ids, parent_run_id=parent,
                        filter_string=s.get("filter") or None)
    return compare(records, group_by=by or None, metrics=list(s.get("metrics") or []) or None,
                   baseline=s.get("baseline") or None, test=str(s.get("test", "welch")),
                   alpha=float(s.get("alpha", 0.05)), delta=float(s.get("delta", 0.3)),
                   power=float(s.get("power", 0.8)))


def run_analysis(name: str, client: Any, experiment_id: str, parent: str, config: DictConfig,
                 *, out_dir: Path) -> Any:
    """The end-of-sweep analysis named by ``experiment.analysis`` (see ``ANALYSES``), logged to
    the parent run."""
    from rlmdj.experiments.registry import ANALYSES

    return ANALYSES.get(name)(client, experiment_id, parent, config, out_dir=out_dir)


def compare_analysis(client: Any, experiment_id: str, parent: str, config: DictConfig,
                     *, out_dir: Path) -> Comparison:
    """``experiment.analysis=compare``: the sweep's conditions against its baseline."""
    comparison = compare_from_store(client, [experiment_id], config.experiment.compare, parent=parent)
    print_report(comparison)
    log_report(client, parent, comparison, out_dir, title="Sweep comparison")
    return comparison


@job("compare")
def compare_job(cfg: DictConfig) -> float | None:
    """Compare runs in the store and log the report (to the parent run, or a new run)."""
    from rlmdj.tracking import open_store

    s = cfg.experiment.compare
    client, experiment_id = open_store(cfg.tracking)
    if s.get("experiment"):
        found = client.get_experiment_by_name(str(s.experiment))
        if found is None:
            raise ParameterError(f"no MLflow experiment named {s.experiment!r} at {cfg.tracking.uri}")
        experiment_id = found.experiment_id
    parent = s.get("parent") or None
    if parent:
        found_parent = resolve_parent(client, str(parent))
        parent, experiment_id = found_parent.info.run_id, found_parent.info.experiment_id
    comparison = compare_from_store(client, [experiment_id], s, parent=parent)
    print_report(comparison)
    target = parent
    if target is None:
        run = client.create_run(experiment_id, run_name="compare", tags={"rlmdj.sweep": "compare",
                                                                        "rlmdj.compare.filter": str(s.get("filter") or "")})
        target = run.info.run_id
    out_dir = Path(str(cfg.paths.output_dir)) / "comparison"
    files = log_report(client, target, comparison, out_dir)
    if parent is None:
        client.set_terminated(target, "FINISHED")
    print(f"report: {files[0]} (logged to run {target}, artifacts comparison/)")
    return None
