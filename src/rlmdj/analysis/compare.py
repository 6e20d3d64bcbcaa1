"""Compare conditions by the design of the runs: paired by replica where it exists, one run per config.

:func:`compare` turns run records into a :class:`Comparison`:

1. **One run per configuration.** Runs with the same config hash count once (the latest
   FINISHED); the rest are set aside and counted in the report.
2. **Conditions.** The swept keys (``group_by``, or the condition tags when every run carries
   the same ones) or, store-wide, the config keys that differ between the runs, leaving out
   bookkeeping (``experiment.*``, ``paths.*``, ``tracking.*``, ``hydra.*``, ``serve.*``,
   ``progress``, ``replica``, and any key the config hash ignores, such as ``scorer.cache``).
   Keys that vary together (``dj.driver`` and ``dj.name``) are shown once. Runs on different palettes are never pooled: a palette that
   differs becomes part of the condition, unless the palette is the unit of replication.
3. **Unit of replication.** ``unit="replica"`` (default): replica index + palette identity (the
   palette hash tag), because replica r plays the same palette and seed in every condition.
   ``unit="palette"``: the palette hash; runs of one palette in a condition are averaged, and
   each condition needs at least two palettes.
4. **Contrasts.** Every condition against the baseline (default: the sweep's first condition).
   Conditions that share units are compared **paired** over the shared units (the others are
   named as set aside); **unpaired** (Welch, Mann-Whitney) only when fewer than two are shared.
5. **Primary metric.** ``<scorer>/<primary>`` (OBJ) is Holm-corrected across conditions; the
   other axes form one exploratory family, Holm-corrected across conditions x axes.

**One scorer.** Metric keys carry the scorer's prefix (``proxy/OBJ``, ``audiobox/OBJ``) and a
run can hold several (a rescored sweep keeps its in-run ``proxy/*`` beside ``audiobox/*``). A
comparison is on one prefix: ``scorer``, else the primary metric's (``audiobox/OBJ``), else the
prefix most runs hold (ties: the one most were played with). Runs without it are excluded and
named; runs whose identity for it differs (``proxy-v1`` vs ``proxy-v2``) are never pooled.
"""

from __future__ import annotations

import math
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlmdj.analysis.records import (
    ADOPTED_TAG_PREFIX,
    COND_TAG_PREFIX,
    JOB_TAG,
    REPLICA_TAG,
    SCORER_TAGS,
    SWEPT_KEYS_TAG,
    RunRecord,
    latest_per_config,
    load_runs,
    record_from_run,
)
from rlmdj.analysis.stats import Paired, Summary, TwoSample, describe, holm, paired, two_sample
from rlmdj.config.experiment import COMPARE_UNITS, CompareConfig, check_compare
from rlmdj.errors import ParameterError

__all__ = [
    "ADOPTED_TAG_PREFIX",
    "AXES_ORDER",
    "BOOKKEEPING_KEYS",
    "BOOKKEEPING_PREFIXES",
    "COND_TAG_PREFIX",
    "JOB_TAG",
    "REPLICA_TAG",
    "SCORER_TAGS",
    "SWEPT_KEYS_TAG",
    "UNITS",
    "Comparison",
    "Contrast",
    "GroupSummary",
    "RunRecord",
    "choose_scorer",
    "compare",
    "condition_label",
    "filter_override",
    "load_runs",
    "record_from_run",
]

AXES_ORDER: tuple[str, ...] = ("OBJ", "CE", "CU", "PC", "PQ")
BOOKKEEPING_PREFIXES: tuple[str, ...] = ("experiment.", "paths.", "tracking.", "hydra.", "serve.")
BOOKKEEPING_KEYS: frozenset[str] = frozenset({"progress", "replica", "seed"})
UNITS: tuple[str, ...] = COMPARE_UNITS
_PALETTE_KEYS = ("palette", "palette.name", "palette.path", "palette.source")


def condition_label(condition: Mapping[str, str], keys: Sequence[str] | None = None) -> str:
    """``k=v,k2=v2`` in ``keys`` order (or sorted), the label a condition is shown and matched by."""
    keys = list(keys) if keys is not None else sorted(condition)
    return ",".join(f"{k}={condition.get(k, '')}" for k in keys) or "all"


def _is_bookkeeping(key: str) -> bool:
    return key in BOOKKEEPING_KEYS or key.startswith(BOOKKEEPING_PREFIXES)


def _outside_hash(key: str) -> bool:
    """True when ``key`` does not enter the config hash (caches, timeouts, artifact formats...):
    it changes how a run is carried out, not what it plays, so it never defines a condition."""
    from rlmdj.tracking.identity import config_hash

    def nested(value: str) -> dict:
        node: dict = {}
        cur = node
        parts = key.split(".")
        for part in parts[:-1]:
            cur = cur.setdefault(part, {})
        cur[parts[-1]] = value
        return node

    return config_hash(nested("a")) == config_hash(nested("b"))


@dataclass(frozen=True)
class GroupSummary:
    """One condition: its label, runs, units of replication and a summary per metric.

    ``units`` names each unit (``replica 3 (palette)`` or ``palette p``) and ``unit_keys`` is
    what pairs them (replica + palette hash, or palette hash); ``values[m][i]`` belongs to unit
    ``i`` (nan where it has no value for ``m``). ``unit_runs`` maps unit keys to run ids.
    """

    label: str
    condition: dict[str, str]
    run_ids: list[str]
    units: list[str]
    summaries: dict[str, Summary]
    values: dict[str, list[float]]
    unit_keys: list[str] = field(default_factory=list)
    unit_runs: dict[str, list[str]] = field(default_factory=dict)

    def value_of(self, metric: str) -> dict[str, float]:
        """Unit key (replica|palette hash, or palette hash) → value, finite values only."""
        return {k: v for k, v in zip(self.unit_keys, self.values[metric], strict=True) if math.isfinite(v)}

    def name_of(self, key: str) -> str:
        return self.units[self.unit_keys.index(key)]


@dataclass(frozen=True)
class Contrast:
    """One condition vs the baseline on one metric, with the design it was analysed by.

    ``design`` is ``paired`` (over ``n`` shared units; ``set_aside`` names units only one side
    has) or ``unpaired`` (``n_a`` vs ``n_b``). ``p`` is the p-value of the chosen test,
    ``p_adj`` its Holm correction within the metric's family (primary or exploratory).
    """

    label: str
    metric: str
    primary: bool
    design: str
    n_a: int
    n_b: int
    diff: float
    ci_low: float
    ci_high: float
    p_t: float
    p_rank: float
    effect: float
    effect_name: str
    sd: float
    n_needed: int
    p: float
    p_adj: float
    significant: bool
    set_aside: list[str] = field(default_factory=list)
    detail: Paired | TwoSample | None = None

    @property
    def n(self) -> int:
        return self.n_a if self.design == "paired" else min(self.n_a, self.n_b)

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.label, "metric": self.metric,
            "family": "primary" if self.primary else "exploratory", "design": self.design,
            "n_a": self.n_a, "n_b": self.n_b, "diff": self.diff, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "p_t": self.p_t, "p_rank": self.p_rank,
            "effect": self.effect, "effect_name": self.effect_name, "sd": self.sd,
            "n_needed": self.n_needed, "p": self.p, "p_holm": self.p_adj,
            "significant": self.significant, "set_aside": ";".join(self.set_aside),
        }


@dataclass(frozen=True)
class Comparison:
    """Everything a report shows: groups, contrasts, verdicts and the settings behind them."""

    group_by: list[str]
    metrics: list[str]
    primary: str
    scorer: str | None
    baseline: str
    groups: list[GroupSummary]
    tests: list[Contrast]
    test: str
    alpha: float
    delta: float
    power: float
    unit: str = "replica"
    notes: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def group(self, label: str) -> GroupSummary:
        for g in self.groups:
            if g.label == label:
                return g
        raise KeyError(label)

    def primary_tests(self) -> list[Contrast]:
        return [t for t in self.tests if t.primary]

    @property
    def axis(self) -> str:
        return self.primary.split("/", 1)[-1]


def filter_override(tag: str, value: str) -> str:
    """``experiment.compare.filter=...`` selecting runs whose ``tag`` is ``value``, quoted so a
    shell passes it whole and Hydra's override parser reads it as one string (the backticks
    MLflow needs around dotted keys would otherwise run as a shell command)."""
    where = 'tags.`{}` = "{}"'.format(tag, value.replace('"', '\\"'))
    return shlex.quote('experiment.compare.filter="{}"'.format(where.replace('"', '\\"')))


def choose_scorer(records: Sequence[RunRecord], *, primary: str = "OBJ",
                  scorer: str | None = None) -> tuple[str, list[str]]:
    """(metric prefix to compare on, notes): ``scorer``, else ``primary``'s prefix, else the one
    most runs hold (ties: the one most runs were played with, then by name).

    Several prefixes are normal (a rescore adds ``audiobox/*`` beside ``proxy/*``); the note
    says which was chosen and how to pick another.
    """
    named = primary.split("/", 1)[0] if "/" in primary else None
    if scorer and named and scorer != named:
        raise ParameterError(f"experiment.compare.scorer={scorer} but experiment.compare.primary={primary} "
                             f"names the {named} scorer; set one of them")
    held = Counter(p for r in records for p in r.prefixes)
    listing = ", ".join(f"{p} ({n} run{'s' if n != 1 else ''})" for p, n in sorted(held.items())) or "none"
    wanted = scorer or named
    if wanted:
        if wanted not in held:
            key = (f"experiment.compare.scorer={scorer}" if scorer
                   else f"experiment.compare.primary={primary}")
            raise ParameterError(f"{key}: no run was scored by {wanted!r}; scorers in these runs: {listing}")
        return wanted, []
    if not held:
        raise ParameterError("no run holds a <scorer>/OBJ metric; check the experiment, parent or filter")
    played = Counter(p for r in records for p, ident in r.scorers.items()
                     if p not in r.rescored and ident == r.scorer)
    chosen = min(held, key=lambda p: (-held[p], -played[p], p))
    if len(held) == 1:
        return chosen, []
    others = " or ".join(f"experiment.compare.scorer={p}" for p in sorted(held) if p != chosen)
    return chosen, [f"runs hold several scorers' metrics: {listing}; compared on {chosen} (choose with {others})"]


def _metrics_for(records: Sequence[RunRecord], metrics: Sequence[str] | None,
                 primary: str, prefix: str) -> tuple[list[str], str]:
    full = primary if "/" in primary else f"{prefix}/{primary}"
    wanted = [m if "/" in m else f"{prefix}/{m}" for m in metrics] if metrics else \
        [f"{prefix}/{a}" for a in AXES_ORDER]
    known = {k for r in records for k in r.metrics}
    if full not in known:
        raise ParameterError(
            f"experiment.compare.primary={primary!r}: no run has metric {full!r}; "
            f"choose one of {', '.join(a for a in AXES_ORDER)}"
        )
    return [full, *[m for m in wanted if m != full]], full


def _one_scorer(records: Sequence[RunRecord], prefix: str) -> tuple[list[RunRecord], str | None, list[str]]:
    """(runs scored by ``prefix``, its identity, notes): runs without it are excluded by name;
    identities that differ are refused, with a filter for each that works as typed."""
    kept = [r for r in records if prefix in r.prefixes]
    notes = []
    excluded = [r for r in records if prefix not in r.prefixes]
    if excluded:
        notes.append(f"{len(excluded)} run(s) excluded: not scored by {prefix} (they hold "
                     f"{', '.join(sorted({p for r in excluded for p in r.prefixes}))} only): "
                     f"{', '.join(r.run_id for r in excluded)}")
    identities: dict[str, RunRecord] = {}
    for r in kept:
        ident = r.identity(prefix)
        if ident:
            identities.setdefault(ident, r)
    if len(identities) > 1:
        ways = "; ".join(f"{ident}: {filter_override(r.identity_tag(prefix), ident)}"
                         for ident, r in sorted(identities.items()))
        raise ParameterError(
            f"refusing to pool runs scored by different {prefix} scorers ({', '.join(sorted(identities))}); "
            f"compare each separately, e.g. with {ways}"
        )
    return kept, next(iter(identities), None), notes


def _not_finite(records: Sequence[RunRecord], metric: str) -> list[str]:
    """One note naming the runs left out of ``metric`` because their value is NaN (or missing)."""
    axis = metric.split("/", 1)[-1]
    nan = [r for r in records if metric in r.metrics and not math.isfinite(r.metrics[metric])]
    missing = [r for r in records if metric not in r.metrics]
    notes = []
    if nan:
        notes.append(f"{len(nan)} run(s) left out of {metric}: {axis} is NaN (their pairs in other conditions "
                     f"are left out with them): {', '.join(_who(r) for r in nan)}")
    if missing:
        notes.append(f"{len(missing)} run(s) left out of {metric}: they have no {metric}: "
                     f"{', '.join(_who(r) for r in missing)}")
    return notes


def _who(r: RunRecord) -> str:
    shown = ",".join(f"{k}={v}" for k, v in sorted(r.condition.items()))
    replica = "" if r.replica is None else f"replica {r.replica}"
    where = "; ".join(x for x in (shown, replica) if x)
    return f"{r.run_id} ({where})" if where else r.run_id


def _value(r: RunRecord, key: str) -> str | None:
    """A condition key's value in a run: its sweep tag, else its param (``dj`` → ``dj.name``)."""
    if key in r.condition:
        return str(r.condition[key])
    for k in (key, f"{key}.name", f"{key}.driver"):
        if k in r.params:
            return str(r.params[k])
    return None


def _varying_keys(records: Sequence[RunRecord], *, unit: str) -> tuple[list[str], list[str]]:
    """Config keys that differ between runs (bookkeeping left out), one per co-varying set."""
    keys = sorted({k for r in records for k in r.params})
    seen: dict[tuple[str | None, ...], str] = {}
    merged: list[str] = []
    for k in keys:
        if _is_bookkeeping(k) or (unit == "palette" and k.startswith("palette")):
            continue
        column = tuple(r.params.get(k) for r in records)
        if len(set(column)) < 2 or _outside_hash(k):
            continue
        # Keys that split the runs the same way (dj.driver and dj.name) say one thing once.
        pattern: dict[str | None, int] = {}
        shape = tuple(pattern.setdefault(v, len(pattern)) for v in column)
        if shape in seen:
            merged.append(f"{k} varies with {seen[shape]}")
            continue
        seen[shape] = k
    return list(seen.values()), merged


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
            f"experiment.compare.baseline={baseline!r} matches {len(hits)} conditions; choose one of: "
            f"{'; '.join(labels)}"
        )
    return hits[0]


def _unit_of(r: RunRecord, unit: str) -> tuple[str, str]:
    """(key, display name) of the unit of replication a run belongs to."""
    palette = r.palette_hash or r.palette or "?"
    shown = r.palette or palette[:8]
    if unit == "palette":
        return palette, f"palette {shown}"
    replica = "?" if r.replica is None else str(r.replica)
    return f"{replica}|{palette}", f"replica {replica}" + (f" ({shown})" if shown != "?" else "")


def _first_job(records: Sequence[RunRecord]) -> float:
    jobs = [r.job for r in records if r.job is not None]
    return float(min(jobs)) if jobs else math.inf


def _group(label: str, cond: dict[str, str], runs: Sequence[RunRecord], metrics: Sequence[str],
           unit: str, notes: list[str]) -> GroupSummary:
    by_unit: dict[str, list[RunRecord]] = {}
    names: dict[str, str] = {}
    for r in sorted(runs, key=lambda r: (r.replica if r.replica is not None else -1, r.run_id)):
        key, name = _unit_of(r, unit)
        by_unit.setdefault(key, []).append(r)
        names[key] = name
    if unit == "replica":
        shared = [names[k] for k, rs in by_unit.items() if len(rs) > 1]
        if shared:
            notes.append(f"{label}: several configurations share {', '.join(shared)} (keys outside the "
                         "condition differ); their runs are averaged per replica")
    units = list(by_unit)
    values = {m: [_mean([r.metrics.get(m, math.nan) for r in by_unit[u]]) for u in units] for m in metrics}
    return GroupSummary(
        label=label, condition=cond, run_ids=[r.run_id for u in units for r in by_unit[u]],
        units=[names[u] for u in units], summaries={m: describe(v) for m, v in values.items()},
        values=values, unit_keys=units, unit_runs={u: [r.run_id for r in by_unit[u]] for u in units},
    )


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _contrast(g: GroupSummary, base: GroupSummary, metric: str, *, primary: bool, test: str,
              delta: float, power: float, alpha: float) -> Contrast:
    a, b = g.value_of(metric), base.value_of(metric)
    shared = [u for u in g.unit_keys if u in a and u in b]
    if len(shared) >= 2:
        res = paired([a[u] for u in shared], [b[u] for u in shared], delta=delta, power=power, alpha=alpha)
        # Only units the other condition never played; a partner whose value is NaN is named
        # in the notes instead (it has a partner, just no number).
        aside = [f"{g.name_of(u)} ({g.label} only)" for u in a if u not in base.unit_keys]
        aside += [f"{base.name_of(u)} ({base.label} only)" for u in b if u not in g.unit_keys]
        return Contrast(
            label=g.label, metric=metric, primary=primary, design="paired", n_a=res.n, n_b=res.n,
            diff=res.diff, ci_low=res.ci_low, ci_high=res.ci_high, p_t=res.p, p_rank=res.wilcoxon_p,
            effect=res.d_z, effect_name="d_z", sd=res.sd, n_needed=res.n_needed,
            p=res.p if test == "t" else res.wilcoxon_p, p_adj=math.nan, significant=False,
            set_aside=aside, detail=res,
        )
    two = two_sample(list(a.values()), list(b.values()), delta=delta, power=power, alpha=alpha)
    return Contrast(
        label=g.label, metric=metric, primary=primary, design="unpaired", n_a=two.n_a, n_b=two.n_b,
        diff=two.diff, ci_low=two.ci_low, ci_high=two.ci_high, p_t=two.welch_p, p_rank=two.mw_p,
        effect=two.hedges_g, effect_name="g", sd=two.pooled_sd, n_needed=two.n_needed,
        p=two.welch_p if test == "t" else two.mw_p, p_adj=math.nan, significant=False, detail=two,
    )


def _with_holm(rows: list[Contrast], alpha: float) -> list[Contrast]:
    from dataclasses import replace

    adjusted = holm([r.p for r in rows])
    return [replace(r, p_adj=pa, significant=bool(math.isfinite(pa) and pa < alpha))
            for r, pa in zip(rows, adjusted, strict=True)]


def compare(
    records: Sequence[RunRecord],
    *,
    group_by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    primary: str = CompareConfig.primary,
    scorer: str | None = CompareConfig.scorer,
    baseline: str | None = CompareConfig.baseline,
    test: str = CompareConfig.test,
    alpha: float = CompareConfig.alpha,
    delta: float = CompareConfig.delta,
    power: float = CompareConfig.power,
    unit: str = CompareConfig.unit,
) -> Comparison:
    """Analyse ``records`` by their design (see the module docstring) against ``baseline``.

    ``test`` picks the p-value behind the verdict: ``t`` (paired t, or Welch when unpaired) or
    ``rank`` (Wilcoxon signed-rank, or Mann-Whitney); both are always reported. ``delta`` is the
    metric difference the replica estimate is sized for, at ``power`` and two-sided ``alpha``.
    ``scorer`` picks the metric prefix when runs hold several (see :func:`choose_scorer`).
    """
    check_compare(CompareConfig(primary=primary, scorer=scorer, test=test, alpha=alpha, delta=delta,
                                power=power, unit=unit))
    if not records:
        raise ParameterError("no finished runs with scores matched; check the experiment, parent or filter")
    prefix, notes = choose_scorer(records, primary=primary, scorer=scorer)
    records, identity, excluded = _one_scorer(records, prefix)
    notes += excluded
    metric_keys, primary_key = _metrics_for(records, metrics, primary, prefix)
    kept, aside = latest_per_config(records)
    if aside:
        notes.append(f"{len(aside)} run(s) set aside as duplicates of a configuration already counted "
                     f"(same config hash; the latest FINISHED run counts): {', '.join(r.run_id for r in aside)}")
    tagged = {tuple(sorted(r.condition)) for r in kept}
    if group_by:
        keys = [k for k in group_by if not _is_bookkeeping(k)]
    elif len(tagged) == 1 and next(iter(tagged)):
        # Children of sweeps over the same keys: their condition tags say what was swept.
        keys = [k for k in next(iter(tagged)) if not _is_bookkeeping(k)]
    else:
        keys, merged = _varying_keys(kept, unit=unit)
        notes += [f"{m}: shown as one key" for m in merged]
    keys, kept = _palette_rule(keys, kept, unit, notes)

    buckets: dict[str, list[RunRecord]] = {}
    conds: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    for r in kept:
        values = {k: _value(r, k) for k in keys}
        if any(v is None for v in values.values()):
            missing.append(r.run_id)
            continue
        cond = {k: str(v) for k, v in values.items()}
        label = condition_label(cond, keys)
        buckets.setdefault(label, []).append(r)
        conds[label] = cond
    if missing:
        notes.append(f"{len(missing)} run(s) set aside: they have no value for {', '.join(keys)}")
    notes += _not_finite([r for runs in buckets.values() for r in runs], primary_key)
    if not buckets:
        raise ParameterError(f"no run has a value for {', '.join(keys)}; check experiment.compare.by")
    labels = sorted(buckets, key=lambda lab: (_first_job(buckets[lab]), lab))
    base = _resolve_baseline(labels, [conds[lab] for lab in labels], baseline)
    groups = [_group(lab, conds[lab], buckets[lab], metric_keys, unit, notes) for lab in labels]
    played = {lab: sorted({r.prompt_version for r in buckets[lab] if r.prompt_version}) for lab in labels}
    if any(played.values()):  # which registered prompt version each condition played
        notes.append("prompt versions: " + "; ".join(
            f"{lab}: {', '.join(v) or 'no LLM prompt'}" for lab, v in played.items()))
    if unit == "palette":
        few = [f"{g.label} ({len(g.units)})" for g in groups if len(g.units) < 2]
        if few:
            raise ParameterError(
                "experiment.compare.unit=palette needs at least 2 palettes per condition; "
                f"too few in: {', '.join(few)}"
            )
    base_group = next(g for g in groups if g.label == base)
    others = [g for g in groups if g.label != base]
    settings = {"test": test, "delta": delta, "power": power, "alpha": alpha}
    primary_rows = _with_holm([_contrast(g, base_group, primary_key, primary=True, **settings)
                               for g in others], alpha)
    secondary_rows = _with_holm([_contrast(g, base_group, m, primary=False, **settings)
                                 for m in metric_keys[1:] for g in others], alpha)
    return Comparison(
        group_by=keys, metrics=metric_keys, primary=primary_key,
        scorer=identity or prefix, baseline=base, groups=groups,
        tests=primary_rows + secondary_rows, test=test, alpha=alpha, delta=delta, power=power,
        unit=unit, notes=notes + _identical_groups(groups, primary_key),
        duplicates=[r.run_id for r in aside],
    )


def _palette_rule(keys: list[str], records: list[RunRecord], unit: str,
                  notes: list[str]) -> tuple[list[str], list[RunRecord]]:
    """Never pool palettes: a differing palette joins the condition unless palettes are the unit."""
    if unit == "palette":
        return [k for k in keys if not k.startswith("palette")], records
    if any(k.startswith("palette") for k in keys):
        return keys, records
    names = {r.params.get("palette.name", r.condition.get("palette")) for r in records}
    if len(names) > 1:
        notes.append("runs played different palettes (palette.name); each palette is compared on its own, "
                     "not pooled (set experiment.compare.unit=palette to treat palettes as replicas)")
        return [*keys, "palette.name"], records
    return keys, records


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
