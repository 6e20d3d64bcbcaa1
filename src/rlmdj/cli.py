"""The ``rlmdj`` entry point: a Hydra application that dispatches on ``experiment.name``.

Overrides, ``--cfg job``, ``--help`` and ``-m`` multirun are Hydra's own. Palette files under
``palettes/`` (and ``palettes/curated/``) are options of the ``palette`` group, registered with
the schema by :func:`rlmdj.config.register_configs`, so ``palette=<name>`` works like any other
group choice (from the compose API too) and a typo lists the valid names.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rlmdj.config import register_configs, register_resolvers
from rlmdj.config.palettes import register_palette_files
from rlmdj.errors import ParameterError
from rlmdj.masked_console import masked_console
from rlmdj.resources import bundled_dir
from rlmdj.secrets import remember_override_secrets

__all__ = ["main", "register_palette_files"]

_CONF_DIR = bundled_dir("conf")


_STATE: dict[str, Any] = {}


@hydra.main(version_base="1.3", config_path=str(_CONF_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> float | None:
    from rlmdj.experiments.cli.preflight import preflight
    from rlmdj.experiments.registry import get_job
    from rlmdj.registry import load_plugins

    _STATE["cfg"] = cfg  # lets a failure name the config key behind a failing path
    _settle_heap()
    # Masked here too: a launcher's worker process (joblib, Ray, SLURM) runs only this function.
    if HydraConfig.initialized():
        remember_override_secrets(list(HydraConfig.get().overrides.task))
    with masked_console():
        try:
            load_plugins()  # a launcher's worker process: the plug-ins' entries (once per process)
            preflight(cfg)  # everything checkable, before a run is opened or anything is spent
            return get_job(str(cfg.experiment.name))(cfg)
        except Exception as exc:
            if _STATE.get("debug"):
                raise
            _report(exc)  # here, not in main(): Hydra would first print the job's overrides
            raise


def _settle_heap() -> None:
    """Turn the collector back on for the job, with what start-up created frozen.

    Start-up (Hydra's plugin scan imports SciPy) runs with the collector off: its objects live
    until exit, and collecting while they accumulate walks all of them and frees nothing.
    Frozen (``gc.freeze``), later collections skip them; reference counting still frees them.
    Once per process: a second job in the same process (a sweep) changes nothing.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _load_extensions() -> None:
    """The plug-ins (``rlmdj.plugins`` entry points), then a group option for every registered
    driver, scorer and job that has none (``dj=<name>``), before anything is composed."""
    from rlmdj.experiments.options import register_options
    from rlmdj.registry import load_plugins

    load_plugins()
    register_options()


def _check_keys(argv: list[str]) -> None:
    """Unknown keys fail here with the closest real key, before Hydra composes."""
    from rlmdj.config import Config
    from rlmdj.config.override_check import (
        KeyTable,
        check_override_keys,
        config_groups,
        key_table,
        override_args,
    )
    from rlmdj.experiments.options import option_keys

    table = key_table(Config, config_groups(_CONF_DIR))
    keys, free = option_keys()  # what registered components' own settings add (dj.<setting>)
    table = KeyTable(table.keys | keys, table.free_tables | free, table.groups)
    check_override_keys(override_args(argv), table)


def _report(exc: BaseException) -> None:
    """One line and exit for failures that are not bugs; re-raise anything else."""
    from rlmdj.failures import explain

    explained = explain(exc, _STATE.get("cfg"))
    if explained is None:
        raise exc
    message, code = explained
    print(f"rlmdj: error: {message}", file=sys.stderr)
    sys.exit(code)


def main() -> None:
    """Console script ``rlmdj``."""
    if _CONF_DIR is None:
        sys.exit("rlmdj: error: config directory not found (is the package installed correctly?)")
    if not _STATE.get("heap"):
        _STATE["heap"] = True
        # Interpreter exit collects the whole heap several times while it tears modules down
        # (about 1 s after a run that imported MLflow); frozen objects are skipped.
        atexit.register(gc.freeze)
        gc.disable()  # until the job starts: see _settle_heap
    # LiteLLM otherwise spends seconds trying to download its price table at import; the copy it
    # ships is used for cost accounting (set the variable to False to fetch the latest). Set
    # before any child process starts (the writer, sweep workers), so they inherit it.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # The process that records runs imports MLflow on another core while Hydra composes.
    from rlmdj.tracking.writer.process import prewarm

    try:
        prewarm(sys.argv[1:])
    except ParameterError as exc:  # RLMDJ_WRITER_LINGER_S
        _report(exc)
    try:
        # Hydra echoes overrides, jobs their conditions, sweeps their verdicts: no secret shows.
        remember_override_secrets(sys.argv[1:])
        with masked_console():
            _main()
    finally:
        gc.enable()  # a job that never started (a bad override) leaves it on too


def _main() -> None:
    """Resolvers, schema and palettes registered, then Hydra; failures reported as one line."""
    register_resolvers()
    register_configs()  # the schema and the palette files of ./palettes and the shipped ones
    from rlmdj.failures import debug_requested, quiet_library_errors

    debug = _STATE["debug"] = debug_requested(sys.argv[1:], os.environ)
    if not debug:
        quiet_library_errors()
    # Hydra's errors then reach this function, which prints them as one line (or, when
    # RLMDJ_DEBUG=1 or hydra.verbose is given, with the full traceback).
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        _load_extensions()
        _check_keys(sys.argv[1:])
        _hydra_main()
    except KeyboardInterrupt:
        # Runs in progress were already ended KILLED by their tracking context.
        print("rlmdj: interrupted; runs in progress were marked KILLED", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        _report(exc)


if __name__ == "__main__":
    main()
