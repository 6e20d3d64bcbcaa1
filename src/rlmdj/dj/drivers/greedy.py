"""The greedy DJ: a hearing baseline without an LLM.

Every phrase (``dj.phrase_bars`` bars) it draws ``dj.candidates`` moves from the random DJ's
move generator (:func:`rlmdj.dj.drivers.random.draw_move`), auditions each of them and "hold"
(no move) over the coming phrase with the ears scorer, and commits the best; ties go to the
earlier candidate, so holding wins a tie. Auditions render ahead on forks of the session with
fresh guardrails (:func:`~rlmdj.dj.ears.listener.render_ahead`), so only the committed move
reaches the set and the guardrail counters; the committed moves and the phrase go through the
same tools (:func:`~rlmdj.dj.ears.listener.apply_moves`, ``play``), so the set plays exactly
the candidate that was heard. Seeded by ``seed_for(replica, "greedy_driver")``;
the proxy scorer is deterministic, so one config plays one set. ``dj/moves.json`` records every
phrase's candidates and their scores.

It measures what ears are worth with no LLM noise: same move generator as ``dj=random``, plus
hearing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rlmdj.config.core import RenderConfig
from rlmdj.config.dj import DJConfig
from rlmdj.dj.drivers.base import DriverReport
from rlmdj.dj.drivers.random import draw_args, draw_move
from rlmdj.dj.ears import (
    EarScorer,
    EarScorerSource,
    Move,
    apply_moves,
    need_ear_scorer,
    render_ahead,
    score_stretch,
)
from rlmdj.dj.session import Session
from rlmdj.dj.tools.guardrails import Guardrails
from rlmdj.dj.tools.mixer import ToolLayer
from rlmdj.errors import ParameterError

__all__ = ["GreedyDriver", "check", "from_config"]


class GreedyDriver:
    """Audition ``candidates`` random moves and holding every ``phrase_bars`` bars; commit the best."""

    name = "greedy"

    def __init__(self, *, seed: int, scorer: EarScorer, guardrails: Guardrails | None = None,
                 phrase_bars: int = DJConfig.phrase_bars, candidates: int = DJConfig.candidates,
                 normalize_dbfs: float | None = RenderConfig.normalize_dbfs) -> None:
        for key, value in (("dj.phrase_bars", phrase_bars), ("dj.candidates", candidates)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ParameterError(f"{key} must be a whole number >= 1, got {value!r}")
        self.seed = int(seed)
        self.scorer = scorer
        self.guardrails = guardrails or Guardrails()
        self.phrase_bars = int(phrase_bars)
        self.candidates = int(candidates)
        self.normalize_dbfs = normalize_dbfs
        self.phrases: list[dict[str, Any]] = []
        self.auditions = 0
        self.ears_s = 0.0
        self.operations = 0

    # -------------------------------------------------------------- perform
    def perform(self, session: Session) -> None:
        rng = np.random.default_rng(self.seed)
        layer = ToolLayer(session, self.guardrails, critique=None, hard_stop=False)
        roles = list(session.palette.samples)
        if "kick" in roles:  # a set starts from a pulse, as the random DJ's does
            first = draw_args(session, "add", "kick", rng)
            if first is not None:
                apply_moves(layer, [first])
                self.operations += 1
        while not session.finished:
            n = min(self.phrase_bars, session.remaining)
            proposals = self._propose(session, rng, roles)
            t0 = time.perf_counter()
            scored = [self._audition(session, moves, n) for moves in proposals]
            self.ears_s += time.perf_counter() - t0
            best = max(range(len(scored)), key=lambda i: (scored[i]["OBJ"], -i))
            bar = session.bars_played
            apply_moves(layer, proposals[best])
            self.operations += len(proposals[best])
            layer.render(n, breakdown=False)
            self.phrases.append({
                "bar": bar, "bars": n, "chosen": best,
                "candidates": [{"moves": [[op, *args] for op, args in moves], **s}
                               for moves, s in zip(proposals, scored, strict=True)],
            })

    def _propose(self, session: Session, rng: np.random.Generator, roles: Sequence[str]) -> list[list[Move]]:
        """Hold plus up to ``candidates`` distinct moves (duplicates are drawn again, a few times)."""
        out: list[list[Move]] = [[]]
        seen: set[str] = {"[]"}
        for _ in range(self.candidates * 3):
            if len(out) > self.candidates:
                break
            drawn = draw_move(session, rng, roles)
            if drawn is None:
                break
            key = json.dumps(drawn, default=str)
            if key not in seen:
                seen.add(key)
                out.append([drawn])
        return out

    def _audition(self, session: Session, moves: list[Move], bars: int) -> dict[str, float]:
        audio, _ = render_ahead(session, moves, bars, guardrails=self.guardrails)
        obj, scores = score_stretch(audio, sr=session.grid.sr, scorer=self.scorer,
                                    normalize_dbfs=self.normalize_dbfs)
        self.auditions += 1
        return {"OBJ": round(obj, 4), **{k: round(v, 4) for k, v in scores.items()}}

    # --------------------------------------------------------------- report
    def report(self) -> DriverReport:
        holds = sum(1 for p in self.phrases if p["chosen"] == 0)
        metrics = {
            "dj/operations": float(self.operations),
            "dj/ears_calls": float(self.auditions),
            "dj/greedy_phrases": float(len(self.phrases)),
            "dj/greedy_holds": float(holds),
            "time/ears_s": round(self.ears_s, 4),
        }
        for kind, count in self.guardrails.counts.items():
            metrics[f"dj/guardrail/{kind}"] = float(count)
        return DriverReport(
            metrics=metrics,
            tags={"rlmdj.random_seed": str(self.seed),
                  "dj.ears_scorer": str(getattr(self.scorer, "identity", self.scorer.name))},
            artifacts={"dj/moves.json": json.dumps(self.phrases, indent=1)},
        )


def from_config(cfg: Any, *, ear_scorer: EarScorerSource | None = None) -> GreedyDriver:
    """``dj=greedy``: seeded by ``replica``; hears through ``ear_scorer``, which the run builds
    from ``ears.scorer`` (default: the run's own scorer)."""
    from rlmdj.dj.ears.settings import ears_normalize_dbfs
    from rlmdj.dj.tools.guardrails import guardrails_from_config
    from rlmdj.seeding import seed_for

    return GreedyDriver(
        seed=seed_for(int(cfg.replica), "greedy_driver"),
        scorer=need_ear_scorer(ear_scorer, "dj=greedy"),
        guardrails=guardrails_from_config(cfg.guardrails),
        phrase_bars=int(cfg.dj.phrase_bars),
        candidates=int(cfg.dj.candidates),
        normalize_dbfs=ears_normalize_dbfs(cfg),
    )


def check(cfg: Any) -> None:
    """``dj=greedy``'s preflight: the phrase and the candidates in range, and the tools' checks
    (its moves are the tools'). The ears scorer is the run's to check (``ears.scorer``)."""
    from rlmdj.dj.tools.registry import check_tools
    from rlmdj.validation import number

    number(cfg, "dj.phrase_bars", lo=1, hi=4096, integer=True, example=8)
    number(cfg, "dj.candidates", lo=1, hi=1000, integer=True, example=6)
    check_tools(cfg)
