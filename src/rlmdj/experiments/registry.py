"""The table of jobs the ``rlmdj`` entry point can run, keyed by ``experiment.name``.

A job is a function of the composed config that returns the sweep objective (or None). Modules
register their job with :func:`job`; :func:`load_jobs` imports every module that defines one, so
the entry point stays a thin dispatcher.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from omegaconf import DictConfig

from rlmdj.errors import ParameterError

__all__ = ["JOB_MODULES", "Job", "job", "get_job", "load_jobs"]

Job = Callable[[DictConfig], "float | None"]

# Modules that register jobs; imported lazily so `rlmdj --help` stays fast.
JOB_MODULES: tuple[str, ...] = (
    "rlmdj.experiments.run",
    "rlmdj.experiments.serve",
    "rlmdj.experiments.replay",
    "rlmdj.experiments.compare_job",
    "rlmdj.experiments.screen",
    "rlmdj.experiments.samples_job",
)

_JOBS: dict[str, Job] = {}


def job(name: str) -> Callable[[Job], Job]:
    """Register ``fn`` as the job run by ``experiment.name=<name>``."""

    def register(fn: Job) -> Job:
        _JOBS[name] = fn
        return fn

    return register


def _import(module: str) -> None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise


def load_jobs() -> dict[str, Job]:
    """Import every job module that exists and return the job table."""
    for module in JOB_MODULES:
        _import(module)
    return dict(_JOBS)


def get_job(name: str) -> Job:
    """The job called ``name``, importing job modules only until it is found (fast start-up)."""
    for module in JOB_MODULES:
        if name in _JOBS:
            break
        _import(module)
    if name not in _JOBS:
        raise ParameterError(
            f"unknown experiment job {name!r}; available: {', '.join(sorted(load_jobs()))}"
        )
    return _JOBS[name]
