"""The LLM critic: every 16 bars a (cheaper) model reads the last bars and gives one direction.

The critic is phase-aware (it is told where the set is and what comes next) and answers with
one actionable direction of at most ``max_chars`` characters. A critic failure never stops the
set: the tool result simply carries no critic note and the failure is counted — except a replay
divergence, which must surface. A spent set budget silences it without counting a failure.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import dspy

from rlmdj.config.dj import GuardrailsConfig
from rlmdj.dj.rlm.budget import BudgetReached
from rlmdj.dj.rlm.replay import ReplayDivergence

__all__ = ["Critic", "CriticSignature"]

log = logging.getLogger(__name__)


class CriticSignature(dspy.Signature):
    """You coach a techno DJ who cannot hear the music and only sees mixer settings.
    Read where the set is and what played recently, then give ONE concrete direction for the
    next bars (a fader level, a pattern name, a layer to add or remove, or "hold"). Respect the
    phase: build adds, peak holds and varies little, strip and outro remove. No preamble."""

    position: str = dspy.InputField(desc="bars played / total, current phase, next phase, target energy")
    recent_bars: str = dspy.InputField(desc="JSON: sampled recent bars with energy and layers (gain, pattern)")
    direction: str = dspy.OutputField(desc="one direction, at most 300 characters")


class Critic:
    """Callable ``summary -> direction`` over ``lm`` (``dspy.Predict`` with an explicit LM,
    so it works from the sandbox's tool thread without global DSPy settings)."""

    def __init__(self, lm: dspy.BaseLM, *,
                 max_chars: int = GuardrailsConfig.critic_max_chars) -> None:
        self.lm = lm
        self.max_chars = int(max_chars)
        self.predict = dspy.Predict(CriticSignature)
        self.calls = 0
        self.errors = 0

    def __call__(self, summary: dict[str, Any]) -> str:
        self.calls += 1
        position = (
            f"{summary['bars_played']}/{summary['max_bars']} bars played; phase {summary['phase']}, "
            f"next {summary['next_phase']}; target energy next {summary['target_energy_next']}"
        )
        try:
            out = self.predict(lm=self.lm, position=position,
                               recent_bars=json.dumps(summary["recent_bars"]))
            text = " ".join(str(out.direction).split())
        except ReplayDivergence:
            raise
        except BudgetReached:
            return ""  # the set's budget is spent: no request went out, and no note comes back
        except Exception as exc:  # noqa: BLE001 - the set goes on without a critic note
            self.errors += 1
            log.warning("critic failed: %s: %s", type(exc).__name__, exc)
            return ""
        return text[: self.max_chars]
