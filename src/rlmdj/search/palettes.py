"""The palette search's side of Optuna: one choice per role, trials as palettes, the ask/tell loop.

- :func:`palette_space` — each role's choices: the samples of that role and the kind its slot
  needs (loops for loop roles, one-shots for the others), as :func:`random_palette` draws them.
- :class:`PaletteStudy` — an Optuna study over that space: :meth:`~PaletteStudy.ask` a palette,
  :meth:`~PaletteStudy.tell` its OBJ and axis scores (kept as the trial's user attributes, so a
  resumed study still has them), :meth:`~PaletteStudy.fail` it with the reason, and the ranked
  :meth:`~PaletteStudy.rows` of every completed trial.
- :func:`run_trials` — asks as many trials as the :class:`Evaluator` has slots and asks again as
  each is told, so the worker processes never wait for a round's slowest palette. A failed
  evaluation is told FAIL and the study goes on; interrupted, the trials in flight are told FAIL
  (``rlmdj.interrupted``) and asked again when the study resumes (:mod:`rlmdj.search.loop`).
- :func:`curated_starts` — the best palettes already curated that fit the space, to enqueue first.

Nothing here renders or scores: the job's evaluator does, in its worker processes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rlmdj.audio.samples import SampleIndex, required_kind
from rlmdj.errors import ParameterError
from rlmdj.search.space import Param, distributions
from rlmdj.search.study import INTERRUPTED_ATTR, quiet

__all__ = ["ERROR_ATTR", "PALETTE_SAMPLERS", "SCORES_ATTR", "Evaluator", "Outcome", "PaletteStudy", "Scored",
           "TrialRow", "curated_starts", "palette_space", "run_trials", "trial_name"]

PALETTE_SAMPLERS = ("tpe", "random")  # CMA-ES models numbers; a palette is one choice per role
SCORES_ATTR = "scores"  # user attr: the trial's axis scores
ERROR_ATTR = "error"  # user attr: why a failed trial failed


@dataclass(frozen=True)
class Scored:
    """What evaluating one palette gave: its OBJ and axis scores."""

    obj: float
    scores: dict[str, float]


Outcome = Scored | BaseException


@dataclass(frozen=True)
class TrialRow:
    """A completed trial: its number, OBJ, axis scores and palette."""

    number: int
    obj: float
    scores: dict[str, float]
    samples: dict[str, str]


def trial_name(number: int) -> str:
    """The palette name of trial ``number`` (``trial-0007``)."""
    return f"trial-{number:04d}"


def palette_space(index: SampleIndex, roles: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Role → the sample ids its slot can hold; one line naming ``palette.roles`` when a role has none."""
    if not roles:
        raise ParameterError("palette.roles is empty: the search needs at least one role, "
                             "e.g. palette.roles=[kick,hihat,bassline]")
    space: dict[str, tuple[str, ...]] = {}
    for role in roles:
        kind = required_kind(role)
        ids = index.ids(role=role, kind=kind)
        if not ids:
            raise ParameterError(f"palette.roles: no {kind} sample with role {role!r} to search; add one to "
                                 f"samples.paths or enable the built-in pack, or drop {role!r} from palette.roles")
        space[str(role)] = tuple(ids)
    return space


class PaletteStudy:
    """An Optuna study whose trials are palettes of ``space`` (role → choices)."""

    def __init__(self, study: Any, space: Mapping[str, Sequence[str]]) -> None:
        self.study = study
        self.roles = list(space)
        self.distributions = distributions([Param(key=role, kind="choice", choices=tuple(ids),
                                                  where=f"palette.roles.{role}") for role, ids in space.items()])
        self._open: dict[int, Any] = {}

    def ask(self) -> tuple[int, dict[str, str]]:
        """A new trial: its number and palette (an enqueued palette first)."""
        with quiet():
            trial = self.study.ask(self.distributions)
        self._open[trial.number] = trial
        return trial.number, {role: str(trial.params[role]) for role in self.roles}

    def tell(self, number: int, outcome: Outcome) -> None:
        """Tell trial ``number`` its OBJ (and keep its scores), or FAIL with the reason."""
        from optuna.trial import TrialState

        trial = self._open.pop(number)
        with quiet():
            if isinstance(outcome, Scored) and math.isfinite(outcome.obj):
                trial.set_user_attr(SCORES_ATTR, {k: float(v) for k, v in outcome.scores.items()})
                self.study.tell(trial, float(outcome.obj))
                return
            why = outcome if isinstance(outcome, BaseException) else f"OBJ is {outcome.obj}"
            trial.set_user_attr(ERROR_ATTR, _reason(why))
            self.study.tell(trial, state=TrialState.FAIL)

    def interrupt(self) -> None:
        """Trials in flight become FAIL (``rlmdj.interrupted``): a resumed study asks them again."""
        from optuna.trial import TrialState

        for number in list(self._open):
            trial = self._open.pop(number)
            with quiet():
                trial.set_user_attr(INTERRUPTED_ATTR, True)
                self.study.tell(trial, state=TrialState.FAIL)

    def enqueue(self, palettes: Iterable[Mapping[str, str]]) -> int:
        """Try these palettes first (a palette already waiting is not queued twice); how many were offered."""
        n = 0
        for samples in palettes:
            with quiet():
                self.study.enqueue_trial({role: samples[role] for role in self.roles}, skip_if_exists=True)
            n += 1
        return n

    def rows(self) -> list[TrialRow]:
        """Every completed trial, best OBJ first (ties: the earlier trial)."""
        from optuna.trial import TrialState

        done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        rows = [TrialRow(t.number, float(t.value), dict(t.user_attrs.get(SCORES_ATTR) or {}),
                         {role: str(t.params[role]) for role in self.roles if role in t.params}) for t in done]
        return sorted(rows, key=lambda r: (-r.obj, r.number))

    def failed(self) -> int:
        """Trials that failed other than by an interruption."""
        from optuna.trial import TrialState

        return sum(1 for t in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                   if not t.user_attrs.get(INTERRUPTED_ATTR))


def _reason(error: BaseException | str) -> str:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    return " ".join(text.split())[:500]


class Evaluator(Protocol):
    """Evaluates palettes, ``slots`` at a time: :meth:`submit` starts one, :meth:`collect` waits
    for at least one and returns ``(trial number, outcome)`` for each that finished."""

    slots: int

    def submit(self, number: int, samples: Mapping[str, str]) -> None: ...

    def collect(self) -> list[tuple[int, Outcome]]: ...


def run_trials(study: PaletteStudy, n: int, evaluator: Evaluator,
               on_told: Callable[[int, Outcome], None] | None = None) -> None:
    """Ask, evaluate and tell ``n`` more trials, keeping ``evaluator.slots`` palettes in flight."""
    asked = told = 0
    try:
        while told < n:
            while asked < n and asked - told < max(1, evaluator.slots):
                number, samples = study.ask()
                evaluator.submit(number, samples)
                asked += 1
            for number, outcome in evaluator.collect():
                study.tell(number, outcome)
                told += 1
                if on_told is not None:
                    on_told(number, outcome)
    except BaseException:
        study.interrupt()
        raise


def curated_starts(folder: str | Path, space: Mapping[str, Sequence[str]], *, scorer: str, bars: int,
                   limit: int) -> list[dict[str, str]]:
    """Up to ``limit`` curated palettes that fit ``space``, best first: those judged by ``scorer``
    at ``bars`` bars ranked by their recorded OBJ, then the others by theirs.

    A palette fits when every searched role holds one of its choices (other roles are ignored).
    Files that are not palettes, or record no OBJ, are skipped.
    """
    found: list[tuple[tuple[bool, float], dict[str, str]]] = []
    seen: set[tuple[str, ...]] = set()
    for path in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            samples, meta = dict(data["samples"]), dict(data.get("meta") or {})
            obj = float(meta["OBJ"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if not math.isfinite(obj) or any(samples.get(role) not in choices for role, choices in space.items()):
            continue
        key = tuple(str(samples[role]) for role in space)
        if key in seen:
            continue
        seen.add(key)
        judged_alike = meta.get("scorer") == scorer and meta.get("bars") == bars
        found.append(((not judged_alike, -obj), {role: str(samples[role]) for role in space}))
    found.sort(key=lambda item: item[0])
    return [samples for _, samples in found[:max(0, limit)]]
