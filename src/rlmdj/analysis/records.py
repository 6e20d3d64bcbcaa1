"""What a comparison reads from MLflow: one :class:`RunRecord` per finished, scored run.

- :func:`record_from_run` — a record from an ``mlflow.entities.Run``.
- :func:`load_runs` — records of an experiment, of one sweep (parent run, including runs its
  resumed jobs reused from earlier sweeps), or of a filter string, through ``MlflowClient``.
- :func:`latest_per_config` — one record per configuration (config hash): re-running the same
  configuration is not a new replica, so only the latest FINISHED run counts.

Tag names are kept here as strings so the analysis never imports Hydra or the job code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "ADOPTED_TAG_PREFIX",
    "COND_TAG_PREFIX",
    "CONFIG_HASH_TAG",
    "EARS_SCORER_TAGS",
    "JOB_TAG",
    "PALETTE_HASH_TAG",
    "PALETTE_TAG",
    "REPLICA_TAG",
    "RESCORED_TAG_PREFIX",
    "SCORER_TAG",
    "SCORER_TAGS",
    "STOP_REASON_TAG",
    "SWEPT_KEYS_TAG",
    "RunRecord",
    "latest_per_config",
    "load_runs",
    "record_from_run",
]

COND_TAG_PREFIX = "rlmdj.cond."
REPLICA_TAG = "rlmdj.replica"
JOB_TAG = "rlmdj.sweep_job"
CONFIG_HASH_TAG = "rlmdj.config_hash"
PALETTE_TAG = "rlmdj.palette"
PALETTE_HASH_TAG = "rlmdj.palette_hash"
# Written on a sweep's parent run when a resumed job reused a run from another sweep (value: JSON
# with "run_id", "condition", "job").
ADOPTED_TAG_PREFIX = "rlmdj.adopted."
SWEPT_KEYS_TAG = "rlmdj.swept_keys"
STOP_REASON_TAG = "dj.stop_reason"  # why the RLM DJ stopped: budget:<which> when a budget did
# The tag that names the exact scorer of a run (written by the run pipeline).
SCORER_TAGS: tuple[str, ...] = ("rlmdj.scorer_identity",)
# The metric prefix of the scorer that scored the run as it was played (``proxy``).
SCORER_TAG = "rlmdj.scorer"
# ``rlmdj.rescored.<prefix>``: the identity of a scorer that scored the stored set later
# (``rlmdj experiment=rescore``); its metrics sit beside the in-run scorer's.
RESCORED_TAG_PREFIX = "rlmdj.rescored."
# The tag naming the scorer a hearing DJ listened through (``dj=greedy``, ``dj=rlm ears=on``);
# greedy runs logged it as ``rlmdj.ears_scorer`` before the name was shared with the LLM DJ's.
EARS_SCORER_TAGS: tuple[str, ...] = ("dj.ears_scorer", "rlmdj.ears_scorer")


@dataclass(frozen=True)
class RunRecord:
    """One finished run as the comparison sees it.

    ``condition`` holds the sweep's condition tags (empty for a standalone run); ``params`` the
    flattened config. ``start_time`` (ms since the epoch) decides which of several runs of one
    configuration is the latest.

    A run can hold several scorers' metrics (``proxy/OBJ`` from the run, ``audiobox/OBJ`` from a
    rescore): ``scorer`` is the in-run scorer's identity, ``scorers`` maps each metric prefix to
    the identity that wrote it, and ``rescored`` lists the prefixes a rescore wrote.
    ``ears_scorer`` is the identity of the scorer the DJ heard through (None: it did not hear).
    ``budget`` names the set budget that stopped the DJ's LM requests (``tokens``, ``cost``,
    ``wall``; None: none did), from its ``dj.stop_reason`` of ``budget:<which>``.
    """

    run_id: str
    condition: dict[str, str]
    metrics: dict[str, float]
    scorer: str | None = None
    replica: int | None = None
    status: str = "FINISHED"
    params: dict[str, str] = field(default_factory=dict)
    job: int | None = None
    config_hash: str | None = None
    palette: str | None = None
    palette_hash: str | None = None
    start_time: int = 0
    prompt_version: str | None = None  # rlmdj.prompt_version, e.g. "rlmdj-baseline v3"
    scorers: dict[str, str] = field(default_factory=dict)
    rescored: tuple[str, ...] = ()
    ears_scorer: str | None = None
    budget: str | None = None

    @property
    def prefixes(self) -> list[str]:
        """Metric prefixes of the scorers that scored this run (those with an ``<prefix>/OBJ``)."""
        return sorted({k.split("/", 1)[0] for k in self.metrics if k.endswith("/OBJ")})

    def identity(self, prefix: str) -> str | None:
        """The identity of the scorer behind ``<prefix>/...``; the in-run identity when it is the
        run's only scorer and no tag says more."""
        if prefix in self.scorers:
            return self.scorers[prefix]
        return self.scorer if self.prefixes == [prefix] else None

    def identity_tag(self, prefix: str) -> str:
        """The tag that names the identity behind ``<prefix>/...`` (to filter runs by it)."""
        return f"{RESCORED_TAG_PREFIX}{prefix}" if prefix in self.rescored else SCORER_TAGS[0]


def _scorer_identity(tags: Mapping[str, str], metrics: Mapping[str, float]) -> str | None:
    for key in SCORER_TAGS:
        if tags.get(key):
            return str(tags[key])
    prefixes = sorted({k.split("/", 1)[0] for k in metrics if k.endswith("/OBJ")})
    return "|".join(prefixes) or None


def _scorers(tags: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """(prefix -> identity, prefixes written by a rescore): a rescore's tag wins over the run's,
    since it overwrote that prefix's metrics."""
    found: dict[str, str] = {}
    if tags.get(SCORER_TAG) and tags.get(SCORER_TAGS[0]):
        found[str(tags[SCORER_TAG])] = str(tags[SCORER_TAGS[0]])
    rescored = sorted(k[len(RESCORED_TAG_PREFIX):] for k in tags if k.startswith(RESCORED_TAG_PREFIX))
    found.update({p: str(tags[f"{RESCORED_TAG_PREFIX}{p}"]) for p in rescored})
    return found, tuple(rescored)


def _int_or_none(raw: Any) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


def record_from_run(run: Any) -> RunRecord:
    """A :class:`RunRecord` from an ``mlflow.entities.Run``."""
    tags = dict(run.data.tags)
    metrics = {k: float(v) for k, v in run.data.metrics.items()}
    condition = {k[len(COND_TAG_PREFIX):]: v for k, v in tags.items() if k.startswith(COND_TAG_PREFIX)}
    scorers, rescored = _scorers(tags)
    return RunRecord(
        run_id=run.info.run_id,
        condition=condition,
        metrics=metrics,
        scorer=_scorer_identity(tags, metrics),
        replica=_int_or_none(tags.get(REPLICA_TAG, run.data.params.get("replica"))),
        status=run.info.status,
        params=dict(run.data.params),
        job=_int_or_none(tags.get(JOB_TAG)),
        config_hash=tags.get(CONFIG_HASH_TAG) or None,
        palette=tags.get(PALETTE_TAG) or None,
        palette_hash=tags.get(PALETTE_HASH_TAG) or None,
        start_time=int(run.info.start_time or 0),
        prompt_version=tags.get("rlmdj.prompt_version") or None,
        scorers=scorers,
        rescored=rescored,
        ears_scorer=next((str(tags[k]) for k in EARS_SCORER_TAGS if tags.get(k)), None),
        budget=str(tags.get(STOP_REASON_TAG, "")).partition("budget:")[2] or None,
    )


def load_runs(
    client: Any,
    *,
    experiment_ids: Sequence[str],
    parent_run_id: str | None = None,
    filter_string: str | None = None,
    finished_only: bool = True,
    max_results: int = 5000,
) -> list[RunRecord]:
    """Records of matching runs with scores (children of ``parent_run_id`` if given), FINISHED by default.

    A sweep's records also include the runs its resumed jobs reused from earlier sweeps, with
    this sweep's condition and job number.
    """
    clauses = []
    if parent_run_id:
        clauses.append(f"tags.mlflow.parentRunId = '{parent_run_id}'")
    if filter_string:
        clauses.append(f"({filter_string})" if " or " in filter_string.lower() else filter_string)
    if finished_only:
        clauses.append("attributes.status = 'FINISHED'")
    runs = client.search_runs(
        experiment_ids=list(experiment_ids),
        filter_string=" and ".join(clauses),
        max_results=max_results,
    )
    records = [record_from_run(run) for run in runs]
    if parent_run_id:
        records += _adopted(client, parent_run_id, {r.run_id for r in records}, finished_only)
    # Sweep parents, comparison runs and other runs without scores are not replicas of anything.
    return [r for r in records if any(k.endswith("/OBJ") for k in r.metrics)]


def _adopted(client: Any, parent_run_id: str, known: set[str], finished_only: bool) -> list[RunRecord]:
    out = []
    for key, value in client.get_run(parent_run_id).data.tags.items():
        if not key.startswith(ADOPTED_TAG_PREFIX):
            continue
        info = json.loads(value)
        if info["run_id"] in known:
            continue
        r = record_from_run(client.get_run(info["run_id"]))
        if finished_only and r.status != "FINISHED":
            continue
        known.add(r.run_id)
        out.append(replace(r, condition=dict(info.get("condition", {})), job=_int_or_none(info.get("job"))))
    return out


def latest_per_config(records: Sequence[RunRecord]) -> tuple[list[RunRecord], list[RunRecord]]:
    """(kept, set aside): the latest run of each config hash, and the older duplicates.

    Runs without a config hash (written by other tools) each count once.
    """
    latest: dict[str, RunRecord] = {}
    kept: list[RunRecord] = []
    for r in records:
        if r.config_hash is None:
            kept.append(r)
            continue
        old = latest.get(r.config_hash)
        if old is None or (r.start_time, r.run_id) > (old.start_time, old.run_id):
            latest[r.config_hash] = r
    chosen = {id(r) for r in latest.values()}
    kept += [r for r in records if id(r) in chosen]
    aside = [r for r in records if r.config_hash is not None and id(r) not in chosen]
    order = {id(r): i for i, r in enumerate(records)}
    kept.sort(key=lambda r: order[id(r)])
    return kept, aside
