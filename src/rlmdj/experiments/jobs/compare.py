"""``rlmdj experiment=compare``: compare conditions of runs already in the store.

Select runs by a sweep's parent run (``experiment.compare.parent=<run id>``), by experiment
name and/or an MLflow filter string. The report goes to the parent run, or to a new ``compare``
run when no parent is given (:mod:`rlmdj.analysis.from_store`).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from rlmdj.analysis.from_store import (
    compare_from_store,
    compare_settings,
    report_to_run,
    resolve_parent,
    sequential_lead,
)
from rlmdj.analysis.report import print_report, print_verdicts
from rlmdj.errors import ParameterError

__all__ = ["check", "compare_job"]


def check(cfg: DictConfig) -> None:
    """``experiment.compare.*`` in range, and the store it reads."""
    from rlmdj.experiments.cli.preflight import check_tracking
    from rlmdj.experiments.registry import check_compare_settings

    check_compare_settings(cfg)
    check_tracking(cfg)


def compare_job(cfg: DictConfig) -> float | None:
    """Compare runs in the store and log the report (to the parent run, or a new run)."""
    from rlmdj.tracking import open_store

    s = compare_settings(cfg.experiment.compare)  # before the store is opened
    client, experiment_id = open_store(cfg.tracking)
    if s.experiment:
        found = client.get_experiment_by_name(str(s.experiment))
        if found is None:
            raise ParameterError(f"experiment.compare.experiment={s.experiment!r}: no such MLflow experiment "
                                 f"at {cfg.tracking.uri}")
        experiment_id = found.experiment_id
    parent = s.parent or None
    if parent:
        found_parent = resolve_parent(client, str(parent))
        parent, experiment_id = found_parent.info.run_id, found_parent.info.experiment_id
    comparison = compare_from_store(client, [experiment_id], s, parent=parent)
    print_report(comparison, with_verdicts=False)
    target = parent
    if target is None:
        run = client.create_run(experiment_id, run_name="compare", tags={"rlmdj.sweep": "compare",
                                                                        "rlmdj.compare.filter": str(s.filter or "")})
        target = run.info.run_id
    lead = sequential_lead(client, parent) if parent else ""
    out_dir = Path(str(cfg.paths.output_dir)) / "comparison"
    files = report_to_run(client, experiment_id, target, comparison, s, out_dir, title="Comparison", lead=lead)
    if parent is None:
        client.set_terminated(target, "FINISHED")
    print(f"report: {files[0]} (logged to run {target}, artifacts comparison/: comparison.html, listen.html)")
    print_verdicts(comparison)
    return None
