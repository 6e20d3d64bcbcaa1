"""Run a Hydra sweep's jobs as Ray tasks, on a local Ray or an existing cluster.

Why not Hydra's own ``hydra-ray-launcher``: its newest release (1.2.2) pins ``cloudpickle<3``
while DSPy 3.x needs ``cloudpickle>=3.1.2``, so pip cannot install both in one environment.
Ray itself vendors its own cloudpickle and has no such pin, so this launcher uses Ray's task API
directly and gives the guarantees rlmdj's sweeps rely on with every launcher:

* jobs run exactly as with joblib (``hydra.core.utils.run_job`` in the worker, the sweep's
  callbacks and Hydra's singletons carried over), so parent/child runs, condition tags and
  ``experiment.resume=true`` behave the same;
* an interrupted sweep (Ctrl-C, SIGTERM) cancels its tasks -- first with KeyboardInterrupt, so
  each job ends its own run KILLED, then by force after ``cancel_grace_s`` -- before the sweep
  callback marks whatever is left KILLED; nothing keeps running on the cluster.

Config (``hydra.launcher.*``): ``address`` (null: start a private local Ray on 127.0.0.1; ``auto``
or ``host:port``: join a cluster), ``num_cpus`` (size of the local Ray), ``remote`` (options of
each task, e.g. ``num_cpus``, ``num_gpus``, ``memory``), ``runtime_env`` (Ray runtime env),
``forward_env`` (environment variables, shell patterns, copied to the workers), ``cancel_grace_s``.
"""

import contextlib
import fnmatch
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional  # noqa: UP035 - OmegaConf reads these at run time

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

__all__ = ["RayLauncherConf", "RayLauncher"]

log = logging.getLogger(__name__)

_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


# Hydra's plugin scan runs this module outside sys.modules, so no ``from __future__ import
# annotations`` here: dataclasses would fail to resolve the string annotations.
@dataclass
class RayLauncherConf:
    _target_: str = "hydra_plugins.rlmdj_ray_launcher.ray_launcher.RayLauncher"
    address: Optional[str] = None  # noqa: UP045
    num_cpus: Optional[int] = None  # noqa: UP045
    remote: Dict[str, Any] = field(default_factory=lambda: {"num_cpus": 1})  # noqa: UP006
    runtime_env: Dict[str, Any] = field(default_factory=dict)  # noqa: UP006
    forward_env: List[str] = field(default_factory=lambda: [  # noqa: UP006
        "RLMDJ_*", "MLFLOW_*", "HF_*", "LITELLM_*", "DENO_DIR", "*_API_KEY", "*_API_BASE"])
    cancel_grace_s: float = 10.0


ConfigStore.instance().store(group="hydra/launcher", name="rlmdj_ray", node=RayLauncherConf, provider="rlmdj")


def _execute(
    idx: int,
    overrides: Sequence[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
    cwd: str,
) -> JobReturn:
    """One job in a Ray worker: what Hydra's joblib launcher does in a loky worker."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import run_job

    if os.path.isdir(cwd):  # relative paths in the config mean what they meant at launch
        os.chdir(cwd)
    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def forwarded_env(patterns: Sequence[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables of ``environ`` (default: this process) whose names match ``patterns``."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if any(fnmatch.fnmatchcase(k, p) for p in patterns)}


class RayLauncher(Launcher):
    """Hydra launcher: one Ray task per job (see the module docstring)."""

    def __init__(self, **params: Any) -> None:
        # As Hydra's own launchers: the config node's values arrive as keywords, so every
        # default is RayLauncherConf's; a launcher built in Python gets them the same way.
        def plain(value: Any) -> Any:
            return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value

        settings = replace(RayLauncherConf(), **{k: plain(v) for k, v in params.items()})
        self.address = settings.address
        self.num_cpus = settings.num_cpus
        self.remote = dict(settings.remote)
        self.runtime_env = dict(settings.runtime_env)
        self.forward_env = list(settings.forward_env)
        self.cancel_grace_s = float(settings.cancel_grace_s)
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def _init_ray(self) -> bool:
        """Start or join Ray; True when this call started it (and so must shut it down)."""
        local = self.address in (None, "", "local")
        if local and "ray" not in sys.modules:
            # A private Ray is for this machine only: Ray then binds its services to 127.0.0.1
            # instead of the first network interface (its documented switch for one-node Ray).
            os.environ.setdefault(_LOOPBACK_ENV, "0")
        try:
            import ray
        except ImportError as exc:
            raise ImportError(
                "hydra/launcher=ray needs Ray: pip install -e '.[ray]' (or pip install 'ray>=2.9')"
            ) from exc
        if ray.is_initialized():
            return False
        runtime_env = dict(self.runtime_env)
        env_vars = {**forwarded_env(self.forward_env), **dict(runtime_env.get("env_vars") or {})}
        if env_vars:
            runtime_env["env_vars"] = env_vars
        kwargs: dict[str, Any] = {"runtime_env": runtime_env or None, "log_to_driver": True}
        if local:
            kwargs.update(address="local", num_cpus=self.num_cpus, include_dashboard=False)
        else:
            kwargs["address"] = self.address
        previous = signal.getsignal(signal.SIGTERM)
        ray.init(**kwargs)
        # ray.init replaces the SIGTERM handler with one that exits at once; keep the sweep's,
        # which turns SIGTERM into KeyboardInterrupt so the tasks are cancelled gracefully.
        if previous is not None:
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(signal.SIGTERM, previous)
        return True

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import ray

        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        started = self._init_ray()
        try:
            where = "a local Ray on 127.0.0.1" if self.address in (None, "", "local") else f"Ray at {self.address}"
            log.info("Ray launcher: %d jobs on %s, sweep output dir: %s", len(job_overrides), where, sweep_dir)
            task = ray.remote(**self.remote)(_execute) if self.remote else ray.remote(_execute)
            state = Singleton.get_state()
            refs = []
            for i, overrides in enumerate(job_overrides):
                idx = initial_job_idx + i
                log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
                refs.append(task.remote(idx, list(overrides), self.hydra_context, self.config,
                                        self.task_function, state, os.getcwd()))
            try:
                return list(ray.get(refs))
            except (KeyboardInterrupt, SystemExit):
                self._cancel(refs)
                raise
        finally:
            if started:
                ray.shutdown()

    def _cancel(self, refs: list[Any]) -> None:
        """Interrupt every task (KeyboardInterrupt: jobs end their runs KILLED), then force."""
        import ray

        log.warning("Ray launcher: interrupted; cancelling %d job(s)", len(refs))
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref)
        try:
            _, pending = ray.wait(refs, num_returns=len(refs), timeout=self.cancel_grace_s)
        except Exception:  # noqa: BLE001 - best effort while interrupted
            pending = refs
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
