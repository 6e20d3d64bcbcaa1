"""The random baseline DJ: seeded random valid moves through the session and guardrails.

It acts only through the public session operations, with the same tool-layer guardrails as the
RLM (gain caps, loop type, density ceiling), so its score is the floor an LLM DJ must beat on
the same palette and length. Its randomness comes from ``seed_for(replica, "random_driver")``:
replicas differ, and one config always plays the same set — a source of replica variance for
offline sweeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rlmdj.audio.patterns import pattern_names
from rlmdj.dj.driver import DriverReport
from rlmdj.dj.session import Session

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
_MOVES: Mapping[str, float] = {
    "add": 0.30, "remove": 0.12, "fader": 0.22, "pattern": 0.18, "mute": 0.06, "unmute": 0.07,
    "swap": 0.05,
}


MOVE_OPS: tuple[str, ...] = tuple(_MOVES)
"""The mixer operations the move generator draws (``play``/``breakdown`` are not moves)."""


def draw_move(session: Session, rng: np.random.Generator, roles: Sequence[str],
              guardrails: Any | None = None) -> tuple[str, list[Any]] | None:
    """One random valid move for the mixer as it stands, as ``(op, args)``; nothing is applied.

    The random DJ's move generator, shared with the greedy DJ (its candidates). ``None`` when
    no move is possible. Gains are capped by ``guardrails`` when given (caps are counted then).
    """
    channels = session.channels
    options: dict[str, list[str]] = {
        "add": [r for r in roles if r not in channels],
        "remove": [r for r in channels if r != "kick" or len(channels) == 1],
        "fader": list(channels),
        "pattern": [r for r, c in channels.items() if c.kind == "oneshot"],
        "mute": [r for r, c in channels.items() if not c.muted],
        "unmute": [r for r, c in channels.items() if c.muted],
        "swap": list(channels),
    }
    names = [m for m in _MOVES if options[m]]
    if not names:
        return None
    p = np.array([_MOVES[m] for m in names])
    move = names[int(rng.choice(len(names), p=p / p.sum()))]
    role = options[move][int(rng.integers(len(options[move])))]
    return draw_args(session, move, role, rng, guardrails)


def draw_args(session: Session, move: str, role: str, rng: np.random.Generator,
              guardrails: Any | None = None) -> tuple[str, list[Any]] | None:
    """Random arguments for ``move`` on ``role`` (gain in :data:`GAIN_RANGES`, any pattern, any
    other sample of the role); ``None`` for a swap with no other sample."""
    patterns = pattern_names()
    if move in ("add", "fader"):
        lo, hi = GAIN_RANGES.get(role, (0.30, 0.60))
        gain = round(float(rng.uniform(lo, hi)), 2)
        if guardrails is not None:
            gain = guardrails.cap_gain(role, gain)
        if move == "fader":
            return move, [role, gain]
        kind = session.index.get(session.palette.samples[role]).kind
        pattern = None if kind == "loop" else str(rng.choice(patterns))
        return move, [role, gain, pattern]
    if move == "pattern":
        return move, [role, str(rng.choice(patterns))]
    if move == "swap":
        choices = [s for s in session.alternatives(role) if s != session.channels[role].sample_id]
        if not choices:
            return None
        return move, [role, str(rng.choice(choices))]
    return move, [role]


def apply_move(session: Session, move: str, args: Sequence[Any], *,
               guardrails: Any | None = None) -> None:
    """Apply a move from :func:`draw_move` to ``session`` (gain caps and swap caps enforced)."""
    if move in ("add", "fader") and guardrails is not None:
        args = [args[0], guardrails.cap_gain(args[0], float(args[1])), *args[2:]]
    getattr(session, move)(*args)
    if move == "swap" and guardrails is not None:
        guardrails.enforce_caps(session)


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
            self._do(session, "add", "kick", rng)
        while not session.finished:
            for _ in range(int(rng.integers(1, 4))):
                self._random_move(session, rng, roles)
            bars = int(rng.choice(self.holds))
            bar = session.bars_played
            if rng.random() < self.breakdown_p and session.channels:
                played = session.breakdown(bars)
                self.moves.append({"bar": bar, "op": "breakdown", "args": [played]})
            else:
                played = session.play(bars)
                self.moves.append({"bar": bar, "op": "play", "args": [played]})

    def _random_move(self, session: Session, rng: np.random.Generator, roles: list[str]) -> None:
        self._commit(session, draw_move(session, rng, roles, self.guardrails))

    def _do(self, session: Session, move: str, role: str, rng: np.random.Generator) -> None:
        self._commit(session, draw_args(session, move, role, rng, self.guardrails))

    def _commit(self, session: Session, drawn: tuple[str, list[Any]] | None) -> None:
        if drawn is None:
            return
        bar = session.bars_played
        apply_move(session, *drawn, guardrails=self.guardrails)
        self.moves.append({"bar": bar, "op": drawn[0], "args": drawn[1]})

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


def from_config(cfg: Any) -> RandomDriver:
    """``dj=random``: seeded by ``replica``, with the guardrails the ``guardrails`` group sets
    (the same ones the LLM's tool layer applies)."""
    from rlmdj.dj.guardrails import guardrails_from_config
    from rlmdj.seeding import seed_for

    return RandomDriver(seed=seed_for(int(cfg.replica), "random_driver"),
                        guardrails=guardrails_from_config(cfg.guardrails))
