"""Search under noise: ask trials, evaluate each on the same replicas, tell the mean; then confirm.

The loop knows neither Hydra nor a launcher: it hands :class:`Job` lists to an ``evaluate``
callable (the sweeper launches them; the benchmark computes a synthetic objective) and gets one
value per job back (``None`` or NaN: that job failed).

- :func:`search` — batches of ``n_jobs`` trials (Optuna's ask/tell); trial ``t``'s jobs are
  replicas ``0..replicas-1``, the same for every trial (common random numbers: replica ``r`` has
  the same palette and seed everywhere, so trials differ by their settings, not their draws). The
  trial's value is the mean over replicas; the values and their SD are its user attributes. A
  trial with a failed job is told FAIL and the study goes on. Interrupted (Ctrl-C, SIGTERM), the
  batch's trials are told FAIL with ``rlmdj.interrupted`` and re-asked when the study resumes;
  the budget ``n_trials`` counts completed and really failed trials only.
- :func:`confirm` — the best trial against the baseline (the configuration without the searched
  settings) on fresh replicas (``first_replica`` on, none used by the search), paired by replica
  and analysed after each round as the sequential sweeper analyses a contrast (the anytime-valid
  confidence sequence, its running intersection and the stopping rule of
  :mod:`rlmdj.analysis.sequential`, with the sequential sweeper's settings): choosing the best of many noisy trials overstates it
  (the winner's curse), so only fresh replicas can say whether it is really better.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rlmdj.analysis.sequential import (
    CONTINUE,
    DIFFERENT,
    EQUIVALENT,
    UNDECIDED,
    confidence_sequence,
    decide,
)
from rlmdj.search.study import INTERRUPTED_ATTR

__all__ = ["BASELINE", "BEST", "TRIAL", "Confirmation", "Job", "Rounds", "TrialResult", "confirm",
           "counted_trials", "requeue_interrupted", "search"]

TRIAL, BASELINE, BEST = "trial", "baseline", "best"
RETRY_ATTR = "rlmdj.retry_of"  # user attr of a trial re-asked for an interrupted one


@dataclass(frozen=True)
class Job:
    """One evaluation: a trial's (or the confirmation's baseline or best) configuration at ``replica``."""

    role: str
    replica: int
    params: Mapping[str, Any] = field(default_factory=dict)  # empty for the baseline
    trial: int | None = None


Evaluate = Callable[[list[Job]], Sequence[float | None]]


@dataclass
class TrialResult:
    """A told trial: its values per replica, mean and SD, or why it failed."""

    number: int
    params: dict[str, Any]
    values: list[float | None]
    state: str  # COMPLETE or FAIL
    reason: str = ""

    @property
    def mean(self) -> float:
        ok = [v for v in self.values if v is not None]
        return statistics.fmean(ok) if ok and self.state == "COMPLETE" else math.nan

    @property
    def sd(self) -> float:
        ok = [v for v in self.values if v is not None]
        return statistics.stdev(ok) if len(ok) > 1 and self.state == "COMPLETE" else math.nan


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def counted_trials(study: Any) -> int:
    """Trials that use the budget: completed, and failed other than by an interruption."""
    from optuna.trial import TrialState

    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state == TrialState.COMPLETE
               or (t.state == TrialState.FAIL and not t.user_attrs.get(INTERRUPTED_ATTR)))


def requeue_interrupted(study: Any) -> int:
    """Enqueue, once, the parameters of every interrupted trial not yet asked again; how many."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_ATTR) for t in trials}
    n = 0
    for t in trials:
        if t.state == TrialState.FAIL and t.user_attrs.get(INTERRUPTED_ATTR) and t.number not in retried:
            study.enqueue_trial(dict(t.params), user_attrs={RETRY_ATTR: t.number})
            n += 1
    return n


def _tell(study: Any, trial: Any, values: Sequence[Any]) -> TrialResult:
    """Tell the trial its mean over replicas, or FAIL when a replica has no value."""
    from optuna.trial import TrialState

    from rlmdj.search.study import quiet

    mine = [_finite(v) for v in values]
    failed = [r for r, v in enumerate(mine) if v is None]
    result = TrialResult(trial.number, dict(trial.params), mine, "FAIL" if failed else "COMPLETE",
                         f"replica {failed[0]} returned no value" if failed else "")
    trial.set_user_attr("replica_values", mine)
    with quiet():
        if failed:
            trial.set_user_attr("fail_reason", result.reason)
            study.tell(trial, state=TrialState.FAIL)
        else:
            trial.set_user_attr("sd", None if math.isnan(result.sd) else result.sd)
            study.tell(trial, result.mean)
    return result


def search(study: Any, distributions: Mapping[str, Any], evaluate: Evaluate, *, n_trials: int, n_jobs: int = 1,
           replicas: int = 1, on_trial: Callable[[TrialResult], None] | None = None,
           asking: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
           ) -> list[TrialResult]:
    """Run trials until ``n_trials`` count (see :func:`counted_trials`); returns this call's trials.

    ``asking`` wraps each batch's asks: a caller that holds interrupts there (the sweeper) never
    leaves a trial created in the study but not yet in hand, which nothing would end.
    """
    from optuna.trial import TrialState

    from rlmdj.search.study import quiet

    results: list[TrialResult] = []
    while (left := n_trials - counted_trials(study)) > 0:
        batch: list[Any] = []
        told: set[int] = set()
        try:
            with quiet(), asking():
                for _ in range(min(n_jobs, left)):
                    batch.append(study.ask(dict(distributions)))
            jobs = [Job(TRIAL, r, dict(t.params), t.number) for t in batch for r in range(replicas)]
            values = list(evaluate(jobs))
            for i, t in enumerate(batch):
                result = _tell(study, t, values[i * replicas:(i + 1) * replicas])
                told.add(t.number)
                results.append(result)
                if on_trial is not None:
                    on_trial(result)
        except BaseException:
            for t in batch:  # nothing stays RUNNING; the resumed study asks these again
                if t.number not in told:
                    with contextlib.suppress(Exception):  # told already, just before the signal
                        t.set_user_attr(INTERRUPTED_ATTR, True)
                    study.tell(t, state=TrialState.FAIL, skip_if_finished=True)
            raise
    return results


class Rounds(Protocol):
    """The confirmation's rounds and error rates: the sequential sweeper's settings
    (:class:`~rlmdj.experiments.sweep.sequential.SequentialSettings`, checked there)."""

    delta: float
    alpha: float
    prior_effect: float

    def schedule(self) -> list[int]: ...


@dataclass
class Confirmation:
    """The best trial against the baseline on fresh replicas, round by round."""

    best_number: int
    best_params: dict[str, Any]
    direction: str
    first_replica: int
    delta: float
    alpha: float
    values: dict[str, dict[int, float]] = field(default_factory=lambda: {BASELINE: {}, BEST: {}})
    rounds: list[dict[str, Any]] = field(default_factory=list)
    low: float = -math.inf
    high: float = math.inf
    decision: str = CONTINUE  # different / equivalent / undecided, as the sequential sweeper's

    @property
    def last(self) -> dict[str, Any]:
        return self.rounds[-1] if self.rounds else {"n": 0, "mean": math.nan, "replicas": 0}

    @property
    def outcome(self) -> str:
        """``better``, ``worse``, ``equivalent`` or ``undecided`` (in the study's direction)."""
        if self.decision == DIFFERENT:
            up = self.low > 0
            return "better" if up == (self.direction == "maximize") else "worse"
        return {EQUIVALENT: "equivalent"}.get(self.decision, "undecided")

    def sentence(self, metric: str = "OBJ", params: str = "") -> str:
        """The verdict: is the winner really better, by how much, with what interval."""
        n, mean = int(self.last["n"]), float(self.last["mean"])
        level = f"{100 * (1 - self.alpha):g}%"
        cs = f"{level} confidence sequence [{_num(self.low, True)}, {_num(self.high, True)}]"
        who = f"trial #{self.best_number}" + (f" ({params})" if params else "")
        head = {"better": "confirmed better than the baseline",
                "worse": "worse than the baseline",
                "equivalent": f"not better: equivalent to the baseline within ±{self.delta:g} {metric}",
                "undecided": "not shown better than the baseline (undecided)"}[self.outcome]
        return (f"{who} {head}: {_num(mean, True)} {metric} on {n} fresh paired replicas "
                f"(replicas {self.first_replica}..{self.first_replica + max(n, 1) - 1}), {cs}")


def confirm(evaluate: Evaluate, *, best_number: int, best_params: Mapping[str, Any], direction: str,
            first_replica: int, settings: Rounds,
            on_round: Callable[[Confirmation], None] | None = None) -> Confirmation:
    """Rounds of fresh paired replicas of baseline and best until the difference is decided.

    The interval is an anytime-valid confidence sequence for the mean of best − baseline, so
    looking after every round keeps the error rate at ``alpha`` (the sequential sweeper's rule);
    its running intersection is kept, as there. ``max_replicas`` bounds the rounds.
    """
    s = settings
    result = Confirmation(best_number, dict(best_params), direction, first_replica, s.delta, s.alpha)
    done = 0
    for target in s.schedule():
        replicas = [first_replica + r for r in range(done, target)]
        jobs = [job for r in replicas for job in (Job(BASELINE, r), Job(BEST, r, dict(best_params), best_number))]
        values = list(evaluate(jobs))
        for job, value in zip(jobs, values, strict=True):
            v = _finite(value)
            result.values[job.role][job.replica] = math.nan if v is None else v
        done = target
        base, best = result.values[BASELINE], result.values[BEST]
        pairs = [best[r] - base[r] for r in sorted(best) if math.isfinite(best[r]) and math.isfinite(base[r])]
        cs = confidence_sequence(pairs, alpha=s.alpha, prior_effect=s.prior_effect)
        result.low, result.high = max(result.low, cs.low), min(result.high, cs.high)
        if result.decision == CONTINUE:
            result.decision = decide(result.low, result.high, delta=s.delta)
        result.rounds.append({"replicas": target, "n": cs.n, "mean": cs.mean, "sd": cs.sd,
                              "low": result.low, "high": result.high, "decision": result.decision})
        if on_round is not None:
            on_round(result)
        if result.decision != CONTINUE:
            break
    if result.decision == CONTINUE:
        result.decision = UNDECIDED
        result.rounds[-1]["decision"] = UNDECIDED
    return result


def _num(x: float, signed: bool = False) -> str:
    if math.isinf(x):
        return "−∞" if x < 0 else "+∞"
    if not math.isfinite(x):
        return "–"
    return (f"{x:+.2f}" if signed else f"{x:.2f}").replace("-", "−")
