"""Run the preflight before Hydra creates a single run's output folder.

Hydra writes ``outputs/<date>/<time>-<pid>/`` (``.hydra/*.yaml``, the job log) before it calls
the job, so a run refused by the preflight there still left a folder behind. Registered in
``conf/hydra/default.yaml``, :class:`PreflightCallback` runs :func:`~rlmdj.experiments.cli.preflight.
preflight` first; a refusal is the same one line and exit code, and nothing is created. The job
runs the preflight again (milliseconds: the sample index is kept), which covers the compose API
and ``RLMDJ_DEBUG=1``, where the callback steps aside so the traceback comes from the job.
A sweep's preflight is the sweep callback's (:mod:`rlmdj.experiments.sweep.checks`).
"""

from __future__ import annotations

import copy
import os
import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict

__all__ = ["PreflightCallback"]


class PreflightCallback(Callback):
    """The single run's preflight, before its output folder exists."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        from rlmdj.experiments.cli.preflight import preflight
        from rlmdj.failures import debug_requested, exit_on

        if debug_requested(sys.argv[1:], os.environ):
            return  # the job's own preflight raises with its traceback
        probe = copy.deepcopy(config)
        with open_dict(probe):  # the folder the run will get (what paths.output_dir resolves to)
            probe.hydra.runtime.output_dir = os.path.abspath(str(probe.hydra.run.dir))
        HydraConfig.instance().set_config(probe)  # Hydra sets the run's own when the job starts
        try:
            preflight(probe)
        except Exception as exc:  # noqa: BLE001 - Hydra would turn it into a warning and go on
            exit_on(exc, probe)
