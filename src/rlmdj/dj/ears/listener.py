"""Ears for the DJ: listen to what was just played, and audition moves on a copy of the set.

The earlier prototype's DJ read only the mixer's state, so swaps were coin flips and gains
guesses. :class:`Ears` lets a driver hear, through the run's own scorer (or the one
``ears.scorer`` names), within a per-set budget:

- :meth:`Ears.listen` scores the last ``bars`` rendered bars: OBJ and the four axes, the
  change since the previous listen, loudness (LUFS), low/mid/high balance and the pair of roles
  whose energy overlaps most in one band (measures in :mod:`rlmdj.dj.ears.measure`).
- :meth:`Ears.audition` renders the next ``bars`` bars twice off-line from copies of the set
  (:func:`render_ahead`) — as it stands and with ``moves`` applied — and returns the difference
  per axis and in OBJ. The real session is never touched: no set time passes and its audio
  afterwards is bit-identical.

:func:`render_ahead` is the one way anything in rlmdj hears a set ahead: the ears' auditions, the
greedy DJ's and the tests all apply moves with :func:`apply_moves` through the real tools and
render as ``play`` does. A move is any registered tool that changes the mix without passing time
(:func:`~rlmdj.dj.tools.registry.mix_moves`), so a new mixer tool can be auditioned as it is.

Results are plain dicts that :func:`compact` turns into JSON of at most ``max_chars`` characters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlmdj.config.core import RenderConfig
from rlmdj.config.ears import EarsConfig
from rlmdj.dj.ears.measure import (
    EarScorer,
    Heard,
    hear,
    most_clashing,
    role_band_energy,
    window_seconds,
)
from rlmdj.dj.session import Session, parse_bars
from rlmdj.dj.tools.guardrails import Guardrails
from rlmdj.dj.tools.mixer import ToolLayer
from rlmdj.dj.tools.registry import mix_moves
from rlmdj.errors import ParameterError

__all__ = ["Ears", "Move", "apply_moves", "compact", "parse_moves", "render_ahead"]

Move = tuple[str, list[Any]]


# ------------------------------------------------------------------------------- moves
def parse_moves(moves: Any, *, max_moves: int = EarsConfig.max_moves) -> list[Move]:
    """``[["fader", "hihat", 0.6], ["pattern", "perc", "gallop"]]`` (or its JSON text) as moves.

    Only the shape is checked here; each move's arguments are validated by the tool it names.
    A move names a registered tool that changes the mix without passing time (:func:`mix_moves`).
    """
    example = '[["fader", "hihat", 0.6], ["pattern", "perc", "gallop"]]'
    if isinstance(moves, str):
        try:
            moves = json.loads(moves)
        except ValueError:
            raise ParameterError(f"moves must be a list of moves, e.g. {example}; got {moves!r}") from None
    if isinstance(moves, tuple):
        moves = list(moves)
    if isinstance(moves, list) and moves and isinstance(moves[0], str):
        moves = [moves]  # one move given bare: ["fader", "hihat", 0.6]
    if not isinstance(moves, list) or not moves:
        raise ParameterError(f"moves must be a non-empty list of moves, e.g. {example}; got {moves!r}")
    if len(moves) > max_moves:
        raise ParameterError(f"at most {max_moves} moves per audition, got {len(moves)}")
    allowed = mix_moves()
    out: list[Move] = []
    for i, move in enumerate(moves, 1):
        if not isinstance(move, list | tuple) or not move or not isinstance(move[0], str):
            raise ParameterError(f"move {i} must be a list like [\"fader\", \"hihat\", 0.6], got {move!r}")
        op = move[0].strip().lower()
        if op not in allowed:
            raise ParameterError(f"move {i}: {move[0]!r} is not a mixer move; moves: {', '.join(allowed)}")
        out.append((op, list(move[1:])))
    return out


def apply_moves(layer: ToolLayer, moves: Sequence[Move]) -> list[str]:
    """Run ``moves`` through ``layer``'s tools in order, validated and guarded as the model's calls
    are; returns the corrections the guardrails reported. An invalid move raises
    :class:`ParameterError` naming it (moves before it stay applied)."""
    corrections: list[str] = []
    for i, (op, args) in enumerate(moves, 1):
        out = json.loads(layer.call(op, *args))
        corrections += [c["detail"] for c in out.get("corrections", [])]
        if not out["ok"]:
            call = f"{op}({', '.join(repr(a) for a in args)})"
            raise ParameterError(f"move {i} {call}: {out['error']} (e.g. {out.get('hint', '')})")
    return corrections


def render_ahead(session: Session, moves: Sequence[Move], bars: int, *,
                 guardrails: Guardrails | None = None) -> tuple[np.ndarray, list[str]]:
    """The next ``bars`` bars of ``session`` with ``moves`` applied, rendered on a fork of it.

    The moves run through a throwaway tool layer with fresh guardrails of ``guardrails``'
    settings (None: the defaults), and the bars render as ``play`` renders them (split at phase
    edges), so what is heard is what the real calls would play. Returns the new bars' audio and
    the corrections the guardrails made; ``session`` and the guardrails' counters never change.
    """
    rails = Guardrails() if guardrails is None else Guardrails(guardrails.settings, phases=guardrails.phases)
    layer = ToolLayer(session.fork(), rails, critique=None, hard_stop=False, tools=mix_moves())
    corrections = apply_moves(layer, moves)
    start = layer.session.bars_played
    layer.render(bars, breakdown=False)
    corrections += [c.detail for c in rails.take()]
    return layer.session.segment(start, layer.session.bars_played), corrections


# ------------------------------------------------------------------------------ output
def _r(x: float, digits: int = 3) -> float:
    return round(float(x), digits)


def compact(result: Mapping[str, Any], *, max_chars: int = EarsConfig.max_chars,
            drop: Sequence[str] = ("corrections", "note", "clash", "balance", "change", "lufs",
                                   "lufs_change", "listens_left", "auditions_left", "as_is_OBJ",
                                   "with_moves_OBJ")) -> str:
    """``result`` as JSON of at most ``max_chars`` characters, dropping optional keys in order.

    Measured as the tool layer prints it (``json.dumps`` with its default separators).
    """
    def dumps(obj: Any) -> str:
        return json.dumps(obj, allow_nan=False, default=str)

    data = dict(result)
    text = dumps(data)
    for key in drop:
        if len(text) <= max_chars:
            break
        if key in data:
            data.pop(key)
            data["truncated"] = True
            text = dumps(data)
    full, cut = text, max_chars
    while len(text) > max_chars and cut > 0:  # only pathological inputs get here
        cut -= 20
        text = dumps({"ok": data.get("ok", True), "truncated": True, "summary": full[:max(cut, 0)]})
    return text


@dataclass
class Ears:
    """A DJ's ears on one set: budgets, the previous listen, accounting.

    ``scorer`` is the ears scorer; ``settings`` the budgets (the ``ears`` group's schema);
    ``normalize_dbfs`` the peak level each stretch is scored at (``render.normalize_dbfs``, as
    the whole set is). :meth:`listen` and
    :meth:`audition` return result dicts (ready for :func:`compact`) and raise
    :class:`ParameterError` for a refused call (bad argument, budget spent, set over).
    """

    scorer: EarScorer
    settings: EarsConfig = field(default_factory=EarsConfig)
    normalize_dbfs: float | None = RenderConfig.normalize_dbfs
    listens: int = 0
    auditions: int = 0
    refused: int = 0
    seconds: float = 0.0
    last: Heard | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    _energy_cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- tools
    def listen(self, session: Session, bars: Any = 8) -> dict[str, Any]:
        """Score the last ``bars`` rendered bars (fewer if fewer were played)."""
        with self._call(session, "listen", self.listens, self.settings.max_listens, "ears.max_listens"):
            if isinstance(bars, bool):
                raise ParameterError(f"bars must be a whole number >= 1, got {bars!r} (e.g. 8)")
            n = parse_bars(bars, limit=max(1, session.max_bars))
            if session.bars_played == 0:
                raise ParameterError("nothing has been played yet; play some bars first, e.g. play(4)")
            end = session.bars_played
            start = max(0, end - n)
            heard = hear(session.segment(start, end), sr=session.grid.sr, scorer=self.scorer,
                         normalize_dbfs=self.normalize_dbfs)
            out: dict[str, Any] = {"action": f"listened to bars {start + 1}-{end}", **heard.brief()}
            if self.last is not None:
                out["change"] = {k: _r(v - self.last.brief()[k]) for k, v in heard.brief().items()}
            out["lufs"] = heard.lufs
            out["balance"] = heard.balance
            clash = most_clashing(role_band_energy(session, start, end, self._energy_cache))
            if clash is not None:
                out["clash"] = clash
            notes = []
            if end - start < n:
                notes.append(f"only {end - start} bar(s) played")
            if heard.padded:
                notes.append(self._padded(heard))
            if notes:
                out["note"] = "; ".join(notes)
            self.listens += 1
            self.last = heard
            out["listens_left"] = self.settings.max_listens - self.listens
            self.log.append({"tool": "listen", "bar": end, "bars": [start, end], **heard.brief()})
            return out

    def audition(self, session: Session, moves: Any, bars: Any = 4, *,
                 guardrails: Guardrails | None = None) -> dict[str, Any]:
        """Score the next ``bars`` bars as the mixer stands and with ``moves``; commit nothing.

        Both are rendered by :func:`render_ahead` under ``guardrails``' settings (the set's). The
        moves' fork is rendered first, so an invalid move is refused before the other renders.
        """
        with self._call(session, "audition", self.auditions, self.settings.max_auditions,
                        "ears.max_auditions"):
            if isinstance(bars, bool):
                raise ParameterError(f"bars must be a whole number >= 1, got {bars!r} (e.g. 4)")
            n = min(parse_bars(bars, limit=max(1, session.max_bars)), session.remaining)
            parsed = parse_moves(moves, max_moves=self.settings.max_moves)
            audio_b, corrections = render_ahead(session, parsed, n, guardrails=guardrails)
            audio_a, _ = render_ahead(session, [], n, guardrails=guardrails)
            sr = session.grid.sr
            kw = {"sr": sr, "scorer": self.scorer, "normalize_dbfs": self.normalize_dbfs}
            as_is, moved = hear(audio_a, **kw), hear(audio_b, **kw)
            start = session.bars_played
            out: dict[str, Any] = {
                "action": f"auditioned {len(parsed)} move(s) over bars {start + 1}-{start + n}; nothing committed",
                "delta": {k: _r(v - as_is.brief()[k]) for k, v in moved.brief().items()},
                "as_is_OBJ": _r(as_is.obj),
                "with_moves_OBJ": _r(moved.obj),
                "lufs_change": _r(moved.lufs - as_is.lufs, 2),
            }
            if as_is.padded:
                out["note"] = self._padded(as_is)
            if corrections:
                out["corrections"] = [c[:120] for c in corrections[:3]]
            self.auditions += 1
            out["auditions_left"] = self.settings.max_auditions - self.auditions
            self.log.append({"tool": "audition", "bar": start, "bars": n,
                             "moves": [[op, *args] for op, args in parsed],
                             "as_is": as_is.brief(), "with_moves": moved.brief()})
            return out

    # ------------------------------------------------------------ accounting
    @property
    def calls(self) -> int:
        """Calls that were answered (refused calls are counted in :attr:`refused`)."""
        return self.listens + self.auditions

    def metrics(self) -> dict[str, float]:
        """``dj/ears_*`` counters and ``time/ears_s`` (wall time spent hearing, refusals included)."""
        return {
            "dj/ears_calls": float(self.calls),
            "dj/ears_listens": float(self.listens),
            "dj/ears_auditions": float(self.auditions),
            "dj/ears_refused": float(self.refused),
            "time/ears_s": round(self.seconds, 4),
        }

    @contextmanager
    def _call(self, session: Session, tool: str, used: int, budget: int, key: str) -> Iterator[None]:
        """One call of ``tool``: refused while the set is over or its budget (``key``) is spent;
        its wall time goes to :attr:`seconds` and a refusal (any ParameterError) to :attr:`refused`."""
        t0 = time.perf_counter()
        try:
            if session.finished:
                raise ParameterError(f"the set is complete ({session.max_bars} bars played); {tool}() "
                                     "has nothing left to hear")
            if used >= budget:
                raise ParameterError(f"no {tool} calls left: {key}={budget} per set are used up; "
                                     "trust the last result and keep playing, e.g. play(8)")
            yield
        except ParameterError:
            self.refused += 1
            raise
        finally:
            self.seconds += time.perf_counter() - t0

    def _padded(self, heard: Heard) -> str:
        return (f"{heard.seconds:g} s is shorter than the scorer's "
                f"{window_seconds(self.scorer):g} s window: zero-padded as the scorer does")
