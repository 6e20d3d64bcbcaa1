"""The study's three budgets, each a hard stop with its reason recorded, and the forecast printed
before the first call.

``max_metric_calls`` counts sets played (cached evaluations are free; the acceptance test's
extra replicas count), ``max_cost_usd`` what every LM spent (the DJ's sets and the reflection),
``max_wall_s`` the study's wall-clock time. The held-out confirmation after the search is capped
by ``confirm_max_pairs`` instead of ``max_metric_calls``; cost and time still stop it. A resumed study carries on the counts it had. The
budget is asked before every set (:meth:`StudyBudget.admit` raises :class:`BudgetSpent`, which
GEPA logs and the loop ends on) and between iterations (GEPA's stopper protocol).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.config.optimize import OptimizeConfig
from rlmdj.errors import RlmdjError

__all__ = ["BudgetSpent", "StudyBudget", "forecast_lines", "iteration_calls"]


class BudgetSpent(RlmdjError):
    """A budget of the study is spent: no more sets are played."""


def iteration_calls(s: OptimizeConfig) -> int:
    """Sets the first GEPA iteration needs: the start's validation, two minibatches (parent and
    child) and the child's validation."""
    return 2 * s.n_val * s.val_replicas + 2 * s.minibatch


@dataclass
class StudyBudget:
    """What the study has used and may use; ``reason`` says which budget stopped it."""

    s: OptimizeConfig
    played: int = 0
    set_cost_usd: float = 0.0
    prior_reflection_usd: float = 0.0
    prior_wall_s: float = 0.0
    reflection: Any = None  # the ReflectionLM (its cost_usd)
    reason: str | None = None
    confirming: bool = False  # the held-out confirmation: capped by its pairs, not max_metric_calls

    def __post_init__(self) -> None:
        self._t0 = time.monotonic()

    @property
    def wall_s(self) -> float:
        return self.prior_wall_s + time.monotonic() - self._t0

    @property
    def cost_usd(self) -> float:
        spent = float(self.reflection.cost_usd) if self.reflection is not None else 0.0
        return self.set_cost_usd + self.prior_reflection_usd + spent

    def spent(self) -> str | None:
        """The reason a budget is spent, or None."""
        s = self.s
        if not self.confirming and self.played >= s.max_metric_calls:
            return f"max_metric_calls: {self.played} of {s.max_metric_calls} sets played"
        if s.max_cost_usd is not None and self.cost_usd >= s.max_cost_usd:
            return f"max_cost_usd: ${self.cost_usd:.4f} spent of ${s.max_cost_usd:g}"
        if s.max_wall_s is not None and self.wall_s >= s.max_wall_s:
            return f"max_wall_s: {self.wall_s:.0f} s of {s.max_wall_s:g} s"
        return None

    def admit(self) -> None:
        """Raise :class:`BudgetSpent` (recording why) when no more set may be played."""
        why = self.spent()
        if why is not None:
            self.reason = self.reason or why
            raise BudgetSpent(f"budget spent: {why}")

    def record(self, cost_usd: float) -> None:
        self.played += 1
        self.set_cost_usd += float(cost_usd)

    def __call__(self, gepa_state: Any) -> bool:  # GEPA's StopperProtocol
        why = self.spent()
        if why is not None:
            self.reason = self.reason or why
        return why is not None

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        reflection = self.prior_reflection_usd + (float(self.reflection.cost_usd) if self.reflection else 0.0)
        path.write_text(json.dumps({"reflection_usd": reflection, "wall_s": self.wall_s}), encoding="utf-8")

    def load(self, path: Path) -> None:
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            self.prior_reflection_usd, self.prior_wall_s = float(data["reflection_usd"]), float(data["wall_s"])


def forecast_lines(cfg: DictConfig, s: OptimizeConfig) -> list[str]:
    """``optimize forecast: up to N sets × ~Xk tokens, ~$c each (...) = ...`` and the budgets."""
    from rlmdj.experiments.sweep.forecast import _tokens, _usd, estimate_job

    plain: Any = OmegaConf.to_container(cfg, resolve=True)
    plain["bars"] = s.bars
    est = estimate_job(OmegaConf.create(plain))
    n = s.max_metric_calls
    lines = []
    if est is not None:
        total = None if est.cost_usd is None else est.cost_usd * n
        lines.append(f"optimize forecast: up to {n} sets × ~{_tokens(est.tokens)} tokens, ~{_usd(est.cost_usd)} each "
                     f"({s.bars} bars; {est.source}) = ~{_tokens(est.tokens * n)} tokens, ~{_usd(total)}, "
                     f"plus about {max(1, n // max(1, 2 * s.minibatch))} reflection calls")
    lines.append(f"optimize forecast: then at most {2 * s.confirm_max_pairs} sets of held-out confirmation "
                 f"(confirm_max_pairs={s.confirm_max_pairs}, two sets a pair)")
    budgets = [f"max_metric_calls={n}"]
    if s.max_cost_usd is not None:
        budgets.append(f"max_cost_usd={s.max_cost_usd:g}")
    if s.max_wall_s is not None:
        budgets.append(f"max_wall_s={s.max_wall_s:g}")
    lines.append("optimize budgets (hard stops): " + ", ".join(budgets))
    return lines
