"""The random baseline DJ: seeded random valid moves through the session and guardrails.

Its moves are the registered DJ tools that carry a ``random_weight``
(:mod:`rlmdj.dj.tools.registry`): it picks one by weight among those with a valid target role,
draws the other arguments from the tools' annotated argument types, and runs the tool function
itself, with the same tool-layer guardrails as the RLM (gain caps, loop type, density ceiling),
so its score is the floor an LLM DJ must beat on the same palette and length. A new tool with a
``random_weight`` becomes a random move with no change here. :func:`draw_move` and
:func:`draw_args` are that move generator, shared with the greedy DJ.
Its randomness comes from ``seed_for(replica, "random_driver")``:
replicas differ, and one config always plays the same set — a source of replica variance for
offline sweeps.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rlmdj.dj.drivers.base import DriverReport
from rlmdj.dj.session import Session
from rlmdj.dj.tools.mixer import TOOLS, ToolLayer
from rlmdj.dj.tools.registry import SKIP, Draw, Tool
from rlmdj.errors import ParameterError

if TYPE_CHECKING:
    from rlmdj.dj.ears import EarScorerSource

__all__ = ["GAIN_RANGES", "MOVE_OPS", "RandomDriver", "apply_move", "draw_args", "draw_move", "from_config"]

# The gain ranges the LLM is given (prompt v7); roles not listed draw from 0.30-0.60.
GAIN_RANGES: Mapping[str, tuple[float, float]] = {
    "kick": (0.82, 1.00),
    "hihat": (0.47, 0.67),
    "bassline": (0.57, 0.77),
    "perc": (0.32, 0.52),
    "texture": (0.28, 0.48),
    "clap": (0.37, 0.57),
}


def _moves() -> list[Tool]:
    return [spec for spec in TOOLS.values() if spec.random_weight > 0]


#: The built-in tools the move generator draws (``play``/``breakdown`` are not moves).
MOVE_OPS: tuple[str, ...] = tuple(spec.name for spec in _moves())


def _no_guardrails() -> Any:
    """Every switch off: moves drawn without guardrails are played as drawn."""
    from rlmdj.config.dj import GuardrailsConfig
    from rlmdj.dj.tools.guardrails import Guardrails

    return Guardrails(GuardrailsConfig(gain_cap=False, density=False, loop_type=False))


def draw_move(session: Session, rng: np.random.Generator, roles: Sequence[str] | None = None,
              guardrails: Any | None = None) -> tuple[str, list[Any]] | None:
    """One random valid move for the mixer as it stands, as ``(op, args)``; nothing is applied.

    A move is a registered tool with a ``random_weight``, drawn by weight among those with a
    target role now (``roles``, unused, is kept for callers that pass the palette's roles).
    ``None`` when no move is possible. Gains are capped by ``guardrails`` when given (caps are
    counted then).
    """
    moves = [(spec, spec.targets(session)) for spec in _moves()]
    moves = [(spec, targets) for spec, targets in moves if targets]
    if not moves:
        return None
    p = np.array([spec.random_weight for spec, _ in moves])
    spec, targets = moves[int(rng.choice(len(moves), p=p / p.sum()))]
    role = targets[int(rng.integers(len(targets)))]
    return draw_args(session, spec.name, role, rng, guardrails)


def draw_args(session: Session, move: str, role: str, rng: np.random.Generator,
              guardrails: Any | None = None) -> tuple[str, list[Any]] | None:
    """Random arguments for tool ``move`` on ``role``, drawn from its annotated argument types
    (gain in :data:`GAIN_RANGES`, any pattern, any other sample of the role); ``None`` when an
    argument has no valid value (a swap with no other sample)."""
    spec = TOOLS.get(move)
    draw = Draw(rng=rng, session=session, role=role, guardrails=guardrails, gain_ranges=GAIN_RANGES)
    args: list[Any] = [role]
    for param, kind in zip(spec.parameters[1:], spec.arg_types[1:], strict=True):
        if kind is None or kind.draw is None:
            if param.default is inspect.Parameter.empty:
                raise ParameterError(f"tool {move!r}: argument {param.name!r} cannot be drawn")
            args.append(param.default)
            continue
        value = kind.draw(draw)
        if value is SKIP:
            return None
        args.append(value)
    return move, args


def apply_move(session: Session, move: str, args: Sequence[Any], *,
               guardrails: Any | None = None) -> None:
    """Apply a move from :func:`draw_move` to ``session`` by running the tool itself (gain caps
    and swap caps enforced by ``guardrails``; the density hook is the caller's)."""
    layer = ToolLayer(session, guardrails if guardrails is not None else _no_guardrails(),
                      critique=None, attach=False)
    TOOLS.get(move).invoke(layer, list(args))


class RandomDriver:
    """Random moves between random-length blocks (1, 2, 4 or 8 bars) until the set is complete."""

    name = "random"

    def __init__(self, *, seed: int, guardrails: Any | None = None,
                 holds: Sequence[int] = (1, 2, 4, 8), breakdown_p: float = 0.08) -> None:
        self.seed = int(seed)
        self.guardrails = guardrails
        self.holds = tuple(int(h) for h in holds)
        self.breakdown_p = float(breakdown_p)
        self.moves: list[dict[str, Any]] = []

    # -------------------------------------------------------------- perform
    def perform(self, session: Session) -> None:
        rng = np.random.default_rng(self.seed)
        if self.guardrails is not None:
            self.guardrails.attach(session)
        roles = list(session.palette.samples)
        if "kick" in roles:  # a set starts from a pulse, as every DJ's would
            self._commit(session, draw_args(session, "add", "kick", rng, self.guardrails))
        while not session.finished:
            for _ in range(int(rng.integers(1, 4))):
                self._commit(session, draw_move(session, rng, roles, self.guardrails))
            bars = int(rng.choice(self.holds))
            bar = session.bars_played
            if rng.random() < self.breakdown_p and session.channels:
                played = session.breakdown(bars)
                self.moves.append({"bar": bar, "op": "breakdown", "args": [played]})
            else:
                played = session.play(bars)
                self.moves.append({"bar": bar, "op": "play", "args": [played]})

    def _commit(self, session: Session, drawn: tuple[str, list[Any]] | None) -> None:
        if drawn is None:
            return
        bar = session.bars_played
        op, args = drawn
        apply_move(session, op, args, guardrails=self.guardrails)
        self.moves.append({"bar": bar, "op": op, "args": args})

    # --------------------------------------------------------------- report
    def report(self) -> DriverReport:
        import json

        metrics = {"dj/operations": float(sum(m["op"] not in ("play", "breakdown") for m in self.moves))}
        if self.guardrails is not None:
            for kind, count in self.guardrails.counts.items():
                metrics[f"dj/guardrail/{kind}"] = float(count)
        return DriverReport(
            metrics=metrics,
            tags={"rlmdj.random_seed": str(self.seed)},
            artifacts={"dj/moves.json": json.dumps(self.moves, indent=1)},
        )


def from_config(cfg: Any, *, ear_scorer: EarScorerSource | None = None) -> RandomDriver:
    """``dj=random``: seeded by ``replica``, with the guardrails the ``guardrails`` group sets
    (the same ones the LLM's tool layer applies). It does not hear: ``ear_scorer`` is unused."""
    from rlmdj.dj.tools.guardrails import guardrails_from_config
    from rlmdj.seeding import seed_for

    return RandomDriver(seed=seed_for(int(cfg.replica), "random_driver"),
                        guardrails=guardrails_from_config(cfg.guardrails))

