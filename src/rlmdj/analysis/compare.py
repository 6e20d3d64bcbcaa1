"""Compare conditions of a sweep with replicas: summaries, tests against a baseline, power.

- :class:`RunRecord` — what a comparison needs from one MLflow run (condition, metrics, scorer).
- :func:`load_runs` — records of the runs of an experiment, of one sweep (parent run), or of a
  filter string, read through ``MlflowClient``.
- :func:`compare` — group records by the swept keys, summarise each metric per condition and
  test every condition against the baseline (Holm-corrected per metric across conditions).

Conditions are listed in sweep order (the job number of their first run), so the default
baseline is the sweep's first condition — the first value of each swept key as written on the
command line (``dj=reference,random`` compares ``random`` against ``reference``).

A comparison refuses to pool runs scored by different scorers: metric keys carry the scorer
prefix (``proxy/OBJ``, ``audiobox/OBJ``) and runs record the exact scorer identity, and mixing
either would compare numbers on different scales.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlmdj.analysis.stats import Summary, TwoSample, describe, holm, two_sample
from rlmdj.errors import ParameterError

__all__ = [
    "AXES_ORDER",
    "COND_TAG_PREFIX",
    "REPLICA_TAG",
    "JOB_TAG",
    "ADOPTED_TAG_PREFIX",
    "SCORER_TAG",
    "SWEPT_KEYS_TAG",
    "RunRecord",
    "GroupSummary",
    "TestRow",
    "Comparison",
    "load_runs",
    "record_from_run",
    "compare",
    "condition_label",
]

COND_TAG_PREFIX = "rlmdj.cond."
REPLICA_TAG = "rlmdj.replica"
JOB_TAG = "rlmdj.sweep_job"
# Written by rlmdj.experiments.sweep on a parent run when a resumed job reused a run from another
# sweep (value: JSON with "run_id", "condition", "job"); kept as a string to avoid importing Hydra.
ADOPTED_TAG_PREFIX = "rlmdj.adopted."
SWEPT_KEYS_TAG = "rlmdj.swept_keys"
# The tag rlmdj.experiments.run writes with the scorer's identity.
SCORER_TAG = "rlmdj.scorer_identity"
AXES_ORDER: tuple[str, ...] = ("OBJ", "CE", "CU", "PC", "PQ")


@dataclass(frozen=True)
class RunRecord:
    """One finished run as the comparison sees it."""

    run_id: str
    condition: dict[str, str]
    metrics: dict[str, float]
    scorer: str | None = None
    replica: int | None = None
    status: str = "FINISHED"
    params: dict[str, str] = field(default_factory=dict)
    job: int | None = None


def condition_label(condition: Mapping[str, str], keys: Sequence[str] | None = None) -> str:
    """``k=v,k2=v2`` in ``keys`` order (or sorted), the label a condition is shown and matched by."""
    keys = list(keys) if keys is not None else sorted(condition)
    return ",".join(f"{k}={condition.get(k, '')}" for k in keys) or "all"


def _scorer_identity(tags: Mapping[str, str], metrics: Mapping[str, float]) -> str | None:
    if tags.get(SCORER_TAG):
        return str(tags[SCORER_TAG])
    prefixes = sorted({k.split("/", 1)[0] for k in metrics if k.endswith("/OBJ")})
    return "|".join(prefixes) or None


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
    replica = _int_or_none(tags.get(REPLICA_TAG, run.data.params.get("replica")))
    return RunRecord(
        run_id=run.info.run_id,
        condition=condition,
        metrics=metrics,
        scorer=_scorer_identity(tags, metrics),
        replica=replica,
        status=run.info.status,
        params=dict(run.data.params),
        job=_int_or_none(tags.get(JOB_TAG)),
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
    """Records of matching runs (children of ``parent_run_id`` if given), FINISHED ones by default.

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
    # Sweep parents and other runs without scores are not replicas of anything.
    return [r for r in records if any(k.endswith("/OBJ") for k in r.metrics)]


def _adopted(client: Any, parent_run_id: str, known: set[str], finished_only: bool) -> list[RunRecord]:
    import json

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
        out.append(RunRecord(run_id=r.run_id, condition=dict(info.get("condition", {})), metrics=r.metrics,
                             scorer=r.scorer, replica=r.replica, status=r.status, params=r.params,
                             job=_int_or_none(info.get("job"))))
    return out


@dataclass(frozen=True)
class GroupSummary:
    """One condition: its label, replicas and a summary per metric."""

    label: str
    condition: dict[str, str]
    run_ids: list[str]
    summaries: dict[str, Summary]
    values: dict[str, list[float]]


@dataclass(frozen=True)
class TestRow:
    """One condition vs the baseline on one metric; ``p_adj`` is Holm-corrected per metric."""

    label: str
    metric: str
    result: TwoSample
    p: float
    p_adj: float
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        return {"condition": self.label, "metric": self.metric, **self.result.to_dict(),
                "p": self.p, "p_holm": self.p_adj, "significant": self.significant}


@dataclass(frozen=True)
class Comparison:
    """Everything a report shows: groups, tests and the settings that produced them."""

    group_by: list[str]
    metrics: list[str]
    scorer: str | None
    baseline: str
    groups: list[GroupSummary]
    tests: list[TestRow]
    test: str
    alpha: float
    delta: float
    power: float
    notes: list[str] = field(default_factory=list)

    def group(self, label: str) -> GroupSummary:
        for g in self.groups:
            if g.label == label:
                return g
        raise KeyError(label)


def _metrics_for(records: Iterable[RunRecord], metrics: Sequence[str] | None) -> tuple[list[str], str]:
    prefixes = sorted({k.split("/", 1)[0] for r in records for k in r.metrics if k.endswith("/OBJ")})
    if len(prefixes) != 1:
        raise ParameterError(
            f"runs were scored by different scorers ({', '.join(prefixes) or 'none'}); compare them "
            "separately, e.g. experiment.compare.filter=\"params.`scorer.name` = 'proxy'\""
        )
    prefix = prefixes[0]
    if metrics:
        return [m if "/" in m else f"{prefix}/{m}" for m in metrics], prefix
    return [f"{prefix}/{a}" for a in AXES_ORDER], prefix


def _infer_group_by(records: Sequence[RunRecord]) -> list[str]:
    keys = sorted({k for r in records for k in r.condition})
    if keys:
        return keys
    # No sweep tags: group by the params that differ between runs, except the replica.
    varying = []
    all_keys = sorted({k for r in records for k in r.params})
    for k in all_keys:
        if k in ("replica", "seed") or k.startswith(("tracking.", "paths.", "hydra.")):
            continue
        if len({r.params.get(k) for r in records}) > 1:
            varying.append(k)
    return varying


def _resolve_baseline(labels: Sequence[str], conditions: Sequence[Mapping[str, str]], baseline: str | None) -> str:
    if not baseline:
        return labels[0]
    if baseline in labels:
        return baseline
    # "k=v,k2=v2" matches on those keys; a bare value ("reference") matches any key's value.
    wanted = dict(part.split("=", 1) for part in baseline.split(",") if "=" in part)
    hits = [lab for lab, cond in zip(labels, conditions, strict=True)
            if (wanted and all(cond.get(k) == v for k, v in wanted.items()))
            or (not wanted and baseline in cond.values())]
    if len(hits) != 1:
        raise ParameterError(
            f"baseline {baseline!r} matches {len(hits)} conditions; choose one of: {'; '.join(labels)}"
        )
    return hits[0]


def compare(
    records: Sequence[RunRecord],
    *,
    group_by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    baseline: str | None = None,
    test: str = "welch",
    alpha: float = 0.05,
    delta: float = 0.3,
    power: float = 0.80,
) -> Comparison:
    """Summarise every condition and test each against ``baseline`` (default: the sweep's first condition).

    ``test`` picks the p-value behind the verdict (``welch`` or ``mannwhitney``); both are always
    reported. ``delta`` is the metric difference (OBJ units) the replica estimate is sized for.
    """
    if test not in ("welch", "mannwhitney"):
        raise ParameterError(f"test must be 'welch' or 'mannwhitney', got {test!r}")
    if not records:
        raise ParameterError("no finished runs with scores matched; check the experiment, parent or filter")
    identities = sorted({r.scorer for r in records if r.scorer})
    if len(identities) > 1:
        raise ParameterError(
            f"refusing to pool runs scored by different scorers: {', '.join(identities)}; "
            "filter to one scorer (experiment.compare.filter=...) and compare each separately"
        )
    metric_keys, _prefix = _metrics_for(records, metrics)
    keys = list(group_by) if group_by else _infer_group_by(records)

    def cond_of(r: RunRecord) -> dict[str, str]:
        return {k: str(r.condition.get(k, r.params.get(k, ""))) for k in keys}

    buckets: dict[str, list[RunRecord]] = {}
    conds: dict[str, dict[str, str]] = {}
    for r in records:
        c = cond_of(r)
        label = condition_label(c, keys)
        buckets.setdefault(label, []).append(r)
        conds[label] = c
    labels = sorted(buckets, key=lambda lab: (_first_job(buckets[lab]), lab))
    base = _resolve_baseline(labels, [conds[lab] for lab in labels], baseline)

    groups = []
    for lab in labels:
        rs = sorted(buckets[lab], key=lambda r: (r.replica if r.replica is not None else -1, r.run_id))
        values = {m: [r.metrics[m] for r in rs if m in r.metrics and math.isfinite(r.metrics[m])] for m in metric_keys}
        groups.append(GroupSummary(
            label=lab, condition=conds[lab], run_ids=[r.run_id for r in rs],
            summaries={m: describe(v) for m, v in values.items()}, values=values,
        ))
    base_group = next(g for g in groups if g.label == base)
    tests: list[TestRow] = []
    for m in metric_keys:
        results = [(g.label, two_sample(g.values[m], base_group.values[m], delta=delta, power=power, alpha=alpha))
                   for g in groups if g.label != base]
        raw = [res.welch_p if test == "welch" else res.mw_p for _, res in results]
        adjusted = holm(raw)
        for (lab, res), p, pa in zip(results, raw, adjusted, strict=True):
            tests.append(TestRow(label=lab, metric=m, result=res, p=p, p_adj=pa,
                                 significant=bool(math.isfinite(pa) and pa < alpha)))
    return Comparison(
        group_by=keys, metrics=metric_keys, scorer=identities[0] if identities else None,
        baseline=base, groups=groups, tests=tests, test=test, alpha=alpha, delta=delta, power=power,
        notes=_identical_groups(groups, metric_keys[0]),
    )


def _first_job(records: Sequence[RunRecord]) -> float:
    jobs = [r.job for r in records if r.job is not None]
    return float(min(jobs)) if jobs else math.inf


def _identical_groups(groups: Sequence[GroupSummary], metric: str) -> list[str]:
    """Conditions whose runs scored exactly alike, replica for replica (a swept key had no effect).

    Typical cause: sweeping ``prompt`` or ``model`` with a driver that reads neither (the
    reference or random DJ), where the conditions differ only by name.
    """
    seen: dict[tuple[float, ...], list[str]] = {}
    for g in groups:
        if len(g.values[metric]) >= 2:
            seen.setdefault(tuple(g.values[metric]), []).append(g.label)
    return [f"{' and '.join(labels)} scored identically on every replica ({metric}): the swept "
            "setting had no effect on the set (does the DJ driver use it?)"
            for labels in seen.values() if len(labels) > 1]
