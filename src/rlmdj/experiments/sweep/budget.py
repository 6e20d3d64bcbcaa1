"""A sweep's spending cap (``experiment.budget_usd``): a ledger in the sweep folder, a gate in each job.

When the sweep starts, its callback writes ``<sweep dir>/.rlmdj_budget.json`` (:func:`open_ledger`):
the budget, the forecast per kind of set, and empty ``in_flight``, ``ran`` and ``skipped``. Each
job passes the gate (:func:`budget_gate`) before it plays: under a file lock in the sweep folder
(jobs of one sweep run in several processes under joblib, Ray or SLURM, sharing that folder) it
adds up what finished jobs spent, what the running ones are forecast to spend and its own
forecast. Past the budget, the job is skipped with one line; otherwise it is in flight until it
ends, when its real cost (``dj/cost_usd`` of its run) replaces the forecast. A set that plays no
LLM costs nothing and always passes. At the end the parent run records what ran, what was skipped
and why (:func:`record_budget`). A resumed sweep writes a new ledger: it starts a new budget.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.errors import ParameterError

__all__ = ["LEDGER", "Admission", "budget_gate", "check_budget_usd", "check_sweep_budget", "open_ledger",
           "record_budget"]

LEDGER = ".rlmdj_budget.json"
_LOCK_TIMEOUT_S = 60


def check_budget_usd(cfg: DictConfig) -> float | None:
    """``experiment.budget_usd``: null or a finite number >= 0 (ParameterError naming the key)."""
    value = OmegaConf.select(cfg, "experiment.budget_usd", default=None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ParameterError(f"experiment.budget_usd must be a number of dollars >= 0 or null (no limit), "
                             f"got {value!r} (e.g. experiment.budget_usd=5)")
    return float(value)


def check_sweep_budget(cfg: DictConfig) -> None:
    """``experiment.budget_usd`` is in range, and under it every LLM job's models have a price, or
    what the sweep spends could not be told (one line naming the job, the key and the model)."""
    from rlmdj.dj.rlm.budget import unpriced_model
    from rlmdj.experiments.sweep.forecast import llm_jobs

    if check_budget_usd(cfg) is None:
        return
    for name, job_cfg in llm_jobs(cfg):
        unpriced = unpriced_model(job_cfg)
        if unpriced is not None:
            raise ParameterError(
                f"{name}: experiment.budget_usd: the cost cannot be measured for {unpriced[0]}={unpriced[1]} "
                "(no price in LiteLLM's table); cap each set with model.max_tokens_per_set instead")


def open_ledger(cfg: DictConfig, sweep_dir: Path, client: Any = None, experiment_id: str | None = None) -> None:
    """Print the forecast of the sweep's LLM sets; under a budget, write a fresh ledger for this
    launch (a resumed sweep starts a new budget). A forecast that cannot be made is said, in one
    line, and never stops the sweep: the jobs then estimate themselves."""
    from rlmdj.experiments.sweep.forecast import forecast_lines, sweep_forecast

    budget = check_budget_usd(cfg)
    forecasts: list[Any] = []
    try:
        forecasts = sweep_forecast(cfg, client, experiment_id)
        lines = forecast_lines(forecasts, budget)
    except Exception as exc:  # noqa: BLE001 - a view of the cost, not a check
        lines = [f"sweep forecast: not available ({type(exc).__name__}: {exc})"]
    for line in lines:
        print(line, flush=True)
    (sweep_dir / LEDGER).unlink(missing_ok=True)
    if budget is None:
        return
    sweep_dir.mkdir(parents=True, exist_ok=True)
    estimates = {f.key: {"cost_usd": f.estimate.cost_usd, "tokens": f.estimate.tokens} for f in forecasts}
    _write(sweep_dir / LEDGER, {"budget_usd": budget, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                "forecast": lines, "estimates": estimates, "spent_usd": 0.0,
                                "in_flight": {}, "ran": [], "skipped": []})


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


@contextmanager
def _ledger(sweep_dir: Path) -> Iterator[dict[str, Any]]:
    """The ledger, read and written back under the sweep folder's lock."""
    from filelock import FileLock

    path = sweep_dir / LEDGER
    with FileLock(str(path) + ".lock", timeout=_LOCK_TIMEOUT_S):
        data = json.loads(path.read_text())
        yield data
        _write(path, data)


@dataclass
class Admission:
    """What the gate decided for one job; the job sets ``outcome`` once its set is played."""

    admitted: bool = True
    outcome: Any = None


def _job() -> tuple[Path | None, str]:
    from rlmdj.experiments.sweep.context import _hydra_job

    _, sweep_dir, job_num = _hydra_job()
    return sweep_dir, job_num or "?"


def _forecast(cfg: DictConfig, ledger: dict[str, Any]) -> float | None:
    from rlmdj.experiments.sweep.forecast import estimate_job, plays_llm, set_key

    if not plays_llm(cfg):
        return None
    known = ledger["estimates"].get(set_key(cfg))
    if known is not None:
        return known["cost_usd"]
    estimate = estimate_job(cfg)  # a sweeper whose jobs were not known at the start (a search)
    return None if estimate is None else estimate.cost_usd


def _spent(cfg: DictConfig, admission: Admission, sweep_dir: Path, job: str, forecast: float) -> float:
    """What the job's set cost: its run's ``dj/cost_usd``; the forecast when nothing says."""
    from rlmdj.experiments.sweep.context import SWEEP_FILE

    metrics = getattr(admission.outcome, "metrics", None) or {}
    if "dj/cost_usd" in metrics:
        return float(metrics["dj/cost_usd"])
    run_id = getattr(admission.outcome, "run_id", None)
    try:
        if cfg.tracking.enabled:
            from rlmdj.tracking import open_store

            client, experiment_id = open_store(cfg.tracking)
            if run_id is None:  # the job failed before it returned: its newest run in this sweep
                parent = json.loads((sweep_dir / SWEEP_FILE).read_text())["parent_run_id"]
                runs = client.search_runs(
                    [experiment_id], order_by=["attributes.start_time DESC"], max_results=1,
                    filter_string=f"tags.mlflow.parentRunId = '{parent}' and tags.`rlmdj.sweep_job` = '{job}'")
                run_id = runs[0].info.run_id if runs else None
            if run_id is not None:
                m = client.get_run(run_id).data.metrics
                if "dj/cost_usd" in m or m.get("dj/input_tokens", 0) == 0:
                    return float(m.get("dj/cost_usd", 0.0))
    except Exception:  # noqa: BLE001 - the ledger must close: count the forecast
        pass
    return forecast


def _usd(x: float) -> str:
    return f"${x:.4f}" if x < 0.1 else f"${x:.2f}"


@contextmanager
def budget_gate(cfg: DictConfig, label: str) -> Iterator[Admission]:
    """Admit or skip a sweep job under ``experiment.budget_usd`` (see the module docstring);
    outside a sweep with a budget, every job is admitted and nothing is recorded."""
    sweep_dir, job = _job()
    if sweep_dir is None or not (sweep_dir / LEDGER).is_file():
        yield Admission()
        return
    why = ""
    with _ledger(sweep_dir) as ledger:
        budget = ledger["budget_usd"]
        forecast = _forecast(cfg, ledger) if budget is not None else None
        if budget is None or not forecast:
            admission = Admission()
        else:
            flying = sum(ledger["in_flight"].values())
            admission = Admission(admitted=ledger["spent_usd"] + flying + forecast <= budget)
            if admission.admitted:
                ledger["in_flight"][job] = forecast
            else:
                why = (f"spent {_usd(ledger['spent_usd'])} + in flight {_usd(flying)} + this set's "
                       f"forecast {_usd(forecast)} would exceed experiment.budget_usd={budget:g}")
                ledger["skipped"].append({"job": job, "label": label, "why": why})
    if not admission.admitted:
        from rlmdj.experiments.cli.progress import sweep_job_done

        sweep_job_done(sweep_dir)  # the next job's "job k/N" counts it
        print(f"rlmdj: budget: job {job} ({label}) skipped: {why}", flush=True)
        yield admission
        return
    try:
        yield admission
    finally:
        if forecast:
            spent = _spent(cfg, admission, sweep_dir, job, forecast)
            with _ledger(sweep_dir) as ledger:
                ledger["in_flight"].pop(job, None)
                ledger["spent_usd"] += spent
                ledger["ran"].append({"job": job, "label": label, "forecast_usd": forecast, "spent_usd": spent})


def record_budget(client: Any, parent: str, sweep_dir: Path) -> str | None:
    """Log the ledger on the parent run (``budget/<start>.json`` and ``rlmdj.budget.*`` tags); the
    line that says what the budget did, or None when the sweep had none."""
    path = sweep_dir / LEDGER
    if not path.is_file():
        return None
    ledger = json.loads(path.read_text())
    budget = ledger.get("budget_usd")
    if budget is None:
        return None
    spent, ran, skipped = float(ledger["spent_usd"]), ledger["ran"], ledger["skipped"]
    stamp = str(ledger.get("started", "")).replace(" ", "_").replace(":", "-")
    try:
        client.log_text(parent, json.dumps(ledger, indent=1), f"budget/{stamp or 'ledger'}.json")
        client.set_tag(parent, "rlmdj.budget.usd", f"{budget:g}")
        client.set_tag(parent, "rlmdj.budget.spent_usd", f"{spent:.6f}")
        client.set_tag(parent, "rlmdj.budget.skipped", str(len(skipped)))
    except Exception as exc:  # noqa: BLE001 - the sweep is done; the ledger stays in its folder
        print(f"rlmdj: could not record the sweep's budget on its parent run: {exc}", file=sys.stderr)
    line = f"sweep budget: spent {_usd(spent)} of experiment.budget_usd={budget:g}; {len(ran)} LLM set(s) played"
    if skipped:
        line += (f", {len(skipped)} skipped; run the same command with experiment.resume=true and a new "
                 "experiment.budget_usd to play them")
    return line
