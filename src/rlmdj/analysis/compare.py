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
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rlmdj.analysis.conditions import (
    BOOKKEEPING_KEYS,
    BOOKKEEPING_PREFIXES,
    choose_scorer,
    condition_label,
    condition_value,
    filter_override,
    is_bookkeeping,
    metrics_for,
    not_finite,
    one_scorer,
    palette_rule,
    resolve_baseline,
    unit_of,
    varying_keys,
)
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
from rlmdj.config.experiment import CompareConfig, check_compare
from rlmdj.errors import ParameterError

__all__ = [
    "ADOPTED_TAG_PREFIX",
    "BOOKKEEPING_KEYS",
    "BOOKKEEPING_PREFIXES",
    "COND_TAG_PREFIX",
    "JOB_TAG",
    "REPLICA_TAG",
    "SCORER_TAGS",
    "SWEPT_KEYS_TAG",
    "Comparison",
    "Contrast",
    "GroupSummary",
    "RunRecord",
    "choose_scorer",
    "compare",
    "condition_label",
    "contrast",
    "filter_override",
    "load_runs",
    "record_from_run",
    "with_holm",
]


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
    """One condition against a baseline on one metric, with the design it was analysed by: the
    result type of every contrast (the comparison's, the gap test's, the ears test's).

    ``label`` names the condition (the gap test: the contrast, ``B-A``) and ``baseline`` what it
    is compared against. ``design`` is ``paired`` (over ``n`` shared units; ``set_aside`` names
    units only one side has) or ``unpaired`` (``n_a`` vs ``n_b``). ``p_t`` is the t-test's p
    (paired, or Welch), ``p_rank`` the rank test's (Wilcoxon, or Mann-Whitney); ``p`` is the one
    the verdict uses and ``p_adj`` its Holm correction within the contrast's family (primary or
    exploratory), ``significant`` whether that is below alpha (see :func:`with_holm`).
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
    p_adj: float = math.nan
    significant: bool = False
    baseline: str = ""
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
    unit: str = CompareConfig.unit
    notes: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    budget_hits: dict[str, int] = field(default_factory=dict)  # label -> runs a set budget stopped

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


def contrast(a: Mapping[Hashable, float], b: Mapping[Hashable, float], *, label: str, metric: str,
             baseline: str = "", primary: bool = True, test: str = CompareConfig.test,
             delta: float = CompareConfig.delta, power: float = CompareConfig.power,
             alpha: float = CompareConfig.alpha, min_pairs: int = 2) -> Contrast:
    """``a`` minus ``b`` (unit → finite value): paired over the units both have, in ``a``'s order,
    when there are at least ``min_pairs``, else unpaired (Welch, Mann-Whitney) over all values.

    ``test`` picks ``p`` (``t`` or ``rank``); ``delta``, ``power`` and ``alpha`` size the
    replicas needed. ``p_adj`` is left unset: :func:`with_holm` corrects a family at once.
    """
    shared = [u for u in a if u in b]
    if len(shared) >= min_pairs:
        res = paired([a[u] for u in shared], [b[u] for u in shared], delta=delta, power=power, alpha=alpha)
        return Contrast(
            label=label, metric=metric, primary=primary, design="paired", n_a=res.n, n_b=res.n,
            diff=res.diff, ci_low=res.ci_low, ci_high=res.ci_high, p_t=res.p, p_rank=res.wilcoxon_p,
            effect=res.d_z, effect_name="d_z", sd=res.sd, n_needed=res.n_needed,
            p=res.p if test == "t" else res.wilcoxon_p, baseline=baseline, detail=res,
        )
    two = two_sample(list(a.values()), list(b.values()), delta=delta, power=power, alpha=alpha)
    return Contrast(
        label=label, metric=metric, primary=primary, design="unpaired", n_a=two.n_a, n_b=two.n_b,
        diff=two.diff, ci_low=two.ci_low, ci_high=two.ci_high, p_t=two.welch_p, p_rank=two.mw_p,
        effect=two.hedges_g, effect_name="g", sd=two.pooled_sd, n_needed=two.n_needed,
        p=two.welch_p if test == "t" else two.mw_p, baseline=baseline, detail=two,
    )


def with_holm(rows: Sequence[Contrast], alpha: float) -> list[Contrast]:
    """``rows`` as one family: ``p_adj`` is Holm's correction of ``p`` across them, and
    ``significant`` says it is below ``alpha``."""
    adjusted = holm([r.p for r in rows])
    return [replace(r, p_adj=pa, significant=bool(math.isfinite(pa) and pa < alpha))
            for r, pa in zip(rows, adjusted, strict=True)]


def _first_job(records: Sequence[RunRecord]) -> float:
    jobs = [r.job for r in records if r.job is not None]
    return float(min(jobs)) if jobs else math.inf


def _group(label: str, cond: dict[str, str], runs: Sequence[RunRecord], metrics: Sequence[str],
           unit: str, notes: list[str]) -> GroupSummary:
    by_unit: dict[str, list[RunRecord]] = {}
    names: dict[str, str] = {}
    for r in sorted(runs, key=lambda r: (r.replica if r.replica is not None else -1, r.run_id)):
        key, name = unit_of(r, unit)
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


def _against(g: GroupSummary, base: GroupSummary, metric: str, *, primary: bool, test: str,
             delta: float, power: float, alpha: float) -> Contrast:
    """Condition ``g`` against the baseline group on ``metric``, naming units only one side played."""
    a, b = g.value_of(metric), base.value_of(metric)
    row = contrast(a, b, label=g.label, metric=metric, baseline=base.label, primary=primary,
                   test=test, delta=delta, power=power, alpha=alpha)
    if row.design != "paired":
        return row
    # Only units the other condition never played; a partner whose value is NaN is named in the
    # notes instead (it has a partner, just no number).
    aside = [f"{g.name_of(u)} ({g.label} only)" for u in a if u not in base.unit_keys]
    aside += [f"{base.name_of(u)} ({base.label} only)" for u in b if u not in g.unit_keys]
    return replace(row, set_aside=aside)


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
    records, identity, excluded = one_scorer(records, prefix)
    notes += excluded
    metric_keys, primary_key = metrics_for(records, metrics, primary, prefix)
    kept, aside = latest_per_config(records)
    if aside:
        notes.append(f"{len(aside)} run(s) set aside as duplicates of a configuration already counted "
                     f"(same config hash; the latest FINISHED run counts): {', '.join(r.run_id for r in aside)}")
    tagged = {tuple(sorted(r.condition)) for r in kept}
    if group_by:
        keys = [k for k in group_by if not is_bookkeeping(k)]
    elif len(tagged) == 1 and next(iter(tagged)):
        # Children of sweeps over the same keys: their condition tags say what was swept.
        keys = [k for k in next(iter(tagged)) if not is_bookkeeping(k)]
    else:
        keys, merged = varying_keys(kept, unit=unit)
        notes += [f"{m}: shown as one key" for m in merged]
    keys, kept = palette_rule(keys, kept, unit, notes)

    buckets: dict[str, list[RunRecord]] = {}
    conds: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    for r in kept:
        values = {k: condition_value(r, k) for k in keys}
        if any(v is None for v in values.values()):
            missing.append(r.run_id)
            continue
        cond = {k: str(v) for k, v in values.items()}
        label = condition_label(cond, keys)
        buckets.setdefault(label, []).append(r)
        conds[label] = cond
    if missing:
        notes.append(f"{len(missing)} run(s) set aside: they have no value for {', '.join(keys)}")
    notes += not_finite([r for runs in buckets.values() for r in runs], primary_key)
    if not buckets:
        raise ParameterError(f"no run has a value for {', '.join(keys)}; check experiment.compare.by")
    labels = sorted(buckets, key=lambda lab: (_first_job(buckets[lab]), lab))
    base = resolve_baseline(labels, [conds[lab] for lab in labels], baseline)
    groups = [_group(lab, conds[lab], buckets[lab], metric_keys, unit, notes) for lab in labels]
    played = {lab: sorted({r.prompt_version for r in buckets[lab] if r.prompt_version}) for lab in labels}
    hits = {lab: [r.budget for r in buckets[lab] if r.budget] for lab in labels}
    notes += [f"budget: {lab}: {len(h)} of {len(buckets[lab])} run(s) stopped at a set budget ("
              + ", ".join(f"{w} {h.count(w)}" for w in sorted(set(h))) + "); they hold the mix to the end"
              for lab, h in hits.items() if h]
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
    primary_rows = with_holm([_against(g, base_group, primary_key, primary=True, **settings)
                               for g in others], alpha)
    secondary_rows = with_holm([_against(g, base_group, m, primary=False, **settings)
                                 for m in metric_keys[1:] for g in others], alpha)
    return Comparison(
        group_by=keys, metrics=metric_keys, primary=primary_key,
        scorer=identity or prefix, baseline=base, groups=groups,
        tests=primary_rows + secondary_rows, test=test, alpha=alpha, delta=delta, power=power,
        unit=unit, notes=notes + _identical_groups(groups, primary_key),
        duplicates=[r.run_id for r in aside], budget_hits={lab: len(h) for lab, h in hits.items() if h},
    )


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
