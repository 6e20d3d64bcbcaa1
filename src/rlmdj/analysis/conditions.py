"""The design a comparison reads from its runs: conditions, the scorer, the unit of replication.

:func:`rlmdj.analysis.compare.compare` asks these questions before any statistic is computed:

- **which scorer** (:func:`choose_scorer`, :func:`one_scorer`) — runs may hold several scorers'
  metrics; one prefix is compared, and identities that differ are never pooled;
- **which metrics** (:func:`metrics_for`) — the primary first, then the other axes;
- **which keys define a condition** (:func:`varying_keys`, :func:`palette_rule`) — bookkeeping
  keys (:func:`is_bookkeeping`) and keys outside the config hash never do, keys that vary
  together are shown once, and palettes are never pooled;
- **what a condition is called** (:func:`condition_label`, :func:`condition_value`) and which one
  is the baseline (:func:`resolve_baseline`, also used by the sequential sweep to order its
  conditions before any job);
- **what a replica is** (:func:`unit_of`) — replica index + palette, or the palette.
"""

from __future__ import annotations

import math
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence

from rlmdj.analysis.records import RunRecord
from rlmdj.axes import OBJ_AND_AXES
from rlmdj.config.experiment import CompareConfig
from rlmdj.errors import ParameterError

__all__ = [
    "BOOKKEEPING_KEYS",
    "BOOKKEEPING_PREFIXES",
    "choose_scorer",
    "condition_label",
    "condition_value",
    "filter_override",
    "is_bookkeeping",
    "metrics_for",
    "not_finite",
    "one_scorer",
    "palette_rule",
    "resolve_baseline",
    "unit_of",
    "varying_keys",
]

BOOKKEEPING_PREFIXES: tuple[str, ...] = ("experiment.", "paths.", "tracking.", "hydra.", "serve.")
BOOKKEEPING_KEYS: frozenset[str] = frozenset({"progress", "replica", "seed"})


def condition_label(condition: Mapping[str, str], keys: Sequence[str] | None = None) -> str:
    """``k=v,k2=v2`` in ``keys`` order (or sorted), the label a condition is shown and matched by."""
    keys = list(keys) if keys is not None else sorted(condition)
    return ",".join(f"{k}={condition.get(k, '')}" for k in keys) or "all"


def is_bookkeeping(key: str) -> bool:
    """True for keys that say how a run was carried out and filed, never what it played."""
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


def filter_override(tag: str, value: str) -> str:
    """``experiment.compare.filter=...`` selecting runs whose ``tag`` is ``value``, quoted so a
    shell passes it whole and Hydra's override parser reads it as one string (the backticks
    MLflow needs around dotted keys would otherwise run as a shell command)."""
    where = 'tags.`{}` = "{}"'.format(tag, value.replace('"', '\\"'))
    return shlex.quote('experiment.compare.filter="{}"'.format(where.replace('"', '\\"')))


def choose_scorer(records: Sequence[RunRecord], *, primary: str = CompareConfig.primary,
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


def metrics_for(records: Sequence[RunRecord], metrics: Sequence[str] | None,
                primary: str, prefix: str) -> tuple[list[str], str]:
    """(metric keys, the primary one first; the primary key): ``metrics`` or OBJ and every axis,
    under ``prefix`` unless a key names its own scorer."""
    full = primary if "/" in primary else f"{prefix}/{primary}"
    wanted = [m if "/" in m else f"{prefix}/{m}" for m in metrics] if metrics else \
        [f"{prefix}/{a}" for a in OBJ_AND_AXES]
    known = {k for r in records for k in r.metrics}
    if full not in known:
        raise ParameterError(
            f"experiment.compare.primary={primary!r}: no run has metric {full!r}; "
            f"choose one of {', '.join(OBJ_AND_AXES)}"
        )
    return [full, *[m for m in wanted if m != full]], full


def one_scorer(records: Sequence[RunRecord], prefix: str) -> tuple[list[RunRecord], str | None, list[str]]:
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


def not_finite(records: Sequence[RunRecord], metric: str) -> list[str]:
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


def condition_value(r: RunRecord, key: str) -> str | None:
    """A condition key's value in a run: its sweep tag, else its param (``dj`` → ``dj.name``)."""
    if key in r.condition:
        return str(r.condition[key])
    for k in (key, f"{key}.name", f"{key}.driver"):
        if k in r.params:
            return str(r.params[k])
    return None


def varying_keys(records: Sequence[RunRecord], *, unit: str) -> tuple[list[str], list[str]]:
    """Config keys that differ between runs (bookkeeping left out), one per co-varying set."""
    keys = sorted({k for r in records for k in r.params})
    seen: dict[tuple[str | None, ...], str] = {}
    merged: list[str] = []
    for k in keys:
        if is_bookkeeping(k) or (unit == "palette" and k.startswith("palette")):
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


def resolve_baseline(labels: Sequence[str], conditions: Sequence[Mapping[str, str]], baseline: str | None) -> str:
    """The label ``experiment.compare.baseline`` names: a label, ``k=v`` pairs, or a bare value
    (unset: the first label); one that fits no condition, or several, is an error listing them."""
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


def unit_of(r: RunRecord, unit: str) -> tuple[str, str]:
    """(key, display name) of the unit of replication a run belongs to."""
    palette = r.palette_hash or r.palette or "?"
    shown = r.palette or palette[:8]
    if unit == "palette":
        return palette, f"palette {shown}"
    replica = "?" if r.replica is None else str(r.replica)
    return f"{replica}|{palette}", f"replica {replica}" + (f" ({shown})" if shown != "?" else "")


def palette_rule(keys: list[str], records: list[RunRecord], unit: str,
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
