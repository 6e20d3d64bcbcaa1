"""Check a whole sweep before its parent run opens: sweeper, launcher, the jobs and each job's config.

Hydra creates the sweeper and the launcher only after the sweep callback has opened the parent
run, and composes a job's config only when that job starts: a bad ``hydra.sweeper.alpha`` used
to leave a KILLED parent, and ``-m bars=8,0`` failed at its second job, after the first had run.
:func:`preflight_sweep` does all of it first, in the launching process: every ``hydra.sweeper.*``
and ``hydra.launcher.*`` value, that the sweep has jobs, what the jobs share (the run preflight)
and every job's config, composed as the launcher will compose it and given the checks that need
no network or folder (ranges, choices, registries, palette). A problem is one line naming the
key (and the job), before anything is opened.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.errors import ParameterError
from rlmdj.validation import number

__all__ = ["check_launcher", "check_sweeper", "preflight_sweep", "sweep_jobs", "without_replica"]

# (key under hydra.launcher, lowest, highest, whole number, null allowed, example) per launcher
# class; launchers not listed (Hydra's basic one) have nothing to check.
_Limit = tuple[str, float, float, bool, bool, Any]
_SUBMITIT: tuple[_Limit, ...] = (
    ("timeout_min", 1, 525_600, True, False, 60),
    ("cpus_per_task", 1, 4096, True, True, 2),
    ("gpus_per_node", 0, 64, True, True, 0),
    ("tasks_per_node", 1, 4096, True, False, 1),
    ("mem_gb", 0.001, 1e6, False, True, 8),
    ("nodes", 1, 100_000, True, False, 1),
    ("array_parallelism", 1, 1_000_000, True, False, 32),
    ("max_num_timeout", 0, 1000, True, False, 0),
    ("cancel_grace_s", 0, 3600, False, False, 30),
)
_LAUNCHER_LIMITS: dict[str, tuple[_Limit, ...]] = {
    "JoblibLauncher": (
        ("timeout", 0.001, 1e9, False, True, 3600),
        ("verbose", 0, 100, True, False, 0),
    ),
    "RayLauncher": (
        ("num_cpus", 1, 1_000_000, True, True, 4),
        ("remote.num_cpus", 0, 1_000_000, False, True, 1),
        ("remote.num_gpus", 0, 1024, False, True, 1),
        ("remote.memory", 0, 1e15, False, True, 2_000_000_000),
        ("cancel_grace_s", 0, 3600, False, False, 10),
    ),
    "SlurmLauncher": _SUBMITIT,
    "LocalLauncher": _SUBMITIT,
    "RlmdjSlurmLauncher": _SUBMITIT,
    "RlmdjLocalLauncher": _SUBMITIT,
}


def _number(cfg: DictConfig, key: str, lo: float, hi: float, integer: bool, optional: bool,
            example: Any) -> None:
    number(cfg, key, lo=lo, hi=hi, integer=integer, example=example, optional=optional)


def _target_class(cfg: DictConfig, node: str) -> str:
    return str(OmegaConf.select(cfg, f"hydra.{node}._target_", default="") or "").rsplit(".", 1)[-1]


def check_sweeper(cfg: DictConfig) -> None:
    """``hydra.sweeper.*``: the sequential sweeper's settings, the basic sweeper's batch size."""
    from rlmdj.experiments.sweep.sequential import SequentialSettings

    kind = _target_class(cfg, "sweeper")
    if kind == "SequentialSweeper":
        values = {f.name: OmegaConf.select(cfg, f"hydra.sweeper.{f.name}", default=f.default)
                  for f in fields(SequentialSettings)}
        SequentialSettings(**values)  # ParameterError naming hydra.sweeper.<key>
    elif kind == "SearchSweeper":
        from rlmdj.experiments.sweep.search import check_search

        check_search(cfg)  # settings, space, sampler, storage: one line naming hydra.sweeper.<key>
    elif kind == "BasicSweeper":
        _number(cfg, "hydra.sweeper.max_batch_size", 1, 1e9, True, True, 100)


def check_launcher(cfg: DictConfig) -> None:
    """``hydra.launcher.*`` of the chosen launcher (joblib, Ray, submitit)."""
    kind = _target_class(cfg, "launcher")
    for key, lo, hi, integer, optional, example in _LAUNCHER_LIMITS.get(kind, ()):
        parent, _, leaf = f"hydra.launcher.{key}".rpartition(".")
        node = OmegaConf.select(cfg, parent)
        if not isinstance(node, DictConfig) or leaf not in node:
            continue  # a setting this launcher does not have (submitit's local executor: no array)
        _number(cfg, f"hydra.launcher.{key}", lo, hi, integer, optional, example)
    if kind == "JoblibLauncher":
        n_jobs = OmegaConf.select(cfg, "hydra.launcher.n_jobs", default=None)
        if n_jobs is not None:
            _number(cfg, "hydra.launcher.n_jobs", -1_000_000, 1_000_000, True, True, 4)
            if int(n_jobs) == 0:
                raise ParameterError("hydra.launcher.n_jobs must not be 0: a number of workers, or -1 "
                                     "for every core (e.g. hydra.launcher.n_jobs=4)")
        prefer = OmegaConf.select(cfg, "hydra.launcher.prefer", default=None)
        if prefer not in (None, "processes", "threads"):
            raise ParameterError(f"hydra.launcher.prefer must be processes or threads, got {prefer!r}")
    if kind == "RayLauncher":
        address = OmegaConf.select(cfg, "hydra.launcher.address", default=None)
        if address is not None and not str(address).strip():
            raise ParameterError("hydra.launcher.address must be null (a local Ray), auto or host:port, "
                                 "got an empty string")


def _parsed(overrides: list[str]) -> list[Any]:
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    loader = GlobalHydra.instance().config_loader() if GlobalHydra.instance().is_initialized() else None
    return OverridesParser.create(config_loader=loader).parse_overrides(list(overrides))


def _refuse_empty(parsed: list[Any]) -> None:
    for o in parsed:
        if o.is_sweep_override() and o.is_discrete_sweep() and not list(o.sweep_string_iterator()):
            raise ParameterError(f"the sweep has no jobs: {o.input_line} has no values "
                                 f"(e.g. {o.get_key_element()}=range(3))")


def sweep_jobs(cfg: DictConfig) -> list[tuple[str, list[str]]]:
    """``(name, overrides)`` of every job the sweep will launch, as its sweeper builds them
    (``job #1 (bars=0)``, numbered as Hydra numbers them).

    The sequential sweeper's jobs are its conditions (replicas are its own: ``replica=0`` stands
    for them); the search sweeper's are its baseline and every value its trials could draw
    (:func:`~rlmdj.experiments.sweep.search.probe_jobs`); other sweepers get the basic sweeper's
    expansion (``params`` then the command line). A sweep with no jobs is refused.
    """
    task = [str(o) for o in cfg.hydra.overrides.task]
    params = dict(OmegaConf.select(cfg, "hydra.sweeper.params", default=None) or {})
    kind = _target_class(cfg, "sweeper")
    if kind == "SequentialSweeper":
        from rlmdj.experiments.sweep.sequential import plan

        given = {o.split("=", 1)[0].lstrip("+~") for o in task}
        # An overlay's ``replica: range(n)`` is the fixed-n plan the sequential sweeper replaces.
        extra = [f"{k}={v}" for k, v in params.items() if k != "replica" and k not in given]
        overrides = extra + task
        _refuse_empty(_parsed(overrides))
        conditions, fixed = plan(overrides)
        return [(f"condition {c.label}", [*fixed, *c.overrides, "replica=0"]) for c in conditions]
    if kind == "SearchSweeper":
        from rlmdj.experiments.sweep.search import plan_search, probe_jobs

        # The baseline, and each value a trial could draw with the others at the baseline's.
        return probe_jobs(plan_search(params, task))
    if kind != "BasicSweeper":
        return []  # a sweeper with its own search space: its jobs are known only as it runs
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    parsed = _parsed([f"{k}={v}" for k, v in params.items()] + task)
    _refuse_empty(parsed)
    swept = {o.get_key_element() for o in parsed if o.is_sweep_override()}
    jobs = BasicSweeper.split_arguments(parsed, None)[0]
    if not jobs:
        raise ParameterError("the sweep has no jobs; sweep at least one value (e.g. -m replica=range(3))")
    return [(f"job #{num} ({' '.join(o for o in job if o.split('=', 1)[0] in swept)})", list(job))
            for num, job in enumerate(jobs)]


def _job_checks(job_cfg: DictConfig) -> None:
    from rlmdj.experiments.cli.preflight import preflight, shared_checked

    with shared_checked():  # the store and the folders: checked once, on the sweep
        preflight(job_cfg)


def without_replica(overrides: list[str]) -> tuple[str, ...]:
    return tuple(o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "replica")


def check_jobs(cfg: DictConfig, jobs: list[tuple[str, list[str]]]) -> None:
    """Compose every job's config and check it; jobs differing only in ``replica`` once."""
    from hydra.core.global_hydra import GlobalHydra

    from rlmdj.experiments.sweep.worker import install_caching_loader
    from rlmdj.failures import explain

    if not GlobalHydra.instance().is_initialized():
        return
    loader = install_caching_loader()  # composed once per combination of group choices
    seen: set[tuple[str, ...]] = set()
    for name, overrides in jobs:
        for o in overrides:
            key, _, value = o.partition("=")
            if key.lstrip("+~") == "replica" and not value.isdigit():
                raise ParameterError(f"{name}: replica must be a whole number >= 0, got {value!r} "
                                     "(e.g. replica=range(3))")
        if without_replica(overrides) in seen:
            continue
        seen.add(without_replica(overrides))
        try:
            _job_checks(loader.load_sweep_config(cfg, list(without_replica(overrides))))
        except Exception as exc:  # noqa: BLE001 - only bad input is reported here, per job
            explained = explain(exc, cfg)
            if explained is None or explained[1] != 2:
                raise
            raise ParameterError(f"{name}: {explained[0]}") from exc


def preflight_sweep(cfg: DictConfig) -> list[tuple[str, list[str]]]:
    """Everything a sweep needs checked before its parent run is opened (module docstring);
    the jobs, as :func:`sweep_jobs` names them."""
    from rlmdj.experiments.cli.preflight import preflight

    check_sweeper(cfg)
    check_launcher(cfg)
    jobs = sweep_jobs(cfg)
    preflight(cfg)  # what the jobs share: tracking, folders, the scorer...
    check_jobs(cfg, jobs)
    return jobs
