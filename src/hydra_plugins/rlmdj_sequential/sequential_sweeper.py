"""``hydra/sweeper=sequential``: rounds of replicas through the configured launcher, stopped early.

Hydra finds this module through the ``hydra_plugins`` namespace package. The sweeper expands the
swept conditions (``dj=reference,random``), launches replicas ``0..min_replicas-1`` of each
through ``hydra.launcher`` (basic, joblib, submitit, Ray: any launcher), analyses the jobs'
returned OBJ after each round with an anytime-valid confidence sequence, and launches
``round_size`` more replicas per condition until every contrast with the baseline is decided
or ``max_replicas`` is reached. Baseline and metric are the sweep comparison's
(``experiment.compare.baseline``, ``experiment.compare.primary``). The jobs' ``job k/N`` counts
jobs, ``N`` those launched through the current round. The logic lives in
:mod:`rlmdj.experiments.sweep.sequential`.

Keys (``hydra.sweeper.*``, defaults in :class:`rlmdj.config.experiment.SequentialSettings`):
``min_replicas``, ``max_replicas``, ``round_size``, ``delta`` (OBJ), ``alpha``, ``prior_effect``
(the effect, in SDs of the differences, the confidence sequence decides fastest).
"""

# No ``from __future__ import annotations``: Hydra executes plugin modules without registering
# them in ``sys.modules``, and dataclasses cannot resolve string annotations there.
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from rlmdj.experiments.sweep.sequential import SEQUENTIAL_TARGET, SequentialSettings

__all__ = ["SequentialSweeper", "SequentialSweeperConf"]


@dataclass
class SequentialSweeperConf(SequentialSettings):
    """The sweeper's config node: :class:`SequentialSettings` plus Hydra's target and params."""

    _target_: str = SEQUENTIAL_TARGET
    params: Any = None  # like the basic sweeper: sweep overrides set from a config file


ConfigStore.instance().store(group="hydra/sweeper", name="sequential", node=SequentialSweeperConf,
                             provider="rlmdj")


class SequentialSweeper(Sweeper):
    """Runs rounds of replicas until the primary contrasts are decided (see the module docstring)."""

    def __init__(self, **params: Any) -> None:
        # As Hydra's own sweepers: the config node's values arrive as keywords, so every default
        # is SequentialSweeperConf's (that is, SequentialSettings').
        super().__init__()
        self.params = dict(params.pop("params", None) or {})
        self.settings = SequentialSettings(**params)
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        import math

        from rlmdj.analysis.sequential import cs_multiplier
        from rlmdj.experiments.cli.progress import set_sweep_total
        from rlmdj.experiments.sweep.sequential import (
            SequentialState,
            baseline_first,
            compare_of,
            plan,
            sequential_primary,
        )
        from rlmdj.experiments.sweep.sequential_record import ParentLog

        assert self.config is not None and self.launcher is not None
        # An experiment overlay's ``replica: range(n)`` is the fixed-n plan this sweeper replaces.
        params = [f"{k}={v}" for k, v in self.params.items() if k != "replica"]
        conditions, fixed = plan(params + list(arguments))
        conditions = baseline_first(conditions, compare_of(self.config).baseline)
        primary = sequential_primary(self.config)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        state = SequentialState(self.settings, [c.label for c in conditions], metric=primary)
        log = ParentLog.from_sweep_dir(sweep_dir)
        returns: list[list[JobReturn]] = []
        done, job_idx = 0, 0
        on = "" if primary == "OBJ" else f", deciding on {primary}"
        print(f"sequential: {len(conditions)} conditions, baseline {conditions[0].label}{on}; replicas "
              f"{'/'.join(str(n) for n in self.settings.schedule())} at most, stop when decided", flush=True)
        if math.isinf(cs_multiplier(self.settings.max_replicas, alpha=self.settings.alpha / (len(conditions) - 1),
                                    prior_effect=self.settings.prior_effect)):
            print(f"sequential: note: with max_replicas={self.settings.max_replicas} the confidence sequence "
                  "cannot exclude anything yet; every contrast will end undecided (raise hydra.sweeper.max_replicas)",
                  flush=True)
        for target in self.settings.schedule():
            jobs = [(c, r) for r in range(done, target) for c in conditions]
            batch = [[*fixed, *c.overrides, f"replica={r}"] for c, r in jobs]
            self.validate_batch_is_legal(batch)
            set_sweep_total(sweep_dir, job_idx + len(batch))
            results = list(self.launcher.launch(batch, initial_job_idx=job_idx))
            job_idx += len(batch)
            returns.append(results)
            failed = None
            for (cond, replica), res in zip(jobs, results, strict=True):
                ok = res.status == JobStatus.COMPLETED
                failed = failed or (None if ok else res)
                value = _value(res, primary) if ok else None
                state.record(cond.label, replica, value if isinstance(value, int | float) else None)
            done = target
            stop = state.analyse(target)
            print(_round_line(state), flush=True)
            log.round(state)
            if failed is not None:
                log.finish(state, stop_reason="job_failed")
                _ = failed.return_value  # re-raises the job's exception, like Hydra's basic sweeper
            if stop:
                break
        log.finish(state)
        for line in state.verdicts():
            print(f"sequential verdict: {line}", flush=True)
        return returns


def _value(result: JobReturn, primary: str) -> Any:
    """The job's value of the primary metric: OBJ as the job returns it, another axis from its run."""
    if primary == "OBJ":
        return result.return_value
    from rlmdj.experiments.sweep.context import finished_metric

    return finished_metric(result.cfg, primary)


def _round_line(state: Any) -> str:
    last = state.rounds[-1]
    parts = [f"{c.split('=', 1)[-1]} {v['low']:+.2f}..{v['high']:+.2f} {v['decision']}"
             for c, v in last["contrasts"].items()]
    return f"sequential: round {len(state.rounds)}, {last['replicas']} replicas per condition: " + "; ".join(parts)


