"""What a sweep's processes do once rather than once per job: compose, import, load the samples.

**Composition.** Hydra composes a job's config from scratch (its defaults list, every YAML file,
the schema: about 0.2 s) when the sweep is checked, again when the sweeper validates its batch,
and again in the launcher's worker, for every job. A sweep's jobs mostly differ in plain values
(``replica=3``), which leave the defaults list alone. :class:`CachingConfigLoader` wraps Hydra's
config loader for the multirun (:func:`install_caching_loader`, from the sweep callback, before
the sweeper and the launcher are made): a job's config is the config its group choices compose
to (composed once per process and combination), copied, with the job's plain overrides applied
and Hydra's record of them (``hydra.overrides``, ``hydra.job.override_dirname``) set as Hydra
sets them, so the config is the one Hydra composes. The launchers pickle the loader with the
rest of Hydra's context, so every worker process (joblib, Ray, SLURM) keeps its own cache.

**Warm workers.** A joblib worker's first job used to import rlmdj, MLflow, SciPy and matplotlib
and build the sample index after the parent had opened the store and its run; :func:`warm_joblib`
starts the workers as soon as the sweep is checked, with the executor the launcher will reuse,
and has each take the job configs the sweep composed, run the first job's preflight and draw its
blank timeline meanwhile (a process's first figure loads the fonts); their runs are recorded by
the sweep's own run writer (:mod:`rlmdj.tracking.writer.shared`). What that leaves in memory is
then frozen out of the collections joblib runs between jobs (:func:`settle_heap`). Each warmed
worker also watches the sweep's process and ends itself once that is gone (:func:`watch_sweep`):
loky's workers outlive a sweep killed with SIGKILL, and one in the middle of a job would play on.

**The analysis.** The parent imports the sweep's analysis (statistics, plots) while the jobs run
(:func:`prepare_analysis`), not after the last one.
"""

from __future__ import annotations

import copy
import os
import pickle
import signal
import threading
import time
import uuid
from typing import Any

from hydra.core.config_loader import ConfigLoader
from omegaconf import DictConfig, OmegaConf

__all__ = ["CachingConfigLoader", "install_caching_loader", "pack_context", "prepare_analysis",
           "settle_heap", "unpack_context", "warm_joblib", "watch_sweep"]

# Plain overrides that change what Hydra fills in after composing: the full path is taken.
_HYDRA_BOOKKEEPING = ("hydra.job.", "hydra.runtime.", "hydra.overrides.")
# (token, config name, cwd, group overrides) -> the composed config, pickled; one sweep's at a time.
_COMPOSED: dict[tuple[Any, ...], bytes | DictConfig] = {}


class CachingConfigLoader(ConfigLoader):
    """Hydra's config loader, with sweep jobs composed once per combination of group choices
    (module docstring); everything else is the wrapped loader's."""

    def __init__(self, inner: ConfigLoader) -> None:
        self.inner = inner
        self.token = uuid.uuid4().hex  # this multirun's: pickled to the workers with the loader

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # unpickling, before __dict__ is filled
            raise AttributeError(name)
        return getattr(self.inner, name)

    # ---------------------------------------------------------------- the job configs
    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from hydra.types import RunMode

        repo = getattr(self.inner, "repository", None)
        overrides = [*OmegaConf.to_container(master_config.hydra.overrides.hydra), *sweep_overrides]
        try:
            parsed = OverridesParser.create(config_loader=self.inner).parse_overrides(overrides)
        except Exception:  # noqa: BLE001 - Hydra's own path raises Hydra's own error
            parsed = None
        if repo is None or parsed is None or any(o.is_sweep_override() for o in parsed):
            return self.inner.load_sweep_config(master_config, list(sweep_overrides))
        # As Hydra sorts them: a dict value or a key that is not a group is applied after composing.
        is_plain = [isinstance(o.value(), dict) or not repo.group_exists(o.key_or_group) for o in parsed]
        plain = [o for o, p in zip(parsed, is_plain, strict=True) if p]
        if any(o.key_or_group.startswith(_HYDRA_BOOKKEEPING) for o in plain):
            return self.inner.load_sweep_config(master_config, list(sweep_overrides))
        groups = [o.input_line for o, p in zip(parsed, is_plain, strict=True) if not p]
        name = master_config.hydra.job.config_name
        key = (self.token, name, os.getcwd(), tuple(groups))
        if key not in _COMPOSED:
            if any(k[0] != self.token for k in _COMPOSED):
                _COMPOSED.clear()  # an earlier multirun's, in a process that ran several
            composed = self.inner.load_configuration(config_name=name, overrides=groups,
                                                     run_mode=RunMode.RUN)
            _COMPOSED[key] = _kept(composed)
        cfg = _copied(_COMPOSED[key])
        # What load_configuration does once the defaults are composed, with every override.
        ConfigLoaderImpl._apply_overrides_to_config(plain, cfg)
        cfg.hydra.overrides.hydra = [o.input_line for o in parsed if o.is_hydra_override()]
        cfg.hydra.overrides.task = [o.input_line for o in parsed if not o.is_hydra_override()]
        dirname = cfg.hydra.job.config.override_dirname
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=[o for o in parsed if not o.is_hydra_override()],
            kv_sep=dirname.kv_sep, item_sep=dirname.item_sep, exclude_keys=dirname.exclude_keys)
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)  # as load_sweep_config does
        return cfg

    # ---------------------------------------------------- the rest: the wrapped loader's
    def load_configuration(self, config_name: str | None, overrides: list[str], run_mode: Any,
                           from_shell: bool = True, validate_sweep_overrides: bool = True) -> DictConfig:
        return self.inner.load_configuration(config_name, overrides, run_mode, from_shell,
                                             validate_sweep_overrides)

    def get_search_path(self) -> Any:
        return self.inner.get_search_path()

    def get_sources(self) -> list[Any]:
        return self.inner.get_sources()

    def list_groups(self, parent_name: str) -> list[str]:
        return self.inner.list_groups(parent_name)

    def get_group_options(self, group_name: str, results_filter: Any = None,
                          config_name: str | None = None, overrides: list[str] | None = None) -> list[str]:
        from hydra.core.object_type import ObjectType

        return self.inner.get_group_options(group_name, results_filter or ObjectType.CONFIG,
                                            config_name, overrides)

    def compute_defaults_list(self, config_name: str | None, overrides: list[str], run_mode: Any) -> Any:
        return self.inner.compute_defaults_list(config_name, overrides, run_mode)


def _kept(cfg: DictConfig) -> bytes | DictConfig:
    """A composed config as kept for copying: pickled (a copy is then a fifth of a deepcopy), or
    the config itself where it does not pickle (a class it names was redefined since)."""
    try:
        return pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return cfg


def _copied(kept: bytes | DictConfig) -> DictConfig:
    return pickle.loads(kept) if isinstance(kept, bytes) else copy.deepcopy(kept)


def install_caching_loader() -> CachingConfigLoader | None:
    """Wrap the running Hydra's config loader (once); the loader, or None outside Hydra."""
    from hydra.core.global_hydra import GlobalHydra

    hydra = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    if hydra is None:
        return None
    if not isinstance(hydra.config_loader, CachingConfigLoader):
        hydra.config_loader = CachingConfigLoader(hydra.config_loader)
    return hydra.config_loader


# ------------------------------------------------------------------- warm workers
def _warm(context: bytes, sweep_pid: int) -> int:
    """In a worker: what its first job would do before it opens a run. Never fails the sweep.

    First the worker starts watching ``sweep_pid``, the sweep's process (:func:`watch_sweep`).
    ``context`` is the sweep's (Hydra's state, the config loader, the master config, the first
    job's overrides and the job configs composed so far, as kept), pickled: it is unpacked once
    the worker has found its plugins. Finding them executes every plugin module afresh,
    redefining the classes in it; unpacked before, the context (and every config composed from
    it) would name the classes that were replaced, which the composed-config cache then cannot
    pickle.
    """
    watch_sweep(sweep_pid)
    try:
        from hydra.core.plugins import Plugins
        from hydra.core.singleton import Singleton
        from hydra.core.utils import setup_globals

        import rlmdj.cli  # noqa: F401 - the task function's module: Hydra and the config schema
        from rlmdj.experiments.cli.preflight import preflight, shared_checked
        from rlmdj.experiments.registry import get_job
        from rlmdj.registry import load_plugins
        from rlmdj.tracking.writer.process import SOCKET_ENV

        setup_globals()
        _keep_plugins()
        Plugins.instance()
        state, loader, master, overrides = unpack_context(context)
        Singleton.set_state(state)
        load_plugins()
        cfg = loader.load_sweep_config(master, list(overrides))  # fills this process's cache
        if cfg.tracking.enabled and not os.environ.get(SOCKET_ENV):
            from rlmdj.tracking.writer import prewarm

            prewarm([])  # the process that records this worker's runs imports MLflow meanwhile
        with shared_checked():  # the sample index, the scorer's and driver's modules
            preflight(cfg)
        get_job(str(cfg.experiment.name))  # the job's module and what it imports
        import scipy.signal  # noqa: F401 - the scorer's and the signal metrics'

        _keep_timeline(cfg)
    except Exception:  # noqa: BLE001, S110 - the job itself reports whatever this hit
        pass
    settle_heap()
    return os.getpid()


# A worker's look at its parent (seconds apart), and the time a job has to end KILLED once it is gone.
_ORPHAN_WATCH_S = 1.0
_ORPHAN_GRACE_S = 10.0
_ORPHANED_EXIT = 1
_WATCHED: list[int] = []  # the process this one watches, once started


def watch_sweep(sweep_pid: int) -> None:
    """End this worker once ``sweep_pid`` (the sweep's process, its parent) is gone: a thread,
    started once per process, by the warm start and again at each job (a worker loky starts later
    has had no warm start); never in the sweep's own process (joblib runs a single worker's jobs
    there), in a process the sweep's did not start itself (a Ray or SLURM worker), nor where an
    orphan is not re-parented (not POSIX).

    Loky's worker only exits by itself on its idle timeout, and then only if it can take a lock
    the dead parent may hold (its other check of the parent needs psutil): a sweep killed with
    SIGKILL left its workers alive, one in the middle of a job playing on (an LLM DJ spending
    tokens) with nobody to record it. Polling :func:`os.getppid` once a second is the signal: no
    pipe of the worker closes with the sweep (loky closes its end of the start-up pipe once the
    worker is running, and every worker holds both ends of the queues' pipes), and the kernel's
    parent-death signal follows the parent thread that started the worker, not the process.
    """
    if os.getppid() != sweep_pid or _WATCHED or not hasattr(signal, "pthread_kill"):
        return  # only a child of the sweep's process (not the sweep's own, nor a Ray or SLURM worker), once
    _WATCHED.append(sweep_pid)
    threading.Thread(target=_end_when_orphaned, args=(sweep_pid,), name="rlmdj-sweep-watchdog",
                     daemon=True).start()


def _end_when_orphaned(sweep_pid: int) -> None:
    """Once the worker's parent is no longer ``sweep_pid``: SIGTERM to the worker's main thread,
    then, after a grace period, exit at once whatever it is doing.

    SIGTERM is how a worker is told to stop: during a job it ends the job's run KILLED in the
    record the job keeps in its output folder (``record-pending-*``, for ``rlmdj-upload``: the
    sweep's writer is gone with the sweep), once the audio being written is on disk; a worker that
    has run no job has nothing to record and ends at once. Sent to the main thread, it also breaks
    a wait on a pipe or a socket there. A job's end can still wait on the dead sweep, and loky
    goes back to waiting for the next job: the grace period bounds both, then :func:`os._exit`.
    """
    while os.getppid() == sweep_pid:
        time.sleep(_ORPHAN_WATCH_S)
    try:
        main = threading.main_thread().ident
        if main is not None:
            signal.pthread_kill(main, signal.SIGTERM)
        time.sleep(_ORPHAN_GRACE_S)
    finally:  # also where the main thread has already gone
        os._exit(_ORPHANED_EXIT)


def pack_context(state: Any, loader: ConfigLoader, config: DictConfig, first_job: list[str]) -> bytes:
    """What a warming worker is sent (see :func:`_warm`), pickled as joblib pickles its tasks,
    with the job configs this process composed: the worker keeps them instead of composing them
    again (a quarter of a second of CPU each, while the sweep's own process opens the store on
    the same cores)."""
    from joblib.externals.loky.backend.reduction import dumps

    composed = {k: v for k, v in _COMPOSED.items() if isinstance(v, bytes)}
    return dumps((state, loader, config, list(first_job), composed))


def unpack_context(context: bytes) -> tuple[Any, ConfigLoader, DictConfig, list[str]]:
    """Hydra's state, the config loader, the master config and the first job's overrides from
    :func:`pack_context`'s bytes; the job configs it holds are kept for this process's jobs."""
    state, loader, master, overrides, composed = pickle.loads(context)
    _COMPOSED.update(composed)
    return state, loader, master, overrides


def _keep_timeline(cfg: DictConfig) -> None:
    """The first job's timeline figure, drawn once blank and kept: its palette's roles by its
    bars (a job whose set stops early builds its own)."""
    from rlmdj.experiments.assemble import load_index, resolve_palette
    from rlmdj.tracking.record.timeline import keep_layout

    if cfg.tracking.log_timeline:
        keep_layout(list(resolve_palette(cfg, load_index(cfg)).samples), int(cfg.bars))


def _keep_plugins() -> None:
    """Keep a worker's Hydra plugins from one job to the next.

    The joblib launcher restores Hydra's singletons before every job, and the restore rediscovers
    every Hydra plugin, executing each plugin module again (about 40 ms per job). What is installed
    does not change while a worker lives, so the plugins found for its first job are handed to the
    restore, which then keeps them.
    """
    from hydra.core.plugins import Plugins
    from hydra.core.singleton import Singleton

    restore = Singleton.set_state
    if getattr(restore, "keeps_plugins", False):
        return

    def set_state(state: Any) -> None:
        plugins = Singleton._instances.get(Plugins)
        instances = state.get("instances") if isinstance(state, dict) else None
        if plugins is not None and isinstance(instances, dict):
            instances.setdefault(Plugins, plugins)
        restore(state)

    set_state.keeps_plugins = True  # type: ignore[attr-defined]
    Singleton.set_state = staticmethod(set_state)  # type: ignore[method-assign]


_SETTLED: list[int] = []


def settle_heap() -> None:
    """Once per process: collect, then freeze what is left (modules, caches) out of later collections.

    joblib's workers collect the whole heap after a job (at most once a second, without psutil):
    with rlmdj, SciPy and matplotlib imported that walks millions of objects for nothing, between
    every two jobs. Frozen, they are skipped; reference counting still frees them.
    """
    import gc

    if os.getpid() in _SETTLED:
        return
    _SETTLED.append(os.getpid())
    gc.collect()
    gc.freeze()


def warm_joblib(config: DictConfig, first_job: list[str] | None) -> threading.Thread | None:
    """Start the joblib launcher's workers now, each composing ``first_job`` and running its
    preflight, in a thread (the caller joins it before the launcher starts); None for other
    launchers. The executor is joblib's reusable one, made with the launcher's own settings, so
    the launcher finds these workers (a different executor would only cost the warm start)."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    if not target.endswith(".JoblibLauncher") or first_job is None:
        return None
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
    from joblib import Parallel, delayed, effective_n_jobs

    launcher = OmegaConf.to_container(config.hydra.launcher, resolve=True)
    settings = {k: v for k, v in dict(launcher).items() if k != "_target_"}  # type: ignore[union-attr]
    settings["backend"] = "loky"  # as the launcher sets it
    process_joblib_cfg(settings)
    if int(settings.get("verbose") or 0) <= 50:  # the executor sees max(0, verbose - 50) either way
        settings["verbose"] = 0  # no progress lines for the warm start
    loader = GlobalHydra.instance().config_loader()
    state = Singleton.get_state()

    def start() -> None:
        try:
            workers = effective_n_jobs(settings.get("n_jobs"))
            if workers < 2:
                return  # joblib runs a single worker's jobs in this process
            context = pack_context(state, loader, config, first_job)
            Parallel(**settings)(delayed(_warm)(context, os.getpid()) for _ in range(workers))
        except Exception:  # noqa: BLE001, S110 - the launcher starts its workers itself then
            pass

    thread = threading.Thread(target=start, name="rlmdj-warm-workers", daemon=True)
    thread.start()
    return thread


# ------------------------------------------------------------------- the analysis
def prepare_analysis(name: str) -> threading.Thread | None:
    """Import the analysis ``name`` and the plotting library in a thread; the caller joins it
    before the analysis runs. None for no analysis."""
    if name == "none":
        return None

    def load() -> None:
        try:
            import matplotlib

            from rlmdj.experiments.registry import ANALYSES

            matplotlib.use("Agg")  # as the report's plots choose it
            import matplotlib.pyplot  # noqa: F401

            ANALYSES.get(name)
        except Exception:  # noqa: BLE001, S110 - the analysis reports its own failure when it runs
            pass

    thread = threading.Thread(target=load, name="rlmdj-prepare-analysis", daemon=True)
    thread.start()
    return thread
