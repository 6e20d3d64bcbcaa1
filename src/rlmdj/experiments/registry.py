"""The jobs the ``rlmdj`` entry point runs (``experiment.name``) and the end-of-sweep analyses
(``experiment.analysis``), as two :class:`~rlmdj.registry.Registry` tables.

A job is a function of the composed config returning the sweep objective (or None). An analysis
is a function ``(client, experiment_id, parent_run_id, config, *, out_dir) -> result`` the sweep
callback calls once a multirun ends, logging to the sweep's parent run.

Built-ins are listed below as ``"module:function"``, each once, and imported only when chosen, so
the entry point stays a thin, fast dispatcher. So are their checks: what the preflight
(:mod:`rlmdj.experiments.cli.preflight`) runs before the job opens anything; a job without one
gets the common checks. To add a job: write ``my_job(cfg)`` and its ``check(cfg)`` in
``rlmdj/experiments/jobs/<name>.py`` and add one line to ``JOBS`` here (``experiment=<name>`` is
then an option; docs/architecture.md, "Add a job"). Plug-ins and tests register with
``JOBS.register(name, job, check=...)`` (or ``@job("name")``) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlmdj.registry import Registry

__all__ = ["ANALYSES", "JOBS", "Analysis", "Job", "check_compare_settings", "get_job", "job", "load_jobs",
           "run_analysis"]

Job = Callable[[DictConfig], "float | None"]
Analysis = Callable[..., Any]

JOBS: Registry[Job] = Registry(
    "experiment job",
    key="experiment.name",
    example="experiment=gap_test",
    entries={
        "run": "rlmdj.experiments.jobs.run:run_job",
        "serve": "rlmdj.experiments.jobs.serve:serve",
        "replay": "rlmdj.experiments.jobs.replay:replay_job",
        "compare": "rlmdj.experiments.jobs.compare:compare_job",
        "screen_palettes": "rlmdj.experiments.jobs.screen:screen_job",
        "search_palettes": "rlmdj.experiments.jobs.search.palette_search:search_job",
        "samples": "rlmdj.experiments.jobs.samples:samples_job",
        "rescore": "rlmdj.experiments.jobs.rescore:rescore_job",
        "rerun": "rlmdj.experiments.jobs.rerun:rerun_job",
        "ears_cell": "rlmdj.experiments.jobs.ears_cell:ears_cell_job",
        "optimize_prompt": "rlmdj.experiments.jobs.optimize_prompt:optimize_job",
    },
    checks={
        "run": "rlmdj.experiments.cli.preflight:check_run",
        "serve": "rlmdj.experiments.jobs.serve:check",
        "replay": "rlmdj.experiments.jobs.replay:check",
        "compare": "rlmdj.experiments.jobs.compare:check",
        "samples": "rlmdj.experiments.jobs.samples:check",
        "search_palettes": "rlmdj.experiments.jobs.search.palette_search:check",
        "optimize_prompt": "rlmdj.experiments.jobs.optimize_prompt:check",
    },
)

ANALYSES: Registry[Analysis] = Registry(
    "sweep analysis",
    key="experiment.analysis",
    example="experiment.analysis=compare",
    entries={
        "compare": "rlmdj.analysis.from_store:compare_analysis",
        "gap": "rlmdj.analysis.studies.gap:gap_analysis",
        "ears": "rlmdj.analysis.studies.ears:ears_analysis",
        "none": "rlmdj.experiments.registry:no_analysis",
    },
    checks={"compare": "rlmdj.experiments.registry:check_compare_settings"},
)


def check_compare_settings(cfg: DictConfig) -> None:
    """``experiment.compare.*`` in range: what the compare analysis and the compare job read,
    checked here, where importing it costs nothing (the analysis imports the statistics)."""
    from omegaconf import OmegaConf

    from rlmdj.config.experiment import check_compare

    node = OmegaConf.select(cfg, "experiment.compare", default=None)
    if node is not None:
        check_compare(node)


def no_analysis(client: Any, experiment_id: str, parent: str, config: DictConfig, *,
                out_dir: Any) -> None:
    """``experiment.analysis=none``: the sweep logs its runs and nothing more."""
    return None


def job(name: str, *, check: Callable[[DictConfig], None] | None = None) -> Callable[[Job], Job]:
    """Decorator registering ``fn`` (with its ``check``) as the job ``experiment.name=<name>`` runs."""
    return JOBS.register(name, check=check)


def get_job(name: str) -> Job:
    """The job called ``name`` (its module imported now); unknown names list the choices."""
    return JOBS.get(name)


def load_jobs() -> dict[str, Job]:
    """Every job, importing all job modules."""
    return JOBS.load_all()


def run_analysis(name: str, client: Any, experiment_id: str, parent: str, config: DictConfig,
                 *, out_dir: Path) -> Any:
    """The end-of-sweep analysis named by ``experiment.analysis`` (see ``ANALYSES``), logged to
    the parent run."""
    return ANALYSES.get(name)(client, experiment_id, parent, config, out_dir=out_dir)
