"""hydra-submitit-launcher's launchers, with interrupted sweeps cancelling their jobs.

Hydra's submitit launchers submit the jobs and wait; when the launching process is stopped
(Ctrl-C, SIGTERM, a login node's session ending) the jobs carry on, so runs the sweep has just
marked KILLED would later turn FINISHED and queued jobs would start. These subclasses cancel
every job of the sweep first: ``scancel`` on SLURM (SIGTERM, which rlmdj jobs turn into a KILLED
run) or SIGINT for the local executor, then wait ``cancel_grace_s`` for the jobs to end their
runs. Everything else -- executor parameters, job arrays, ``submitit_folder`` -- is the plugin's.

The presets ``hydra/launcher=submitit_slurm`` and ``submitit_local`` are the dataclasses below,
stored under the plugin's own names (this module is scanned after the plugin's, so these win):
rlmdj's defaults sit on top of the plugin's schema, and a YAML file of the same name would only
trip Hydra's deprecated schema matching. The local executor runs the same code path as SLURM on
one machine, which is how CI tests it.
"""

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Optional  # noqa: UP035 - OmegaConf reads annotations at run time

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn

log = logging.getLogger(__name__)

__all__ = ["RlmdjSlurmLauncher", "RlmdjLocalLauncher", "cancel_jobs"]

try:  # the launchers exist only with the slurm extra: pip install -e '.[slurm]'
    from hydra_plugins.hydra_submitit_launcher.config import (
        LocalQueueConf,
        SlurmQueueConf,
    )
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
        BaseSubmititLauncher,
        LocalLauncher,
        SlurmLauncher,
    )
except ImportError:  # pragma: no cover - exercised only without the extra
    BaseSubmititLauncher = None  # type: ignore[assignment,misc]


def cancel_jobs(jobs: Sequence[Any], grace_s: float) -> None:
    """Cancel ``jobs`` (submitit Job objects) and wait up to ``grace_s`` for them to end."""
    for job in jobs:
        with contextlib.suppress(Exception):
            job.cancel(check=False)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if all(job.done() for job in jobs):
                return
        time.sleep(0.2)
    for job in jobs:  # the local executor's processes: end what ignored the interrupt
        process = getattr(job, "_process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(Exception):
                process.kill()


@contextlib.contextmanager
def _submitted_jobs() -> Iterator[list[Any]]:
    """The jobs ``AutoExecutor.map_array`` submits inside the block.

    The plugin's ``launch`` keeps its jobs in a local variable; recording them at submission is
    what lets an interrupted sweep cancel them without a copy of that method.
    """
    import submitit

    jobs: list[Any] = []
    executor_class = submitit.AutoExecutor
    own = "map_array" in vars(executor_class)
    original = executor_class.map_array

    def recording(executor: Any, fn: Any, *iterable: Any) -> Any:
        submitted = original(executor, fn, *iterable)
        jobs.extend(submitted)
        return submitted

    executor_class.map_array = recording  # type: ignore[method-assign]
    try:
        yield jobs
    finally:
        if own:
            executor_class.map_array = original  # type: ignore[method-assign]
        else:
            del executor_class.map_array


if BaseSubmititLauncher is not None:

    class _CancellingMixin:
        """The plugin's own ``launch``, plus cancellation of the sweep's jobs when interrupted."""

        params: dict[str, Any]

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            # cancel_grace_s is rlmdj's, not an executor parameter: hide it from the plugin.
            grace_s = float(self.params.pop("cancel_grace_s"))
            try:
                with _submitted_jobs() as jobs:
                    try:
                        return super().launch(job_overrides, initial_job_idx)  # type: ignore[misc]
                    except KeyboardInterrupt:
                        log.warning("interrupted: cancelling %d submitit job(s)", len(jobs))
                        cancel_jobs(jobs, grace_s)
                        raise
            finally:
                self.params["cancel_grace_s"] = grace_s

    class RlmdjSlurmLauncher(_CancellingMixin, SlurmLauncher):  # type: ignore[misc,valid-type]
        """SLURM job arrays through submitit; an interrupted sweep scancels its jobs."""

    class RlmdjLocalLauncher(_CancellingMixin, LocalLauncher):  # type: ignore[misc,valid-type]
        """Local processes through submitit (the SLURM code path on one machine)."""

    @dataclass
    class RlmdjSlurmConf(SlurmQueueConf):
        """``hydra/launcher=submitit_slurm``: one array task per job, 2 CPUs and 8 GB each."""

        _target_: str = "hydra_plugins.rlmdj_submitit_launcher.submitit_launcher.RlmdjSlurmLauncher"
        timeout_min: int = 60
        cpus_per_task: Optional[int] = 2  # noqa: UP045
        mem_gb: Optional[int] = 8  # noqa: UP045
        gpus_per_node: Optional[int] = 0  # noqa: UP045
        array_parallelism: int = 32  # jobs at once: size against the scorer (docs/scale.md)
        cancel_grace_s: float = 30.0  # after scancel, seconds jobs get to end their runs KILLED

    @dataclass
    class RlmdjLocalConf(LocalQueueConf):
        """``hydra/launcher=submitit_local``: the SLURM code path as local processes."""

        _target_: str = "hydra_plugins.rlmdj_submitit_launcher.submitit_launcher.RlmdjLocalLauncher"
        timeout_min: int = 60
        cancel_grace_s: float = 30.0

    ConfigStore.instance().store(group="hydra/launcher", name="submitit_slurm",
                                 node=RlmdjSlurmConf, provider="rlmdj")
    ConfigStore.instance().store(group="hydra/launcher", name="submitit_local",
                                 node=RlmdjLocalConf, provider="rlmdj")
