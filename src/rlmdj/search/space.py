"""A search space as plain specs, checked once, turned into Optuna distributions.

A :class:`Param` is one searched setting: a ``choice`` among values, or a numeric ``float`` /
``int`` range (``low`` and ``high`` inclusive, an optional ``step``, ``log`` spacing). The Hydra
sweeper builds them from the override grammar (``choice(a,b)``, ``interval(0.1,0.9)``,
``range(1,13)``, ``tag(log, interval(1e-3,1))``); a job can build them directly. :func:`check_space`
refuses what Optuna could not sample, in one line naming the key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlmdj.errors import ParameterError

__all__ = ["KINDS", "Param", "check_space", "distributions", "grid_probe"]

KINDS = ("choice", "float", "int")
_CHOICE_TYPES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Param:
    """One searched setting: ``key`` (a config path or group), its kind and its range or values.

    ``where`` names the setting for error messages (``hydra.sweeper.params.dj.candidates``).
    """

    key: str
    kind: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    where: str = ""

    @property
    def name(self) -> str:
        return self.where or self.key

    def check(self) -> None:
        """One line naming the setting when Optuna could not sample it."""
        if self.kind not in KINDS:
            raise ParameterError(f"{self.name}: unknown kind {self.kind!r} (choice, float, int)")
        if self.kind == "choice":
            if not self.choices:
                raise ParameterError(f"{self.name}: choice() has no values; give two or more, e.g. choice(a,b)")
            bad = [c for c in self.choices if not isinstance(c, _CHOICE_TYPES)]
            if bad:
                raise ParameterError(f"{self.name}: choice values must be strings, numbers, booleans or null, "
                                     f"got {bad[0]!r}")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ParameterError(f"{self.name}: choice({', '.join(map(str, self.choices))}) repeats a value")
            return
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if value is None or isinstance(value, bool) or not math.isfinite(float(value)):
                raise ParameterError(f"{self.name}: the range needs finite bounds, got {bound}={value!r}")
        assert self.low is not None and self.high is not None
        if self.kind == "float" and not self.low < self.high:
            raise ParameterError(f"{self.name}: interval({self.low:g}, {self.high:g}) is empty: lo must be < hi")
        if self.kind == "int" and not self.low <= self.high:
            raise ParameterError(f"{self.name}: range from {self.low:g} to {self.high:g} is empty")
        if self.log and self.low <= 0:
            raise ParameterError(f"{self.name}: tag(log, ...) needs lo > 0, got {self.low:g}")
        if self.step is not None:
            if not self.step > 0:
                raise ParameterError(f"{self.name}: the step must be > 0, got {self.step:g}")
            if self.log:
                raise ParameterError(f"{self.name}: a stepped range cannot also be log-spaced")
        if self.kind == "int" and any(float(v) != int(v) for v in (self.low, self.high, self.step or 1)):
            raise ParameterError(f"{self.name}: an integer range needs whole bounds and step, "
                                 f"got {self.low:g}..{self.high:g}")

    def distribution(self) -> Any:
        """The Optuna distribution (checked first)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        self.check()
        if self.kind == "choice":
            return CategoricalDistribution(list(self.choices))
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            step = int(self.step or 1)
            high = int(self.low) + (int(self.high) - int(self.low)) // step * step
            return IntDistribution(int(self.low), high, step=step, log=self.log)
        return FloatDistribution(float(self.low), float(self.high), step=self.step, log=self.log)

    def probe_values(self) -> list[Any]:
        """Values that show whether the config accepts the whole range: every choice; the ends of a
        range, and the middle of a float one (an integer setting refuses a float draw)."""
        if self.kind == "choice":
            return list(self.choices)
        dist = self.distribution()
        if self.kind == "int":
            return [dist.low, dist.high]
        middle = math.sqrt(dist.low * dist.high) if self.log else (dist.low + dist.high) / 2
        return [dist.low, middle, dist.high]


def check_space(space: Sequence[Param]) -> None:
    """A non-empty space of checked params with distinct keys."""
    if not space:
        raise ParameterError("hydra.sweeper.params: the search space is empty; search at least one setting, "
                             "e.g. rlmdj -m hydra/sweeper=search 'bpm=interval(120,136)'")
    seen: set[str] = set()
    for p in space:
        if p.key in seen:
            raise ParameterError(f"{p.name}: searched twice")
        seen.add(p.key)
        p.check()


def distributions(space: Sequence[Param]) -> dict[str, Any]:
    """``{key: Optuna distribution}`` of a checked space."""
    check_space(space)
    return {p.key: p.distribution() for p in space}


def grid_probe(space: Sequence[Param]) -> list[tuple[str, Any]]:
    """``(key, value)`` pairs to compose one config each (the others at the baseline), so every
    value a trial could draw is checked by the config before the first trial runs."""
    return [(p.key, v) for p in space for v in p.probe_values()]
