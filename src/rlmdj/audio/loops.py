"""Loop preparation: time-match a multi-bar loop to the set's bar grid.

Offers
------
- :func:`prepare_loop` — resample a loop to exactly ``bars`` bars at the grid's tempo and rate.
- :func:`loop_length_samples` — the exact length (samples) a prepared ``bars``-bar loop has.
- :func:`loop_bars` — the bar count of an already prepared loop.
- :func:`fold_bars` — half or double time for a loop far from the set's tempo.
- :data:`MIN_STRETCH`, :data:`MAX_STRETCH` — the accepted stretch ratios.

Time matching is *varispeed*: the loop is resampled, like a turntable's pitch fader, so its pitch
moves with its tempo (a 124 BPM loop played at 128 BPM sounds ~0.55 semitones higher). That keeps
transients and phase intact and costs one FFT; a pitch-preserving time stretch would smear the
drums. Ratios outside 0.5..2.0 (an octave either way) are refused: they mean the bar count or the
source tempo is wrong, not that the loop should be played at chipmunk or half speed.

A set's tempo may still be far from its loops' (the built-in loops are 128 BPM; a set may be
20..400 BPM): with ``fold=True`` (what a set uses) such a loop is played in half or double time
instead, over half or twice as many bars (repeated when it is shorter than a bar), which brings
the ratio back within an octave.
"""

from __future__ import annotations

import math

import numpy as np

from rlmdj.audio.grid import Grid
from rlmdj.audio.valid import valid_audio, valid_sr
from rlmdj.audio.wavio import to_stereo
from rlmdj.errors import ParameterError

__all__ = [
    "MIN_STRETCH",
    "MAX_STRETCH",
    "prepare_loop",
    "loop_length_samples",
    "loop_bars",
    "fold_bars",
]

MIN_STRETCH = 0.5
MAX_STRETCH = 2.0


def loop_length_samples(bars: int, grid: Grid) -> int:
    """Length in samples of a ``bars``-bar loop at ``grid`` (the exact bar length, rounded once)."""
    return int(round(bars * grid.samples_per_bar))


def loop_bars(n_samples: int, grid: Grid) -> int:
    """Bar count (>= 1) of a prepared loop of ``n_samples`` samples at ``grid``."""
    return max(1, int(round(n_samples / grid.samples_per_bar)))


def prepare_loop(audio: np.ndarray, *, sr: int, bars: int | None, grid: Grid,
                 fold: bool = False) -> np.ndarray:
    """Resample a ``bars``-bar loop to exactly ``bars`` bars at ``grid`` (varispeed).

    ``audio`` is (frames,) or (frames, channels) at ``sr`` Hz; its source tempo is implied by its
    duration and ``bars``. The result is float32 stereo (``loop_length_samples(bars, grid)``, 2) at
    ``grid.sr`` (mono is duplicated to both sides): bar ``k`` of the loop starts at sample ``round(k * grid.samples_per_bar)``.

    Resampling is FFT-based, which treats the loop as periodic — exactly what a loop is — so the
    wrap point stays seamless. Pitch changes by the stretch ratio (see module docstring).
    Raises :class:`ParameterError` when ``bars`` is missing or <= 0, or when the stretch ratio
    (target duration / source duration) is outside ``MIN_STRETCH..MAX_STRETCH``; with ``fold``
    the loop is then played in half or double time (see :func:`fold_bars`), and the result is
    ``loop_length_samples(played bars, grid)`` long.
    """
    if bars is None or isinstance(bars, bool) or not isinstance(bars, (int, np.integer)):
        raise ParameterError(
            f"loop bar count must be a positive integer (e.g. bars=4), got {bars!r}; "
            "without it the loop's tempo is unknown"
        )
    if bars <= 0:
        raise ParameterError(f"loop bar count must be >= 1 (e.g. bars=4), got {bars}")
    sr = valid_sr(sr)
    frames = valid_audio(audio, what="loop audio")
    source_s = frames.shape[0] / float(sr)
    if fold and source_s > 0:
        played, repeats = fold_bars(int(bars), source_s, grid)
        if repeats > 1:
            frames = np.concatenate([frames] * repeats, axis=0)
            source_s *= repeats
        bars = played
    target = loop_length_samples(int(bars), grid)
    ratio = (target / float(grid.sr)) / source_s
    if not (MIN_STRETCH <= ratio <= MAX_STRETCH) or not math.isfinite(ratio):
        src_bpm = 4 * 60.0 * int(bars) / source_s
        raise ParameterError(
            f"loop of {source_s:.3f} s as {bars} bar(s) is {src_bpm:.1f} BPM; matching it to "
            f"{grid.bpm:g} BPM needs a stretch of {ratio:.3f}, accepted is "
            f"{MIN_STRETCH}..{MAX_STRETCH} — check the bar count"
        )
    if frames.shape[0] == target:
        return to_stereo(np.array(frames, dtype=np.float32))
    from scipy import signal  # here: importing it costs a sweep's process a second it never uses

    out = signal.resample(frames.astype(np.float64), target, axis=0)
    return to_stereo(np.ascontiguousarray(out, dtype=np.float32))


def fold_bars(bars: int, source_s: float, grid: Grid) -> tuple[int, int]:
    """``(bars to play over, times to repeat the loop)`` that bring a ``bars``-bar loop of
    ``source_s`` seconds within an octave of ``grid``'s tempo: half time (half the bars, or the
    loop twice when it cannot be halved) when the set is slower, double time when faster."""
    played, repeats = int(bars), 1

    def ratio() -> float:
        return played * grid.seconds_per_bar / (source_s * repeats)

    while ratio() > MAX_STRETCH:
        if played % 2 == 0:
            played //= 2
        else:
            repeats *= 2
    while ratio() < MIN_STRETCH:
        played *= 2
    return played, repeats
