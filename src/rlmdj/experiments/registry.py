"""The jobs the ``rlmdj`` entry point runs (``experiment.name``) and the end-of-sweep analyses
(``experiment.analysis``), as two :class:`~rlmdj.registry.Registry` tables.

A job is a function of the composed config returning the sweep objective (or None). An analysis
is a function ``(client, experiment_id, parent_run_id, config, *, out_dir) -> result`` the sweep
callback calls once a multirun ends, logging to the sweep's parent run.

Built-ins are listed below as ``"module:function"`` and imported only when chosen, so the entry
point stays a thin, fast dispatcher. To add a job: write ``my_job(cfg)`` in a module of
``rlmdj.experiments``, add one line to ``JOBS`` here, and (usually) a ``conf/experiment/<name>.yaml``
overlay with ``experiment.name: <name>`` and the job's settings under ``experiment.<name>``.
Plug-ins and tests register with ``@job("name")`` (or ``JOBS.register``) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlmdj.registry import Registry

__all__ = ["ANALYSES", "JOBS", "Analysis", "Job", "get_job", "job", "load_jobs", "run_analysis"]

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
        "samples": "rlmdj.experiments.jobs.samples:samples_job",
        "rescore": "rlmdj.experiments.jobs.rescore:rescore_job",
        "rerun": "rlmdj.experiments.jobs.rerun:rerun_job",
        "ears_cell": "rlmdj.experiments.jobs.ears_cell:ears_cell_job",
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
)


def no_analysis(client: Any, experiment_id: str, parent: str, config: DictConfig, *,
                out_dir: Any) -> None:
    """``experiment.analysis=none``: the sweep logs its runs and nothing more."""
    return None


def job(name: str) -> Callable[[Job], Job]:
    """Decorator registering ``fn`` as the job run by ``experiment.name=<name>``."""
    return JOBS.register(name)


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
