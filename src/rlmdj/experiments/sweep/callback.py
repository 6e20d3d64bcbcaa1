"""The parent run of a Hydra sweep: opened before the first job, analysed and closed after the last.

:class:`SweepCallback` (registered in ``conf/hydra/default.yaml``) opens one MLflow parent run
per multirun holding the sweep definition, and writes its id to ``<sweep dir>/.rlmdj_sweep.json``
for the jobs (:mod:`rlmdj.experiments.sweep.context`). When the sweep ends the callback runs the
configured analysis (``experiment.analysis``) and logs it to the parent.

Interruption: Ctrl-C or SIGTERM in the launching process marks the parent and any child still
RUNNING as KILLED (jobs end their own runs KILLED when they get the signal; a worker killed
outright cannot, so the launcher cleans up after it).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rlmdj.experiments.sweep.context import (
    ADOPTED_TAG_PREFIX,
    IGNORED_PREFIXES,
    SWEEP_FILE,
    swept_keys,
)

__all__ = ["SweepCallback", "kill_running_children"]


def _sweep_params(config: DictConfig) -> list[str]:
    """Sweep overrides from the command line plus ``hydra.sweeper.params`` set by an experiment."""
    task = list(config.hydra.overrides.task)
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    given = {o.split("=", 1)[0].lstrip("+~") for o in task}
    extra = [f"{k}={v}" for k, v in dict(params).items() if k not in given]
    return task + extra


def _process_tags() -> dict[str, str]:
    from rlmdj.tracking.health import process_tags

    return process_tags()


def _count_jobs(overrides: list[str]) -> int | None:
    from rlmdj.experiments.cli.progress import count_jobs

    return count_jobs(overrides)


def _claim(client: Any, run_id: str) -> None:
    from rlmdj.tracking.store import claim_run

    claim_run(client, run_id)


def _parent_taken(client: Any, parent_id: str) -> str | None:
    """Why a resumed sweep must not take over its parent run: another process may be running it.

    Two processes on one parent end each other's work: the first to finish marks the parent
    FINISHED and the other's running jobs KILLED. A RUNNING parent is free once its owner is gone
    (the store's stale-run cleanup has then marked it FAILED already) or when its tags name none.
    An owner on another host cannot be checked from here, so it is taken to be alive.
    """
    from rlmdj.tracking.health import HOST_TAG, PID_TAG, owner_alive, owner_elsewhere

    run = client.get_run(parent_id)
    if run.info.status != "RUNNING":
        return None
    tags = run.data.tags
    pid, host = tags.get(PID_TAG), tags.get(HOST_TAG)
    prefix = f"experiment.resume=true: the sweep's parent run {parent_id}"
    if owner_alive(tags):
        return f"{prefix} is still running in process {pid} on {host}; wait for it to end or stop it, then resume"
    if owner_elsewhere(tags):
        from rlmdj.secrets import scrub_text

        uri = scrub_text(str(getattr(client, "tracking_uri", "<tracking.uri>")))
        return (f"{prefix} is RUNNING in process {pid} on host {host}, which cannot be checked from here; "
                f"wait for it to end, or resume on {host}, where a process that has ended is noticed; if "
                f"that host is gone, end the run first: python -c \"from mlflow import MlflowClient; "
                f"MlflowClient('{uri}').set_terminated('{parent_id}', 'KILLED')\"")
    return None


def _open(config: DictConfig) -> tuple[Any, str]:
    from rlmdj.tracking.store import open_store

    return open_store(config.tracking)


def kill_running_children(client: Any, experiment_id: str, parent_run_id: str) -> int:
    """Mark children of ``parent_run_id`` still RUNNING as KILLED; returns how many."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'RUNNING'",
        max_results=10_000,
    )
    for run in runs:
        client.set_terminated(run.info.run_id, "KILLED")
    return len(runs)


class SweepCallback(Callback):
    """Creates the sweep's parent run, ends it, and runs the sweep's analysis at the end."""

    def __init__(self) -> None:
        self._state: dict[str, Any] | None = None
        self._previous_sigterm: Any = None
        self._prepared: Any = None  # the thread importing the analysis
        self._sweep_pid: int | None = None  # the sweep's process, which a launcher worker watches

    def __getstate__(self) -> dict[str, Any]:
        """Launchers pickle the callbacks to every job. The parent run's state (an MLflow client:
        unpickling it imports MLflow into each worker) and the analysis thread stay here; a job
        uses neither."""
        return {**self.__dict__, "_state": None, "_prepared": None}

    # ------------------------------------------------------------- multirun
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._sweep_pid = os.getpid()
        overrides = _sweep_params(config)
        from rlmdj.experiments.sweep.budget import check_sweep_budget
        from rlmdj.experiments.sweep.checks import preflight_sweep
        from rlmdj.experiments.sweep.worker import (
            install_caching_loader,
            prepare_analysis,
            warm_joblib,
        )
        from rlmdj.failures import exit_on

        install_caching_loader()  # every job's config composed once per group choices, per process
        _collect_garbage()
        try:  # sweeper, launcher, what the jobs share and each job: before the parent run opens
            jobs = preflight_sweep(config)
            check_sweep_budget(config)  # experiment.budget_usd, and a price for every LLM job's models
        except Exception as exc:  # noqa: BLE001 - Hydra would turn it into a warning and go on
            exit_on(exc, config)
        _share_writer(config)  # before the workers start: they find it in their environment
        _stop_idle_writer(config)
        _check_sequential(config, overrides)  # before any run or job exists
        # The launcher's workers start (imports, samples) while the store and the parent open.
        warming = warm_joblib(config, jobs[0][1] if jobs else None)
        try:
            self._start(config, overrides, warming)
        finally:
            if warming is not None:
                warming.join()
        if self._state is not None:  # the analysis's imports while the jobs run, not after them
            self._prepared = prepare_analysis(_analysis_name(config))

    def _start(self, config: DictConfig, overrides: list[str], warming: Any = None) -> None:
        """The parent run (a resumed sweep's, or a new one), the sweep file and the ledger. The
        parent opens once the launcher's workers are ready (``warming``), as its jobs can start."""
        from rlmdj.failures import exit_on

        if not config.tracking.enabled:
            _open_ledger(config)  # the forecast and the budget hold without a store too
            return
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        keys = swept_keys(overrides)
        try:  # also creates the store before workers race to
            client, experiment_id = _open(config)
        except Exception as exc:  # noqa: BLE001 - a store that cannot be opened ends the sweep here
            exit_on(exc, config)
        if warming is not None:
            warming.join()
        resume = bool(config.experiment.resume)
        definition = sorted(o for o in overrides if not o.split("=", 1)[0].startswith(IGNORED_PREFIXES)
                            and o.split("=", 1)[0] not in ("experiment.resume", "experiment.budget_usd"))
        sweep_hash = hashlib.sha256(json.dumps(definition).encode()).hexdigest()[:16]
        parent_id = self._reusable_parent(client, experiment_id, sweep_hash) if resume else None
        taken = _parent_taken(client, parent_id) if parent_id is not None else None
        if taken is not None:  # before the parent, the sweep file or the ledger change
            from rlmdj.errors import ParameterError

            exit_on(ParameterError(taken), config)
        tags = {
            "rlmdj.sweep": "parent",
            "rlmdj.sweep_hash": sweep_hash,
            "rlmdj.sweep_dir": str(sweep_dir),
            "rlmdj.swept_keys": ",".join(keys),
            "rlmdj.analysis": _analysis_name(config),  # what runs: a search runs none
            "mlflow.note.content": "Sweep: `rlmdj -m " + " ".join(overrides) + "`",
            **_process_tags(),
        }
        if parent_id is None:
            name = "sweep " + " ".join(o for o in overrides if "," in o or "(" in o)[:200]
            run = client.create_run(experiment_id, run_name=name.strip(), tags=tags)
            parent_id = run.info.run_id
            client.log_param(parent_id, "sweep.overrides", " ".join(overrides)[:6000])
            client.log_param(parent_id, "sweep.launcher",
                             str(OmegaConf.select(config, "hydra.launcher._target_", default="")))
        else:
            _claim(client, parent_id)  # its owner is this process now, not the one that was stopped
            client.set_tag(parent_id, "rlmdj.sweep_dir", str(sweep_dir))
        (sweep_dir / SWEEP_FILE).write_text(json.dumps({
            "parent_run_id": parent_id,
            "experiment_id": experiment_id,
            "swept_keys": keys,
            "tracking_uri": str(config.tracking.uri),
            "n_jobs": _count_jobs(overrides),  # "job k/N" lines of the jobs
        }))
        (sweep_dir / ".rlmdj_jobs_done").unlink(missing_ok=True)  # jobs count k of N afresh
        _open_ledger(config, client, experiment_id)  # the forecast, before the first job
        self._state = {"client": client, "experiment_id": experiment_id, "parent": parent_id,
                       "sweep_dir": sweep_dir, "done": False}
        atexit.register(self._abort)
        try:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
        except ValueError:
            self._previous_sigterm = None

    @staticmethod
    def _reusable_parent(client: Any, experiment_id: str, sweep_hash: str) -> str | None:
        found = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`rlmdj.sweep_hash` = '{sweep_hash}' and tags.`rlmdj.sweep` = 'parent'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return found[0].info.run_id if found else None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        state = self._state
        if state is None:
            return
        client, parent = state["client"], state["parent"]
        kill_running_children(client, state["experiment_id"], parent)
        analysis = _analysis_name(config)
        if self._prepared is not None:
            self._prepared.join()
        result = None
        try:
            from rlmdj.experiments.registry import run_analysis

            result = run_analysis(analysis, client, state["experiment_id"], parent, config,
                                  out_dir=state["sweep_dir"] / "analysis")
        except Exception as exc:  # noqa: BLE001 - the sweep's runs are done; say why the report is missing
            client.set_tag(parent, "rlmdj.analysis_error", repr(exc)[:1000])
            print(f"rlmdj: sweep analysis skipped: {exc}", file=sys.stderr)
        from rlmdj.experiments.sweep.budget import record_budget

        budget_line = record_budget(client, parent, state["sweep_dir"])  # what ran, what was skipped
        client.set_terminated(parent, "FINISHED")
        state["done"] = True
        self._restore()
        _print_sweep_end(client, state["experiment_id"], parent, config, state["sweep_dir"] / "analysis")
        if budget_line:
            print(budget_line)
        _print_verdicts(client, parent, result)
        from rlmdj.experiments.cli.summary import print_ui_lines

        print_ui_lines(config, state["experiment_id"], parent)  # last: the parent's URL, the UI command

    def _abort(self) -> None:
        """atexit: a sweep that did not reach its end leaves nothing RUNNING."""
        state = self._state
        if state is None or state["done"]:
            return
        state["done"] = True
        try:
            killed = kill_running_children(state["client"], state["experiment_id"], state["parent"])
            state["client"].set_terminated(state["parent"], "KILLED")
        except Exception as exc:  # noqa: BLE001 - best effort while the interpreter exits
            print(f"rlmdj: could not close the sweep's runs: {exc}", file=sys.stderr)
            return
        print(f"rlmdj: sweep interrupted: parent run {state['parent']} marked KILLED"
              + (f", and {killed} unfinished job run(s) with it" if killed else "")
              + "; run the same command with experiment.resume=true to finish it", file=sys.stderr)

    def _restore(self) -> None:
        if self._previous_sigterm is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    # ------------------------------------------------------------------ job
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Launcher workers run jobs in their own processes: SIGTERM there must end the job's run
        # KILLED too, also between runs of an experiment that opens several.
        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
        if self._sweep_pid is not None:  # a worker that outlives a killed sweep ends (joblib's)
            from rlmdj.experiments.sweep.worker import watch_sweep

            watch_sweep(self._sweep_pid)

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        from rlmdj.experiments.sweep.worker import settle_heap

        settle_heap()  # once per process: what the first job loaded is not collected again per job
        from hydra.types import RunMode

        in_sweep = OmegaConf.select(config, "hydra.mode", default=None) == RunMode.MULTIRUN
        if in_sweep and job_return is not None and getattr(job_return, "hydra_cfg", None) is not None:
            # Hydra keeps a copy of the whole composed config per job (about 0.25 MB) in what the
            # launcher returns to the sweep's process; no sweeper reads it, and a 256-job sweep
            # held 64 MB of them. The job's own config (``cfg``) stays: sweepers read that.
            job_return.hydra_cfg = None


def _collect_garbage() -> None:
    """The command starts with the collector off until its job starts (``rlmdj.cli``); a sweep's
    process whose jobs run in launcher workers never starts one, and kept every cycle it made
    (hundreds of MB over a 256-job sweep). On now, with what start-up created frozen."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _share_writer(config: DictConfig) -> None:
    """joblib's workers record their runs through this process's writer (one MLflow import and
    one store for the sweep, not one per worker; :mod:`rlmdj.tracking.writer.shared`)."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    if config.tracking.enabled and target.endswith(".JoblibLauncher"):
        from rlmdj.tracking.writer.process import shared_writer
        from rlmdj.tracking.writer.shared import share

        try:
            share(shared_writer())
        except OSError:
            return  # each worker starts a writer of its own, as it would without one to share


def _stop_idle_writer(config: DictConfig) -> None:
    """A launcher other than Hydra's basic one runs the jobs, and records their runs, in its own
    processes: the run writer this process started for itself would only take a core."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    if target and not target.endswith(".BasicLauncher"):
        from rlmdj.tracking.writer.process import stop_idle

        stop_idle()


def _analysis_name(config: DictConfig) -> str:
    """``experiment.analysis``; none for a search, whose parent holds its study and confirmation."""
    return "none" if _is_search(config) else str(config.experiment.analysis)


def _open_ledger(config: DictConfig, client: Any = None, experiment_id: str | None = None) -> None:
    from rlmdj.experiments.sweep.budget import open_ledger

    open_ledger(config, Path(str(config.hydra.sweep.dir)).resolve(), client, experiment_id)


def _print_sweep_end(client: Any, experiment_id: str, parent: str, config: DictConfig,
                     analysis_dir: Path) -> None:
    """Say where the sweep's results are: the parent run, its jobs' end states, the report."""
    try:
        runs = client.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'",
                                  max_results=10_000)
        states: dict[str, int] = {}
        for run in runs:
            states[run.info.status] = states.get(run.info.status, 0) + 1
        adopted = sum(1 for k in client.get_run(parent).data.tags if k.startswith(ADOPTED_TAG_PREFIX))
    except Exception as exc:  # noqa: BLE001 - a summary line must not fail a finished sweep
        print(f"rlmdj: sweep finished (parent run {parent}); could not list its runs: {exc}", file=sys.stderr)
        return
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no runs"
    if adopted:
        counts += f", {adopted} reused from earlier sweeps"
    print(f"sweep: parent run {parent} (experiment {config.tracking.experiment!r}): {counts}")
    reports = sorted(analysis_dir.glob("*.md")) if analysis_dir.is_dir() else []
    for report in reports:
        print(f"sweep report: {report} (also in the parent run's artifacts)")


def _print_verdicts(client: Any, parent: str, result: Any) -> None:
    """The one-sentence verdicts, the sweep's last words before its URL and UI lines (a sequential
    sweep's stopping verdict last of all: it accounts for the looks after each round; a search's
    verdict on its confirmed winner)."""
    from rlmdj.analysis.compare import Comparison

    if isinstance(result, Comparison):
        from rlmdj.analysis.report import print_verdicts

        print_verdicts(result)
    with contextlib.suppress(Exception):  # a summary line must not fail a finished sweep
        tags = client.get_run(parent).data.tags
        for verdict in (tags.get("rlmdj.sequential.verdict"), tags.get("rlmdj.search.verdict")):
            if verdict:
                print(verdict)


def _is_search(config: DictConfig) -> bool:
    from rlmdj.experiments.sweep.search import SEARCH_TARGET

    return bool(OmegaConf.select(config, "hydra.sweeper._target_", default="") == SEARCH_TARGET)


def _check_sequential(config: DictConfig, overrides: list[str]) -> None:
    """A sequential sweep that cannot be analysed is refused in one line, before any job runs."""
    from rlmdj.experiments.sweep.sequential import SEQUENTIAL_TARGET

    if OmegaConf.select(config, "hydra.sweeper._target_", default="") != SEQUENTIAL_TARGET:
        return
    from rlmdj.errors import RlmdjError
    from rlmdj.experiments.sweep.sequential import (
        baseline_first,
        compare_of,
        plan,
        sequential_primary,
    )

    task = {o.split("=", 1)[0] for o in config.hydra.overrides.task}
    # replica from an experiment overlay's hydra.sweeper.params is replaced by the rounds.
    given = [o for o in overrides if o.split("=", 1)[0] != "replica" or o.split("=", 1)[0] in task]
    try:
        conditions, _ = plan(given)
        baseline_first(conditions, compare_of(config).baseline)
        sequential_primary(config)
    except RlmdjError as exc:
        print(f"rlmdj: error: {exc}", file=sys.stderr)
        sys.exit(2)


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signum}")
