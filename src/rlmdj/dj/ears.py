"""Ears for the DJ: score what was just played, and audition moves on a copy of the set.

The earlier prototype's DJ read only the mixer's state, so swaps were coin flips and gains
guesses. This module lets a driver hear, through the run's own scorer (or the one
``ears.scorer`` names), within a per-set budget:

- :meth:`Ears.listen` scores the last ``bars`` rendered bars: OBJ and the four axes, the
  change since the previous listen, loudness (LUFS), low/mid/high balance and the pair of roles
  whose energy overlaps most in one band.
- :meth:`Ears.audition` renders the next ``bars`` bars twice off-line from copies of the set
  (:meth:`~rlmdj.dj.session.Session.fork`) — as it stands and with ``moves`` applied — and
  returns the difference per axis and in OBJ. The real session is never touched: no set time
  passes and its audio afterwards is bit-identical.

Conventions. Each stretch is peak-normalised to ``normalize_dbfs`` before scoring, as the whole
set is before the run scores it. ``lufs`` is the stretch's integrated loudness (ITU-R BS.1770,
pyloudnorm) *as mixed*, before that normalisation, so fader moves show in it. Band balance is the
share of power below 250 Hz, 250 Hz-4 kHz and above 4 kHz. The clash estimate needs no stem
renders: each role's band energy is its sample's band energy times gain squared times hits (or
loop bars) over the stretch. A stretch shorter than one scorer window (10 s for audiobox and the
proxy) is zero-padded by the scorer's own windowing and the result says so.

Results are plain dicts that :func:`compact` turns into JSON of at most ``max_chars``
characters. The ``dj`` layer never builds a scorer: a driver receives an
:data:`EarScorerSource` (a callable returning an :class:`EarScorer`) from the layer that
assembles the run (:func:`rlmdj.experiments.assemble.ears_scorer`), and calls it only when it
hears, so no ``dj`` module imports the scoring package.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rlmdj.audio.patterns import pattern_steps
from rlmdj.audio.wavio import normalize_peak
from rlmdj.dj.session import Session, parse_bars
from rlmdj.errors import ParameterError

__all__ = [
    "AXES",
    "BANDS",
    "EAR_MOVES",
    "EarScorer",
    "EarScorerSource",
    "Ears",
    "EarsSettings",
    "Heard",
    "Move",
    "band_balance",
    "compact",
    "hear",
    "most_clashing",
    "need_ear_scorer",
    "parse_moves",
    "render_ahead",
    "role_band_energy",
    "score_stretch",
    "window_seconds",
]

AXES: tuple[str, ...] = ("CE", "CU", "PC", "PQ")
BANDS: tuple[tuple[str, float, float], ...] = (("low", 20.0, 250.0), ("mid", 250.0, 4000.0),
                                               ("high", 4000.0, 22050.0))
EAR_MOVES: tuple[str, ...] = ("add", "remove", "fader", "pattern", "mute", "unmute", "swap")
"""Mixer operations an audition may apply (time-passing ones are not moves)."""

LUFS_FLOOR = -120.0
_DEFAULT_WINDOW_S = 10.0

Move = tuple[str, list[Any]]
Ahead = Callable[[Session, Sequence[Move], int], tuple[np.ndarray, list[str]]]
"""``(fork, moves, bars) -> (audio, corrections)``: apply moves to a fork and render bars on it."""


class EarScorer(Protocol):
    """What ears need from a scorer (every rlmdj scorer backend fits)."""

    name: str

    def score(self, audio: np.ndarray, *, sr: int) -> Any:
        """A result with ``scores`` (axis -> value) and ``obj``."""
        ...


EarScorerSource = Callable[[], EarScorer]
"""Builds the ears scorer on demand. Injected into driver builders by the run's assembly, and
called only by a driver that hears, so a deaf set never builds (or fails on) a second scorer."""


def need_ear_scorer(source: EarScorerSource | None, who: str) -> EarScorer:
    """The ears scorer from ``source``; a driver built without one cannot hear."""
    if source is None:
        raise TypeError(f"{who} needs ears, but no ear_scorer was passed to its builder; build "
                        "drivers with rlmdj.experiments.assemble.make_driver(cfg)")
    return source()


@dataclass(frozen=True)
class EarsSettings:
    """Per-set budgets and limits (``ears.*`` in the config)."""

    max_listens: int = 16
    max_auditions: int = 8
    max_moves: int = 6
    max_chars: int = 600
    normalize_dbfs: float | None = -1.0

    def __post_init__(self) -> None:
        for key in ("max_listens", "max_auditions", "max_moves"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ParameterError(f"ears.{key} must be a whole number >= 0, got {value!r}")
        if not isinstance(self.max_chars, int) or self.max_chars < 200:
            raise ParameterError(f"ears.max_chars must be >= 200, got {self.max_chars!r}")


@dataclass(frozen=True)
class Heard:
    """One scored stretch: OBJ, axes, loudness as mixed, band balance, length in seconds."""

    obj: float
    scores: dict[str, float]
    lufs: float
    balance: dict[str, float]
    seconds: float
    padded: bool

    def brief(self) -> dict[str, float]:
        return {"OBJ": round(self.obj, 3), **{a: round(self.scores[a], 3) for a in AXES if a in self.scores}}


# ----------------------------------------------------------------------------- measures
def window_seconds(scorer: Any) -> float:
    """The scorer's window length in seconds (through cache wrappers); 10 s if it does not say."""
    for obj in (scorer, getattr(scorer, "inner", None), getattr(scorer, "scorer", None)):
        value = getattr(obj, "window_s", None) if obj is not None else None
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return _DEFAULT_WINDOW_S


def _lufs(audio: np.ndarray, sr: int) -> float:
    import pyloudnorm

    if audio.shape[0] < int(math.ceil(0.4 * sr)):
        return LUFS_FLOOR
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        value = float(pyloudnorm.Meter(sr).integrated_loudness(audio))
    return max(value, LUFS_FLOOR) if math.isfinite(value) else LUFS_FLOOR


_FRAME = 2048


def _band_power(mono: np.ndarray, sr: int) -> np.ndarray:
    """Energy in each of :data:`BANDS`: Hann-windowed 2048-sample frames, |FFT|^2 summed.

    Proportional to the signal's energy (length x power), the same scale for every input.
    """
    from scipy import fft as sfft

    x = np.asarray(mono, dtype=np.float32)
    if x.size == 0:
        return np.zeros(len(BANDS))
    k = -(-x.size // _FRAME)
    frames = np.zeros((k, _FRAME), dtype=np.float32)
    frames.reshape(-1)[: x.size] = x
    frames *= np.hanning(_FRAME).astype(np.float32)
    power = (np.abs(sfft.rfft(frames, axis=1)) ** 2).sum(axis=0, dtype=np.float64) / _FRAME
    freqs = np.fft.rfftfreq(_FRAME, 1.0 / sr)
    return np.array([power[(freqs >= lo) & (freqs < hi)].sum() for _, lo, hi in BANDS])


def band_balance(audio: np.ndarray, *, sr: int) -> dict[str, float]:
    """Share of energy per band (sums to 1; all zero for silence)."""
    mono = np.asarray(audio, dtype=np.float32)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    power = _band_power(mono, sr)
    total = float(power.sum())
    return {name: (round(float(p) / total, 3) if total > 0 else 0.0)
            for (name, _, _), p in zip(BANDS, power, strict=True)}


def score_stretch(audio: np.ndarray, *, sr: int, scorer: EarScorer,
                  normalize_dbfs: float | None = -1.0) -> tuple[float, dict[str, float]]:
    """OBJ and axis scores of one stretch, peak-normalised first as the run does for the set."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[0] == 0:
        raise ParameterError("nothing to hear: the stretch is empty")
    result = scorer.score(normalize_peak(audio, target_dbfs=normalize_dbfs), sr=sr)
    return float(result.obj), {k: float(v) for k, v in result.scores.items()}


def hear(audio: np.ndarray, *, sr: int, scorer: EarScorer,
         normalize_dbfs: float | None = -1.0) -> Heard:
    """Score one stretch of float audio ``(frames, 2)`` at ``sr`` Hz (see the module docstring)."""
    audio = np.asarray(audio, dtype=np.float32)
    obj, scores = score_stretch(audio, sr=sr, scorer=scorer, normalize_dbfs=normalize_dbfs)
    seconds = audio.shape[0] / float(sr)
    return Heard(
        obj=obj,
        scores=scores,
        lufs=round(_lufs(audio, sr), 2),
        balance=band_balance(audio, sr=sr),
        seconds=round(seconds, 3),
        padded=seconds + 1e-9 < window_seconds(scorer),
    )


def role_band_energy(session: Session, start_bar: int, end_bar: int,
                     cache: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Estimated energy per role and band over bars ``[start_bar, end_bar)`` of the history.

    One-shot: sample band energy x gain^2 x hits; loop: energy of one loop bar x gain^2 per bar.
    Muted channels and breakdown-muted drums add nothing.
    """
    cache = {} if cache is None else cache
    sr = session.grid.sr
    out: dict[str, np.ndarray] = {}
    for record in session.history[start_bar:end_bar]:
        for role, layer in record.layers.items():
            if layer["muted"] or layer["gain"] <= 0:
                continue
            sid = layer["sample_id"]
            if sid not in cache:
                audio = np.asarray(session.index.load(sid, sr=sr), dtype=np.float32)
                mono = audio.mean(axis=1) if audio.ndim == 2 else audio
                energy = _band_power(mono, sr)
                if layer["kind"] == "loop":
                    bars = session.index.get(sid).bars or max(1, round(mono.size / session.grid.samples_per_bar))
                    energy = energy / float(bars)
                cache[sid] = energy
            hits = 1 if layer["kind"] == "loop" else len(pattern_steps(layer["pattern"])) if layer["pattern"] else 0
            out[role] = out.get(role, np.zeros(len(BANDS))) + cache[sid] * float(layer["gain"]) ** 2 * hits
    return out


def most_clashing(energy: Mapping[str, np.ndarray]) -> dict[str, Any] | None:
    """The role pair with the largest overlapping energy in one band, and that band.

    Overlap of roles a, b in band k is ``min(E_a[k], E_b[k])``; ``share`` is that overlap as a
    fraction of the band's total estimated energy. ``None`` with fewer than two sounding roles.
    """
    roles = sorted(energy)
    best: tuple[float, str, str, int] | None = None
    for i, a in enumerate(roles):
        for b in roles[i + 1:]:
            overlap = np.minimum(energy[a], energy[b])
            k = int(np.argmax(overlap))
            if overlap[k] > 0 and (best is None or overlap[k] > best[0]):
                best = (float(overlap[k]), a, b, k)
    if best is None:
        return None
    value, a, b, k = best
    total = float(sum(e[k] for e in energy.values()))
    return {"roles": [a, b], "band": BANDS[k][0], "share": round(value / total, 2) if total > 0 else 0.0}


# ------------------------------------------------------------------------------- moves
def parse_moves(moves: Any, *, max_moves: int = 6) -> list[Move]:
    """``[["fader", "hihat", 0.6], ["pattern", "perc", "gallop"]]`` (or its JSON text) as moves.

    Only the shape is checked here; each move's arguments are validated by the tool it names.
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
    out: list[Move] = []
    for i, move in enumerate(moves, 1):
        if not isinstance(move, list | tuple) or not move or not isinstance(move[0], str):
            raise ParameterError(f"move {i} must be a list like [\"fader\", \"hihat\", 0.6], got {move!r}")
        op = move[0].strip().lower()
        if op not in EAR_MOVES:
            raise ParameterError(f"move {i}: {move[0]!r} is not a mixer move; moves: {', '.join(EAR_MOVES)}")
        out.append((op, list(move[1:])))
    return out


def render_ahead(session: Session, bars: int, moves: Sequence[Move], *,
                 apply: Callable[[Session, Sequence[Move]], list[str]],
                 play: Callable[[Session, int], None]) -> tuple[np.ndarray, list[str]]:
    """Render ``bars`` bars ahead on a fork of ``session`` after ``apply``-ing ``moves`` to it.

    Returns the new bars' audio and the corrections the guardrails made; ``session`` itself is
    never changed. ``apply`` raises :class:`ParameterError` for an invalid move.
    """
    fork = session.fork()
    corrections = apply(fork, moves) if moves else []
    start = fork.bars_played
    play(fork, bars)
    return fork.segment(start, fork.bars_played), corrections


# ------------------------------------------------------------------------------ output
def _r(x: float, digits: int = 3) -> float:
    return round(float(x), digits)


def compact(result: Mapping[str, Any], *, max_chars: int = 600,
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

    ``scorer`` is the ears scorer; ``settings`` the budgets. :meth:`listen` and
    :meth:`audition` return result dicts (ready for :func:`compact`) and raise
    :class:`ParameterError` for a refused call (bad argument, budget spent, set over).
    """

    scorer: EarScorer
    settings: EarsSettings = field(default_factory=EarsSettings)
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
        t0 = time.perf_counter()
        try:
            self._open(session, "listen", self.listens, self.settings.max_listens, "ears.max_listens")
            if isinstance(bars, bool):
                raise ParameterError(f"bars must be a whole number >= 1, got {bars!r} (e.g. 8)")
            n = parse_bars(bars, limit=max(1, session.max_bars))
            if session.bars_played == 0:
                raise ParameterError("nothing has been played yet; play some bars first, e.g. play(4)")
            end = session.bars_played
            start = max(0, end - n)
            heard = hear(session.segment(start, end), sr=session.grid.sr, scorer=self.scorer,
                         normalize_dbfs=self.settings.normalize_dbfs)
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
                notes.append(f"{heard.seconds:g} s is shorter than the scorer's "
                             f"{window_seconds(self.scorer):g} s window: zero-padded as the scorer does")
            if notes:
                out["note"] = "; ".join(notes)
            self.listens += 1
            self.last = heard
            out["listens_left"] = self.settings.max_listens - self.listens
            self.log.append({"tool": "listen", "bar": end, "bars": [start, end], **heard.brief()})
            return out
        except ParameterError:
            self.refused += 1
            raise
        finally:
            self.seconds += time.perf_counter() - t0

    def audition(self, session: Session, moves: Any, bars: Any = 4, *, ahead: Ahead) -> dict[str, Any]:
        """Score the next ``bars`` bars as the mixer stands and with ``moves``; commit nothing.

        ``ahead(fork, moves, bars)`` applies moves to a fork exactly as the real tools would and
        renders ``bars`` bars on it. The moves' fork is rendered first, so an invalid move is
        refused before anything is rendered.
        """
        t0 = time.perf_counter()
        try:
            self._open(session, "audition", self.auditions, self.settings.max_auditions,
                       "ears.max_auditions")
            if isinstance(bars, bool):
                raise ParameterError(f"bars must be a whole number >= 1, got {bars!r} (e.g. 4)")
            n = min(parse_bars(bars, limit=max(1, session.max_bars)), session.remaining)
            parsed = parse_moves(moves, max_moves=self.settings.max_moves)
            audio_b, corrections = ahead(session.fork(), parsed, n)
            audio_a, _ = ahead(session.fork(), [], n)
            sr = session.grid.sr
            kw = {"sr": sr, "scorer": self.scorer, "normalize_dbfs": self.settings.normalize_dbfs}
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
                out["note"] = (f"{as_is.seconds:g} s is shorter than the scorer's "
                               f"{window_seconds(self.scorer):g} s window: zero-padded as the scorer does")
            if corrections:
                out["corrections"] = [c[:120] for c in corrections[:3]]
            self.auditions += 1
            out["auditions_left"] = self.settings.max_auditions - self.auditions
            self.log.append({"tool": "audition", "bar": start, "bars": n,
                             "moves": [[op, *args] for op, args in parsed],
                             "as_is": as_is.brief(), "with_moves": moved.brief()})
            return out
        except ParameterError:
            self.refused += 1
            raise
        finally:
            self.seconds += time.perf_counter() - t0

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

    def _open(self, session: Session, tool: str, used: int, budget: int, key: str) -> None:
        if session.finished:
            raise ParameterError(f"the set is complete ({session.max_bars} bars played); {tool}() "
                                 "has nothing left to hear")
        if used >= budget:
            raise ParameterError(f"no {tool} calls left: {key}={budget} per set are used up; "
                                 "trust the last result and keep playing, e.g. play(8)")
