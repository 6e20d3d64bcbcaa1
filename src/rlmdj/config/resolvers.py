"""OmegaConf resolvers that make path defaults work inside and outside a Hydra app.

``${hydra:...}`` only resolves while Hydra runs a job; these fall back sensibly when a config is
composed by the compose API (tests, notebooks) so the same config works in both.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from omegaconf import OmegaConf

from rlmdj.resources import cache_root

__all__ = ["register_resolvers", "default_cache_dir", "job_output_dir"]


def default_cache_dir() -> str:
    """``$RLMDJ_CACHE_DIR`` or ``~/.cache/rlmdj`` (:func:`rlmdj.resources.cache_root`)."""
    return str(cache_root())


_FALLBACK_OUTPUT_DIR: list[str] = []


def job_output_dir() -> str:
    """Hydra's output dir for this job, or one ``outputs/<time>-<pid>`` per process outside Hydra.

    Not cached by OmegaConf: Hydra may resolve the config before the job's Hydra config is set.
    """
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.output_dir)
    except ValueError:  # no Hydra job is running (compose API, notebooks, tests)
        if not _FALLBACK_OUTPUT_DIR:
            stamp = time.strftime("%Y-%m-%d/%H-%M-%S")
            _FALLBACK_OUTPUT_DIR.append(str(Path.cwd() / "outputs" / f"{stamp}-{os.getpid()}"))
        return _FALLBACK_OUTPUT_DIR[0]


def register_resolvers() -> None:
    """Register ``rlmdj.cwd``, ``rlmdj.cache_dir``, ``rlmdj.output_dir`` and ``rlmdj.pid`` (idempotent)."""
    resolvers = {
        "rlmdj.cwd": lambda: str(Path.cwd()),
        "rlmdj.cache_dir": default_cache_dir,
        "rlmdj.output_dir": job_output_dir,
        # Output folder names end in the launching process's id: two runs started in the same
        # second get their own folders. Cached, so sweep workers reuse the launcher's value.
        "rlmdj.pid": lambda: str(os.getpid()),
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=name != "rlmdj.output_dir")
