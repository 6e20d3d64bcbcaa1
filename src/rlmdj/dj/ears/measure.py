"""What the DJ's ears measure in one stretch of audio: OBJ and axes, loudness, band balance, clash.

Each stretch is peak-normalised to ``normalize_dbfs`` before scoring, as the whole set is before
the run scores it. ``lufs`` is the stretch's integrated loudness (ITU-R BS.1770, pyloudnorm) *as
mixed*, before that normalisation, so fader moves show in it. Band balance is the share of power
below 250 Hz, 250 Hz-4 kHz and above 4 kHz. The clash estimate needs no stem renders: each role's
band energy is its sample's band energy times gain squared times hits (or loop bars) over the
stretch. A stretch shorter than one scorer window (10 s for audiobox and the proxy) is zero-padded
by the scorer's own windowing and the result says so.

The ``dj`` layer never builds a scorer: a driver receives an :data:`EarScorerSource` (a callable
returning an :class:`EarScorer`) from the layer that assembles the run
(:func:`rlmdj.experiments.assemble.ears_scorer`), and calls it only when it hears.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rlmdj.audio.patterns import pattern_steps
from rlmdj.audio.wavio import normalize_peak
from rlmdj.axes import AXES
from rlmdj.config.core import RenderConfig
from rlmdj.dj.session import Session
from rlmdj.errors import ParameterError

__all__ = [
    "AXES",
    "BANDS",
    "EarScorer",
    "EarScorerSource",
    "Heard",
    "LUFS_FLOOR",
    "band_balance",
    "hear",
    "most_clashing",
    "need_ear_scorer",
    "role_band_energy",
    "score_stretch",
    "window_seconds",
    "WindowedEarScorer",
    "WrappedEarScorer",
]

BANDS: tuple[tuple[str, float, float], ...] = (("low", 20.0, 250.0), ("mid", 250.0, 4000.0),
                                               ("high", 4000.0, 22050.0))

LUFS_FLOOR = -120.0
_DEFAULT_WINDOW_S = 10.0
_MAX_WRAPPERS = 4  # a cache around a scorer is one; a chain this deep is a mistake


class EarScorer(Protocol):
    """What ears need from a scorer (every rlmdj scorer backend fits)."""

    name: str

    def score(self, audio: np.ndarray, *, sr: int) -> Any:
        """A result with ``scores`` (axis -> value) and ``obj``."""
        ...


EarScorerSource = Callable[[], EarScorer]
"""Builds the ears scorer on demand. Injected into driver builders by the run's assembly, and
called only by a driver that hears, so a deaf set never builds (or fails on) a second scorer."""


@runtime_checkable
class WindowedEarScorer(Protocol):
    """An ears scorer that says how long its scoring window is (the proxy's ``window_s``)."""

    window_s: float


@runtime_checkable
class WrappedEarScorer(Protocol):
    """A wrapper (the score cache) around the scorer that does the listening, ``inner``."""

    inner: Any


def need_ear_scorer(source: EarScorerSource | None, who: str) -> EarScorer:
    """The ears scorer from ``source``; a driver built without one cannot hear."""
    if source is None:
        raise TypeError(f"{who} needs ears, but no ear_scorer was passed to its builder; build "
                        "drivers with rlmdj.experiments.assemble.make_driver(cfg)")
    return source()


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
    for _ in range(_MAX_WRAPPERS + 1):
        if isinstance(scorer, WindowedEarScorer):
            value = scorer.window_s
            if isinstance(value, int | float) and value > 0:
                return float(value)
        if not isinstance(scorer, WrappedEarScorer):
            break
        scorer = scorer.inner
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
                  normalize_dbfs: float | None = RenderConfig.normalize_dbfs) -> tuple[float, dict[str, float]]:
    """OBJ and axis scores of one stretch, peak-normalised first as the run does for the set."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[0] == 0:
        raise ParameterError("nothing to hear: the stretch is empty")
    result = scorer.score(normalize_peak(audio, target_dbfs=normalize_dbfs), sr=sr)
    return float(result.obj), {k: float(v) for k, v in result.scores.items()}


def hear(audio: np.ndarray, *, sr: int, scorer: EarScorer,
         normalize_dbfs: float | None = RenderConfig.normalize_dbfs) -> Heard:
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
