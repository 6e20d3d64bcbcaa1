"""What a sweep's LLM sets are expected to cost, said before its first job.

Each ``dj=rlm`` job gets an estimate of one set's tokens and cost: the median of earlier FINISHED
runs of the same model and prompt in the store (their ``dj/input_tokens``, ``dj/output_tokens``
and ``dj/cost_usd``, per bar, times this set's bars; replays and budget-stopped sets left out),
else :func:`rlmdj.dj.rlm.budget.estimate_set` from the prompt's size and the set length. Jobs
that share model, prompt and length share an estimate (:func:`set_key`), which the sweep's
budget ledger hands to its jobs (:mod:`rlmdj.experiments.sweep.budget`).
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.dj.rlm.budget import SetEstimate, capped, estimate_set, token_cost

__all__ = ["JobForecast", "estimate_job", "forecast_lines", "llm_jobs", "plays_llm", "set_key", "sweep_forecast"]

HISTORY_RUNS = 200  # the newest earlier runs a median is taken over


@dataclass(frozen=True)
class JobForecast:
    """``jobs`` sets of one kind (``key``) and what one of them is expected to use."""

    key: str
    label: str
    estimate: SetEstimate
    jobs: int


def _rlm_settings(cfg: DictConfig) -> Any:
    from rlmdj.dj.rlm.driver import RLMSettings

    return RLMSettings.from_config(cfg)


def plays_llm(cfg: DictConfig) -> bool:
    """Whether ``cfg`` plays a set with an LLM (``dj=rlm``, not a replay)."""
    return (str(OmegaConf.select(cfg, "dj.driver", default="")) == "rlm"
            and not OmegaConf.select(cfg, "dj.replay_transcript", default=None))


def set_key(cfg: DictConfig) -> str:
    """What an estimate depends on: the models, the prompt, the set length and its limits."""
    m = OmegaConf.select(cfg, "model")
    parts = {k: OmegaConf.select(m, k, default=None) for k in (
        "model", "critic_model", "sub_model", "max_tokens_per_set", "max_cost_usd")}
    parts.update(prompt=OmegaConf.select(cfg, "prompt.path", default=None),
                 bars=OmegaConf.select(cfg, "bars", default=None),
                 critic=OmegaConf.select(cfg, "guardrails.critic", default=None))
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _prompt(cfg: DictConfig) -> str:
    from rlmdj.dj.rlm_inputs import prompt_text

    return prompt_text(cfg)[1]


def _history(client: Any, experiment_id: str, model: str, prompt: str) -> list[Any]:
    sha = hashlib.sha256(prompt.encode()).hexdigest()
    runs = client.search_runs(
        [experiment_id],
        filter_string=(f"tags.`dj.model` = '{model}' and tags.`dj.prompt_sha256` = '{sha}' "
                       "and attributes.status = 'FINISHED'"),
        order_by=["attributes.start_time DESC"], max_results=HISTORY_RUNS,
    )
    return [r for r in runs
            if r.data.tags.get("rlmdj.replay") != "true"
            and not str(r.data.tags.get("dj.stop_reason", "")).startswith("budget:")
            and r.data.metrics.get("dj/input_tokens", 0) > 0
            and str(r.data.tags.get("rlmdj.bars", "")).isdigit()]


def _from_history(runs: list[Any], bars: int, model: Any) -> SetEstimate | None:
    if not runs:
        return None

    def per_bar(metric: str) -> float:
        return statistics.median(r.data.metrics.get(metric, 0.0) / int(r.data.tags["rlmdj.bars"])
                                 for r in runs) * bars

    n_in, n_out = per_bar("dj/input_tokens"), per_bar("dj/output_tokens")
    if all("dj/cost_usd" in r.data.metrics for r in runs):
        cost: float | None = per_bar("dj/cost_usd")
    else:
        cost = token_cost(str(model.model), int(n_in), int(n_out))
    return capped(SetEstimate(n_in, n_out, cost, f"median of {len(runs)} earlier run(s)"), model)


def estimate_job(cfg: DictConfig, client: Any = None, experiment_id: str | None = None) -> SetEstimate | None:
    """One set of ``cfg``'s: from the store's earlier runs when it has some, else from the
    prompt's size. ``None``: ``cfg`` plays no LLM set."""
    if not plays_llm(cfg):
        return None
    settings = _rlm_settings(cfg)
    prompt = _prompt(cfg)
    bars = int(cfg.bars)
    if client is not None and experiment_id is not None:
        found = _from_history(_history(client, experiment_id, str(settings.model.model), prompt),
                              bars, settings.model)
        if found is not None:
            return found
    return estimate_set(model=settings.model, dj=settings.dj, prompt_chars=len(prompt), bars=bars,
                        critic=bool(settings.critic), critic_every=int(settings.critic_every))


def _label(cfg: DictConfig) -> str:
    return (f"{OmegaConf.select(cfg, 'model.model')}, prompt {OmegaConf.select(cfg, 'prompt.name')}, "
            f"{OmegaConf.select(cfg, 'bars')} bars")


def llm_jobs(cfg: DictConfig) -> Iterator[tuple[str, DictConfig]]:
    """``(name, config)`` of every job of the sweep that plays an LLM set, composed as its launcher
    will compose it. A sweeper whose jobs are known only as it runs (a search) yields none.
    Replicas of a condition that plays no LLM set are not composed one by one."""
    from hydra.core.global_hydra import GlobalHydra

    from rlmdj.experiments.sweep.checks import sweep_jobs, without_replica
    from rlmdj.experiments.sweep.worker import install_caching_loader

    if not GlobalHydra.instance().is_initialized():
        return
    loader = install_caching_loader()  # composed once per combination of group choices
    llm: dict[tuple[str, ...], bool] = {}
    for name, overrides in sweep_jobs(cfg):
        condition = without_replica(overrides)
        if condition not in llm:
            llm[condition] = plays_llm(loader.load_sweep_config(cfg, list(condition)))
        if llm[condition]:
            yield name, loader.load_sweep_config(cfg, list(overrides))


def sweep_forecast(cfg: DictConfig, client: Any = None, experiment_id: str | None = None) -> list[JobForecast]:
    """The forecast of every LLM job the sweep will launch, grouped by :func:`set_key`.

    The sequential sweeper's conditions count ``hydra.sweeper.max_replicas`` jobs each (the most
    it plays); with ``experiment.resume`` a job whose configuration already FINISHED is left out.
    A sweeper whose jobs are known only as it runs (a search) has no forecast here: its jobs
    estimate themselves.
    """
    from rlmdj.experiments.sweep.checks import _target_class
    from rlmdj.experiments.sweep.sequential import SequentialSettings

    per_job = 1
    if _target_class(cfg, "sweeper") == "SequentialSweeper":
        per_job = int(OmegaConf.select(cfg, "hydra.sweeper.max_replicas",
                                       default=SequentialSettings.max_replicas))
    resume = bool(cfg.experiment.resume) and client is not None
    found: dict[str, JobForecast] = {}
    for _name, job_cfg in llm_jobs(cfg):
        if resume and _finished(job_cfg, client, experiment_id):
            continue
        key = set_key(job_cfg)
        if key in found:
            f = found[key]
            found[key] = JobForecast(f.key, f.label, f.estimate, f.jobs + per_job)
            continue
        estimate = estimate_job(job_cfg, client, experiment_id)
        if estimate is not None:
            found[key] = JobForecast(key, _label(job_cfg), estimate, per_job)
    return list(found.values())


def _finished(job_cfg: DictConfig, client: Any, experiment_id: str | None) -> bool:
    """Whether a FINISHED run of ``job_cfg``'s configuration is in the store (resume skips it).

    Hashed from the groups the hash reads, resolved one by one: the launching process knows no
    job number, so the ``hydra`` and ``paths`` nodes of a job composed here do not resolve."""
    from omegaconf import Container

    from rlmdj.tracking import config_hash
    from rlmdj.tracking.identity import HASH_EXCLUDED_KEYS

    try:
        data = {k: OmegaConf.to_container(job_cfg[k], resolve=True) if isinstance(job_cfg[k], Container)
                else job_cfg[k] for k in job_cfg if k not in HASH_EXCLUDED_KEYS}
        return bool(client.search_runs(
            [experiment_id], max_results=1,
            filter_string=f"tags.`rlmdj.config_hash` = '{config_hash(data)}' and attributes.status = 'FINISHED'"))
    except Exception:  # noqa: BLE001 - a forecast never fails the sweep: count the job
        return False


def _tokens(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else f"{n:.0f}"


def _usd(x: float | None) -> str:
    return "cost unknown" if x is None or not math.isfinite(x) else f"${x:.4f}" if x < 0.1 else f"${x:.2f}"


def forecast_lines(forecasts: list[JobForecast], budget_usd: float | None) -> list[str]:
    """``sweep forecast: 6 LLM sets × ~48k tokens, ~$0.021 each (...) = ~288k tokens, ~$0.13``
    per kind of set, then the total against ``experiment.budget_usd`` when it is set."""
    lines = []
    for f in forecasts:
        e = f.estimate
        total = None if e.cost_usd is None else e.cost_usd * f.jobs
        lines.append(f"sweep forecast: {f.jobs} LLM set(s) × ~{_tokens(e.tokens)} tokens, ~{_usd(e.cost_usd)} "
                     f"each ({f.label}; {e.source}) = ~{_tokens(e.tokens * f.jobs)} tokens, ~{_usd(total)}")
    costs = [f.estimate.cost_usd * f.jobs if f.estimate.cost_usd is not None else None for f in forecasts]
    known = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
    if len(forecasts) > 1 or budget_usd is not None:
        jobs = sum(f.jobs for f in forecasts)
        tokens = sum(f.estimate.tokens * f.jobs for f in forecasts)
        tail = f"; experiment.budget_usd={budget_usd:g}" if budget_usd is not None else ""
        lines.append(f"sweep forecast: {jobs} LLM set(s) in all: ~{_tokens(tokens)} tokens, ~{_usd(known)}{tail}")
    return lines
