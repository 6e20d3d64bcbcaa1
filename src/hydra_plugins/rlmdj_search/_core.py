"""The search sweeper's work: open the study, launch trials and the confirmation, keep the record.

:class:`SearchRun` wires the Hydra launcher to the Hydra-free loop of :mod:`rlmdj.search.loop`:
each batch of jobs the loop asks for becomes one ``launcher.launch`` call (so a joblib, Ray or
SLURM launcher runs them in parallel), numbered on from the batch before, each job tagged with
its trial (:func:`rlmdj.experiments.sweep.context.set_job_tags`). A trial whose config the
preflight checks refuse (a combination no single value showed) is not launched and fails;
a job that raises or exits fails its trial (:class:`FailSoftTask`); the study goes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.experiments.sweep.search import SearchPlan, SearchSettings, format_value, spread
from rlmdj.search.loop import TRIAL, Confirmation, Job, TrialResult

__all__ = ["FailSoftTask", "JobExited", "SearchRun"]


class JobExited(RuntimeError):
    """A job ended with ``sys.exit`` (rlmdj's one-line errors): Hydra records it as a failed job."""


class FailSoftTask:
    """The task function with ``SystemExit`` raised as :class:`JobExited`, so Hydra's ``run_job``
    marks that job failed instead of the exit ending the launcher, and the study continues."""

    def __init__(self, task: Callable[[DictConfig], Any]) -> None:
        self.task = task

    def __call__(self, cfg: DictConfig) -> Any:
        try:
            return self.task(cfg)
        except SystemExit as exc:
            raise JobExited(f"the job exited with status {exc.code}") from None


def _params(params: dict[str, Any]) -> str:
    """``key=value, ...`` for a line: floats to 4 significant digits (the record keeps them whole)."""
    return ", ".join(f"{k}={f'{v:.4g}' if isinstance(v, float) else format_value(v)}" for k, v in params.items())


class _Launch:
    """The loop's ``evaluate``: one launcher call per batch of jobs; a value (or None) per job."""

    def __init__(self, run: SearchRun, plan: SearchPlan, tags: dict[str, str]) -> None:
        self.run, self.plan, self.tags = run, plan, tags
        self.job_idx = 0
        self.returns: list[Sequence[Any]] = []

    def _refused(self, job: Job) -> str | None:
        """Why a trial's config cannot run (composed and checked as the preflight checks), or None."""
        from rlmdj.experiments.sweep.checks import check_jobs

        try:
            check_jobs(self.run.config, [(f"trial #{job.trial}", self.plan.overrides(job))])
        except Exception as exc:  # noqa: BLE001 - any refusal fails this trial only
            return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None

    def __call__(self, jobs: list[Job]) -> list[float | None]:
        from hydra.core.utils import JobStatus

        from rlmdj.experiments.cli.progress import set_sweep_total
        from rlmdj.experiments.sweep.context import set_job_tags

        refused: dict[int | None, str] = {}
        for job in jobs:
            if job.role == TRIAL and job.trial not in refused and job.replica == 0:
                reason = self._refused(job)
                if reason is not None:
                    refused[job.trial] = reason
                    print(f"search: trial #{job.trial} not run: {reason}", flush=True)
        launch = [j for j in jobs if not (j.role == TRIAL and j.trial in refused)]
        values: dict[int, float | None] = {}
        if launch:
            batch = [self.plan.overrides(j) for j in launch]
            self.run.validate(batch)
            sweep_dir = self.run.sweep_dir
            set_job_tags(sweep_dir, {self.job_idx + i: self._job_tags(j) for i, j in enumerate(launch)})
            set_sweep_total(sweep_dir, self.job_idx + len(batch))
            results = list(self.run.launcher.launch(batch, initial_job_idx=self.job_idx))
            self.job_idx += len(batch)
            self.returns.append(results)
            for job, res in zip(launch, results, strict=True):
                if res.status == JobStatus.COMPLETED:
                    values[id(job)] = res.return_value
                    continue
                try:
                    _ = res.return_value  # re-raises the job's exception
                    reason = "no value"
                except Exception as exc:  # noqa: BLE001 - reported, and the trial fails
                    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
                values[id(job)] = None
                who = f"trial #{job.trial}" if job.role == TRIAL else f"confirmation {job.role}"
                print(f"search: {who} replica {job.replica} failed: {reason}", flush=True)
        return [values.get(id(j)) for j in jobs]

    def _job_tags(self, job: Job) -> dict[str, str]:
        tags = {**self.tags, "rlmdj.search.role": job.role if job.role != TRIAL else "trial"}
        if job.trial is not None:
            tags["rlmdj.search.trial"] = str(job.trial)
        tags.update({f"rlmdj.search.param.{k}": format_value(v) for k, v in job.params.items()})
        return tags


class SearchRun:
    """One ``sweep()`` of the search sweeper (module docstring)."""

    def __init__(self, settings: SearchSettings, params: dict[str, Any], config: DictConfig, launcher: Any,
                 hydra_context: Any, validate: Callable[[list[list[str]]], None]) -> None:
        self.settings, self.params, self.config = settings, params, config
        self.launcher, self.hydra_context, self.validate = launcher, hydra_context, validate
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    def run(self, arguments: list[str]) -> list[Sequence[Any]]:
        """Open (or resume) the study, run its trials, confirm the winner, keep the record."""
        from rlmdj.experiments.sweep.interrupts import deferred_interrupts
        from rlmdj.experiments.sweep.search import plan_search
        from rlmdj.experiments.sweep.search_record import SearchLog
        from rlmdj.search.loop import search
        from rlmdj.search.space import distributions
        from rlmdj.search.study import summarise

        s = self.settings
        plan = plan_search(self.params, arguments)
        dists = distributions(plan.space)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
        log = SearchLog.from_sweep_dir(self.sweep_dir)
        study, name, where = self._open(plan, dists, log)
        launch = _Launch(self, plan, {"rlmdj.search.study": name, "rlmdj.search.sampler": s.sampler})

        def on_trial(result: TrialResult) -> None:
            best = _best(study)
            log.trial(result, None if best is None else best.value)
            print(_trial_line(result, best, s.replicas), flush=True)

        search(study, dists, launch, n_trials=s.n_trials, n_jobs=s.n_jobs, replicas=s.replicas, on_trial=on_trial,
               asking=lambda: deferred_interrupts("asking the study for the next trials"))
        summary = summarise(study)
        confirmation = self._confirm(summary, launch, log) if s.confirming and summary.best_number is not None else None
        verdict, outcome = self._verdict(study, summary, confirmation)
        record = {"study": name, "storage": where,
                  "settings": {**asdict(s), "storage": where},  # a database URL's password stays out
                  "baseline": plan.fixed, "space": [asdict(p) for p in plan.space], "trials": _trials(study),
                  "verdict": verdict, "confirmation": None if confirmation is None else asdict(confirmation)}
        files = log.finish(study=study, summary=summary, record=record, verdict=verdict, outcome=outcome)
        print(f"search: {summary.line()}; record in {files['search'].parent}", flush=True)
        for line in verdict.splitlines()[1:]:
            print(f"search verdict: {line.lstrip('- ')}", flush=True)
        return launch.returns

    def _open(self, plan: SearchPlan, dists: dict[str, Any], log: Any) -> tuple[Any, str, str]:
        """The study (a resumed one with its interrupted trials failed and asked again), its name
        and where it is stored; the parent run is tagged with both."""
        from rlmdj.experiments.sweep.search import definition_hash, study_name, sweep_overrides
        from rlmdj.search.loop import requeue_interrupted
        from rlmdj.search.study import (
            default_storage_path,
            describe_storage,
            fail_stale_trials,
            open_storage,
            open_study,
        )

        s, cfg = self.settings, self.config
        default = default_storage_path(str(cfg.tracking.uri), fallback_dir=str(cfg.paths.root_dir))
        storage = open_storage(s.storage, default_path=default)
        where = describe_storage(s.storage, default_path=default)
        resume = bool(cfg.experiment.resume)
        # The study of the parent run a resumed sweep reopens: named after the same definition.
        definition = log.sweep_hash() or definition_hash(sweep_overrides(cfg))
        name = study_name(s, storage, definition=definition, resume=resume)
        study = open_study(name=name, storage=storage, direction=s.direction, sampler=s.sampler, seed=s.seed,
                           distributions=dists, n_jobs=s.n_jobs)
        again = 0
        if resume:
            fail_stale_trials(study, storage)
            again = requeue_interrupted(study)
        log.start({"rlmdj.search.study": name, "rlmdj.search.sampler": s.sampler, "rlmdj.search.storage": where,
                   "rlmdj.search.direction": s.direction, "rlmdj.search.replicas": str(s.replicas),
                   "rlmdj.search.n_trials": str(s.n_trials)})
        self._print_start(name, where, plan, len(study.trials), again)
        return study, name, where

    def _confirm(self, summary: Any, launch: _Launch, log: Any) -> Confirmation:
        """The best trial against the baseline on fresh replicas, a line per round."""
        from rlmdj.search.loop import confirm

        s = self.settings
        print(f"search: confirming trial #{summary.best_number} against the baseline on fresh replicas "
              f"{s.replicas}.. (at most {s.confirmation.max_replicas} each)", flush=True)

        def on_round(c: Confirmation) -> None:
            log.confirm_round(c)
            last = c.rounds[-1]
            print(f"search: confirmation round {len(c.rounds)}, {last['replicas']} fresh replicas each: "
                  f"best − baseline {_signed(last['mean'])} [{_signed(c.low)}, {_signed(c.high)}] "
                  f"{last['decision']}", flush=True)

        return confirm(launch, best_number=summary.best_number, best_params=summary.best_params,
                       direction=s.direction, first_replica=s.replicas, settings=s.confirmation, on_round=on_round)

    def _print_start(self, name: str, where: str, plan: SearchPlan, existing: int, again: int) -> None:
        s = self.settings
        keys = ", ".join(p.key for p in plan.space)
        base = plan.baseline_values()
        print(f"search: study {name!r} ({where}), {s.sampler}, {s.direction} OBJ over {keys}; {s.n_trials} trials, "
              f"{s.n_jobs} at a time, {s.replicas} replica(s) each"
              + (f"; baseline {', '.join(f'{k}={v}' for k, v in base.items())}" if base else ""), flush=True)
        if existing:
            print(f"search: resuming: {existing} trial(s) in the study"
                  + (f", {again} interrupted one(s) asked again" if again else ""), flush=True)

    def _verdict(self, study: Any, summary: Any, confirmation: Confirmation | None) -> tuple[str, str]:
        s = self.settings
        head = (f"Search (study '{summary.name}', {s.sampler}, {s.direction} OBJ): {summary.complete} trial(s) "
                f"complete, {summary.failed} failed, {s.replicas} replica(s) each")
        if summary.best_number is None:
            return head + "\n- no trial completed: nothing to confirm", "none"
        best = study.best_trial
        values = best.user_attrs.get("replica_values") or [best.value]
        lines = [head, f"- best trial #{best.number}: OBJ {spread(values)} on {len(values)} replica(s) "
                       f"({_params(best.params)})"]
        if confirmation is None:
            why = ("replicas=1: a deterministic objective needs none; hydra.sweeper.confirm=true confirms"
                   if s.confirm is None else "hydra.sweeper.confirm=false")
            lines.append(f"- not confirmed against the baseline ({why})")
            return "\n".join(lines), "unconfirmed"
        lines.append("- " + confirmation.sentence("OBJ", _params(best.params)))
        return "\n".join(lines), confirmation.outcome


def _best(study: Any) -> Any | None:
    from optuna.trial import TrialState

    return study.best_trial if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) else None


def _trial_line(result: TrialResult, best: Any | None, replicas: int) -> str:
    params = _params(result.params)
    if result.state != "COMPLETE":
        return f"search: trial #{result.number} failed ({params}): {result.reason}"
    tail = f"; best #{best.number} {best.value:.3f}" if best is not None else ""
    return f"search: trial #{result.number} OBJ {spread(result.values)} on {replicas} replica(s) ({params}){tail}"


def _trials(study: Any) -> list[dict[str, Any]]:
    return [{"number": t.number, "state": t.state.name, "params": t.params, "value": t.value,
             "replica_values": t.user_attrs.get("replica_values"), "sd": t.user_attrs.get("sd"),
             "interrupted": bool(t.user_attrs.get("rlmdj.interrupted")),
             "retry_of": t.user_attrs.get("rlmdj.retry_of")} for t in study.get_trials(deepcopy=False)]


def _signed(x: float) -> str:
    if math.isinf(x):
        return "−∞" if x < 0 else "+∞"
    return "–" if not math.isfinite(x) else f"{x:+.2f}".replace("-", "−")

