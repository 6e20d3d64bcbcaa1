"""Sequential replicas: run a sweep's conditions in rounds and stop as soon as the answer is clear.

``rlmdj -m hydra/sweeper=sequential dj=reference,random`` runs replicas 0..min_replicas-1 of
every condition, then ``round_size`` more per round, until every condition is decided against
the baseline or ``max_replicas`` is reached. Baseline and metric are the comparison's own,
``experiment.compare.baseline`` (default: the first condition) and ``experiment.compare.primary``
(default OBJ), so the stopping verdict and the fixed-n verdicts printed with it answer the same
question. The decision uses an anytime-valid confidence sequence for the paired mean difference
(see :mod:`rlmdj.analysis.sequential`), so looking after every round keeps the error rate at alpha.

- :func:`plan` — conditions (job overrides) from the sweep's overrides; refuses plans that cannot
  be analysed (fewer than two conditions, a swept ``replica`` or palette).
- :func:`baseline_first` — the conditions with ``experiment.compare.baseline``'s first;
  :func:`sequential_primary` — the metric the rounds are decided on (``experiment.compare.primary``).
- :class:`SequentialState` — the per-round record: values by condition and replica, each
  contrast's running confidence sequence and decision, the stop reason and verdict sentences.

The Hydra plugin (``hydra_plugins.rlmdj_sequential``) wraps this around whichever launcher is
configured; the job returns OBJ, which is what the rounds are analysed on unless
``experiment.compare.primary`` names another axis (then read from the job's run in the store).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

from rlmdj.analysis.sequential import (
    CONTINUE,
    DIFFERENT,
    EQUIVALENT,
    UNDECIDED,
    confidence_sequence,
    decide,
)
from rlmdj.config.bind import bind
from rlmdj.config.core import TrackingConfig
from rlmdj.config.experiment import CompareConfig, SequentialSettings
from rlmdj.errors import ParameterError

__all__ = ["Condition", "SequentialSettings", "SequentialState", "baseline_first", "compare_of", "plan",
           "sequential_primary",
           "SEQUENTIAL_TARGET"]

SEQUENTIAL_TARGET = "hydra_plugins.rlmdj_sequential.sequential_sweeper.SequentialSweeper"
_BOOKKEEPING = ("hydra.", "hydra/", "tracking.", "paths.", "progress", "experiment.")


@dataclass(frozen=True)
class Condition:
    """One condition: its label (``dj=random``) and the job overrides that make it."""

    label: str
    overrides: list[str]


def plan(overrides: list[str]) -> tuple[list[Condition], list[str]]:
    """(conditions, fixed overrides) from a sweep's overrides; refuses what cannot be analysed."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    swept: list[list[str]] = []
    keys: list[str] = []
    fixed: list[str] = []
    for o in parsed:
        key = o.get_key_element()
        name = o.key_or_group
        if name == "replica":
            raise ParameterError("the sequential sweeper chooses the replicas: remove replica=... from the "
                                 "command line (set hydra.sweeper.min_replicas / max_replicas instead)")
        if o.is_sweep_override():
            if not o.is_discrete_sweep():
                raise ParameterError(f"{key}: the sequential sweeper takes comma lists or range(), not "
                                     f"{o.value_type.name if o.value_type else 'this sweep'}")
            if name.startswith("palette"):
                raise ParameterError(f"{key} is swept: conditions must share replica r's palette to be paired; "
                                     "run one sequential sweep per palette instead")
            values = [f"{key}={v}" for v in o.sweep_string_iterator()]
            if name.startswith(_BOOKKEEPING):
                fixed_values = values[:1]
                fixed += fixed_values
                continue
            swept.append(values)
            keys.append(name)
        else:
            fixed.append(f"{key}={o.get_value_element_as_str()}")
    conditions = [Condition(",".join(item.split("=", 1)[0].lstrip("+~") + "=" + item.split("=", 1)[1]
                                     for item in combo), list(combo))
                  for combo in itertools.product(*swept)] if swept else []
    if len(conditions) < 2:
        raise ParameterError(
            "a sequential sweep compares conditions: sweep at least two, e.g. "
            "rlmdj -m hydra/sweeper=sequential dj=reference,random"
            + (f" (got only {conditions[0].label})" if conditions else " (nothing is swept)")
        )
    return conditions, fixed


def baseline_first(conditions: list[Condition], baseline: str | None) -> list[Condition]:
    """``conditions`` with the one ``experiment.compare.baseline`` names first (unset: as given).

    Matched as the sweep's comparison matches it (a label, ``key=value`` pairs or a bare value),
    so a name that fits no condition, or several, is the same one-line error, before any job.
    """
    if not baseline:
        return list(conditions)
    from rlmdj.analysis.conditions import resolve_baseline

    labels = [c.label for c in conditions]
    values = [dict(_key_value(o) for o in c.overrides) for c in conditions]
    chosen = resolve_baseline(labels, values, str(baseline))
    return sorted(conditions, key=lambda c: c.label != chosen)  # stable: the others keep their order


def compare_of(config: Any) -> CompareConfig:
    """The sweep's ``experiment.compare`` settings, whose baseline and metric the rounds share."""
    from omegaconf import OmegaConf

    return bind(OmegaConf.select(config, "experiment.compare"), CompareConfig, "experiment.compare")


def sequential_primary(config: Any) -> str:
    """``experiment.compare.primary`` as the rounds analyse it: OBJ (what jobs return), another axis
    (``CE``) or a full metric name (``audiobox/OBJ``), which are read from the jobs' runs."""
    from omegaconf import OmegaConf

    from rlmdj.axes import OBJ_AND_AXES

    primary = str(compare_of(config).primary or CompareConfig.primary)
    if primary.rsplit("/", 1)[-1] not in OBJ_AND_AXES:
        raise ParameterError(f"experiment.compare.primary={primary}: choose one of {', '.join(OBJ_AND_AXES)} "
                             "(or <scorer>/<axis>)")
    if primary != "OBJ" and not OmegaConf.select(config, "tracking.enabled", default=TrackingConfig.enabled):
        raise ParameterError(f"experiment.compare.primary={primary}: a sequential sweep reads it from the "
                             "jobs' runs; turn tracking on (tracking.enabled=true) or use experiment.compare.primary=OBJ")
    return primary


def _key_value(override: str) -> tuple[str, str]:
    key, value = override.split("=", 1)
    return key.lstrip("+~"), value


@dataclass
class SequentialState:
    """What the sweep has seen and decided, round by round (saved as ``sequential.json``)."""

    settings: SequentialSettings
    conditions: list[str]
    values: dict[str, dict[int, float]] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    decisions: dict[str, str] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    metric: str = "OBJ"  # what the values are (experiment.compare.primary), for the verdicts

    @property
    def baseline(self) -> str:
        return self.conditions[0]

    @property
    def contrasts(self) -> list[str]:
        return self.conditions[1:]

    def record(self, condition: str, replica: int, value: float | None) -> None:
        self.values.setdefault(condition, {})[replica] = float(value) if value is not None else math.nan

    def analyse(self, replicas: int) -> bool:
        """Update every contrast after a round that brought each condition to ``replicas``; True = stop."""
        s = self.settings
        alpha = s.alpha / max(1, len(self.contrasts))  # Bonferroni across the contrasts
        base = self.values.get(self.baseline, {})
        entry: dict[str, Any] = {"replicas": replicas, "contrasts": {}}
        for cond in self.contrasts:
            mine = self.values.get(cond, {})
            shared = sorted(r for r in mine if r in base and math.isfinite(mine[r]) and math.isfinite(base[r]))
            cs = confidence_sequence([mine[r] - base[r] for r in shared], alpha=alpha, prior_effect=s.prior_effect)
            lo, hi = self.intervals.get(cond, (-math.inf, math.inf))
            lo, hi = max(lo, cs.low), min(hi, cs.high)  # the running intersection is a CS too
            self.intervals[cond] = (lo, hi)
            if self.decisions.get(cond, CONTINUE) == CONTINUE:
                self.decisions[cond] = decide(lo, hi, delta=s.delta)
            entry["contrasts"][cond] = {"n": cs.n, "mean": cs.mean, "low": lo, "high": hi,
                                        "decision": self.decisions[cond]}
        self.rounds.append(entry)
        if all(self.decisions.get(c) in (DIFFERENT, EQUIVALENT) for c in self.contrasts):
            self.stop_reason = "decided"
            return True
        if replicas >= s.max_replicas:
            for c in self.contrasts:
                if self.decisions.get(c) == CONTINUE:
                    self.decisions[c] = UNDECIDED
            self.stop_reason = "max_replicas"
            return True
        return False

    def verdicts(self) -> list[str]:
        """One sentence per contrast: the decision, the interval, how many replicas it took."""
        out = []
        level = 1 - self.settings.alpha / max(1, len(self.contrasts))
        for cond in self.contrasts:
            lo, hi = self.intervals.get(cond, (-math.inf, math.inf))
            last = self.rounds[-1]["contrasts"].get(cond, {}) if self.rounds else {}
            n, mean = int(last.get("n", 0)), float(last.get("mean", math.nan))
            what = {DIFFERENT: ("higher" if lo > 0 else "lower") + ", different from the baseline",
                    EQUIVALENT: f"equivalent within ±{self.settings.delta:g} {self.metric}",
                    UNDECIDED: f"undecided at max_replicas={self.settings.max_replicas}",
                    }.get(self.decisions.get(cond, CONTINUE), "still running")
            out.append(f"{_short(cond)} vs {_short(self.baseline)}: {_num(mean, True)} {self.metric}, "
                       f"{100 * level:g}% confidence sequence [{_num(lo)}, {_num(hi)}] after {n} paired replicas "
                       f"({len(self.rounds)} round(s)): {what}")
        return out

    def to_json(self) -> str:
        return json.dumps({
            "method": "scale-invariant mixture t confidence sequence (Lai 1976; Wang & Ramdas 2023): "
                      "0.75 at ±prior_effect, 0.20 at ±prior_effect/2, 0.05 N(0, (prior_effect/2)²)",
            "settings": self.settings.__dict__, "metric": self.metric, "baseline": self.baseline,
            "conditions": self.conditions,
            "rounds": self.rounds, "decisions": self.decisions, "stop_reason": self.stop_reason,
            "verdicts": self.verdicts(),
            "values": {c: {str(r): v for r, v in vals.items()} for c, vals in self.values.items()},
        }, indent=2, default=_jsonable)


def _jsonable(x: Any) -> Any:
    return str(x)


def _short(label: str) -> str:
    return label.split("=", 1)[1] if label.count("=") == 1 else label


def _num(x: float, signed: bool = False) -> str:
    if math.isinf(x):
        return "−∞" if x < 0 else "+∞"
    if not math.isfinite(x):
        return "–"
    return (f"{x:+.2f}" if signed else f"{x:.2f}").replace("-", "−")
