"""Where a sweep job belongs: its parent run, its condition tags, and a finished twin to skip to.

The sweep's callback (:mod:`rlmdj.experiments.sweep.context.callback`) writes the parent run's id to
``<sweep dir>/.rlmdj_sweep.json``. Jobs find it through :func:`job_context` -- by file rather
than environment, because launcher workers (joblib's loky processes, SLURM jobs through
submitit) are separate processes that share the sweep directory but not the launching process's
memory.

Every child is tagged with its condition (``rlmdj.cond.<key>`` per swept key, replica excluded)
and its replica, so a comparison can group replicas without parsing names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

__all__ = [
    "ADOPTED_TAG_PREFIX",
    "IGNORED_PREFIXES",
    "JOB_TAGS_FILE",
    "SWEEP_FILE",
    "JobContext",
    "finished_metric",
    "job_context",
    "parse_overrides",
    "set_job_tags",
    "swept_keys",
]

SWEEP_FILE = ".rlmdj_sweep.json"
# Tags a sweeper gives particular jobs (``{"<job num>": {tag: value}}``), e.g. the search
# sweeper's trial number and parameters: written before the jobs launch, read by each job.
JOB_TAGS_FILE = ".rlmdj_job_tags.json"
# Parent-run tag prefix naming runs from elsewhere that a resumed job reused (``<prefix><job>``:
# JSON with the run id and this sweep's condition), so the sweep's comparison includes them.
ADOPTED_TAG_PREFIX = "rlmdj.adopted."
IGNORED_PREFIXES = ("hydra.", "hydra/", "tracking.", "paths.", "progress")


def parse_overrides(overrides: list[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(list(overrides))


def swept_keys(overrides: list[str]) -> list[str]:
    """Keys a sweep varies (``prompt=a,b`` → ``prompt``), without ``replica`` and bookkeeping keys."""
    keys = []
    for o in parse_overrides(overrides):
        key = o.key_or_group
        if (o.is_sweep_override() and key != "replica" and not key.startswith(IGNORED_PREFIXES)
                and not key.startswith("experiment.")):
            keys.append(key)
    return keys


@dataclass
class JobContext:
    """Where a job belongs: its sweep parent, condition tags, and a finished twin to skip to."""

    parent_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    finished_run_id: str | None = None
    finished_obj: float | None = None


def _hydra_job() -> tuple[list[str], Path | None, str | None]:
    """(job overrides, sweep dir, job number) when a Hydra multirun job is running."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except Exception:  # noqa: BLE001 - not inside a Hydra job
        return [], None, None
    if hc.mode != RunMode.MULTIRUN:
        return list(hc.overrides.task), None, None
    return list(hc.overrides.task), Path(str(hc.sweep.dir)).resolve(), str(hc.job.num)


def _finished_run(cfg: DictConfig) -> Any | None:
    """The newest FINISHED run with this config's hash, or None.

    The hash leaves out orchestration keys (``experiment.*``, tracking, paths), so turning
    resume on does not change which runs match.
    """
    from rlmdj.tracking import config_hash, open_store

    client, experiment_id = open_store(cfg.tracking)
    runs = client.search_runs(
        [experiment_id],
        filter_string=(f"tags.`rlmdj.config_hash` = '{config_hash(cfg)}' "
                       "and attributes.status = 'FINISHED'"),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def _metric(metrics: dict[str, float], primary: str) -> float | None:
    """``primary`` among a run's metrics: a full name (``proxy/CE``), or an axis (``CE``) as the
    run's own ``<scorer>/<axis>``, not a window's ``<scorer>/window/<axis>``."""
    if "/" in primary:
        return metrics.get(primary)
    return next((v for k, v in metrics.items() if k.endswith(f"/{primary}") and k.count("/") == 1), None)


def finished_metric(cfg: DictConfig, primary: str) -> float | None:
    """``primary`` of the newest FINISHED run of ``cfg``'s configuration (None: no such run).

    Jobs return OBJ; a sequential sweep about another axis (``experiment.compare.primary``)
    reads that axis from the job's run.
    """
    run = _finished_run(cfg)
    return None if run is None else _metric(run.data.metrics, primary)


def set_job_tags(sweep_dir: Path, tags: dict[int, dict[str, str]]) -> None:
    """Give jobs ``{job num: tags}`` of this sweep (merged with those given before), before they launch."""
    import os

    path = Path(sweep_dir) / JOB_TAGS_FILE
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known.update({str(num): {k: str(v) for k, v in t.items()} for num, t in tags.items()})
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(known))
    os.replace(tmp, path)  # a job in another process never reads half a file


def _sweeper_tags(sweep_dir: Path, job_num: str | None) -> dict[str, str]:
    try:
        return dict(json.loads((sweep_dir / JOB_TAGS_FILE).read_text()).get(str(job_num), {}))
    except (OSError, ValueError):
        return {}


def job_context(cfg: DictConfig) -> JobContext:
    """The sweep parent and condition tags of the running job (empty outside a multirun).

    When resuming finds a FINISHED twin under another parent (an earlier sweep that shared this
    configuration), the twin is recorded on this sweep's parent so its comparison counts it. A job
    skipped for its twin counts as done in the sweep's ``job k/N``.
    """
    ctx = JobContext()
    overrides, sweep_dir, job_num = _hydra_job()
    twin = None
    if bool(cfg.experiment.resume) and cfg.tracking.enabled:
        twin = _finished_run(cfg)
        if twin is not None:
            ctx.finished_run_id = twin.info.run_id
            # ``<scorer>/OBJ``, not the last window's ``<scorer>/window/OBJ``: the sequential
            # sweeper analyses this value when it resumes.
            ctx.finished_obj = _metric(twin.data.metrics, "OBJ")
    if sweep_dir is None:
        return ctx
    if twin is not None:  # a skipped job is done too: the next job's "job k/N" counts it
        from rlmdj.experiments.cli.progress import sweep_job_done

        sweep_job_done(sweep_dir)
    keys: list[str] | None = None
    info_file = sweep_dir / SWEEP_FILE
    if info_file.is_file():
        info = json.loads(info_file.read_text())
        ctx.parent_run_id = info.get("parent_run_id")
        keys = list(info.get("swept_keys", []))
    condition: dict[str, str] = {}
    for o in parse_overrides(overrides):
        key = o.key_or_group
        if key == "replica" or key.startswith(IGNORED_PREFIXES) or key == "experiment.resume":
            continue
        if keys is None or key in keys:
            condition[key] = str(o.value())
    ctx.tags = {f"rlmdj.cond.{k}": v for k, v in condition.items()}
    ctx.tags["rlmdj.condition"] = ",".join(f"{k}={v}" for k, v in sorted(condition.items())) or "all"
    ctx.tags["rlmdj.sweep_job"] = job_num or ""
    ctx.tags.update(_sweeper_tags(sweep_dir, job_num))
    if twin is not None and ctx.parent_run_id and twin.data.tags.get("mlflow.parentRunId") != ctx.parent_run_id:
        from rlmdj.tracking import open_store

        client, _ = open_store(cfg.tracking)
        client.set_tag(ctx.parent_run_id, f"{ADOPTED_TAG_PREFIX}{job_num}", json.dumps({
            "run_id": twin.info.run_id, "condition": condition, "job": job_num}))
    return ctx
