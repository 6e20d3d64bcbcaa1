"""Shared building blocks of the pack's synthesis: seeded noise, filters, envelopes, waveforms.

Pure functions over float64 arrays (frames first, channels second where there are channels).
Loops filter with :func:`loop_filtered`, which runs the filter as if the loop had been playing
forever, so a loop's end joins its start without a seam; one-shots use :func:`filtered`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rlmdj.audio.grid import Grid
from rlmdj.errors import ParameterError

__all__ = [
    "PEAK",
    "note_hz",
    "seeded_rng",
    "n_frames",
    "butter_sos",
    "filtered",
    "loop_filtered",
    "faded",
    "stereo",
    "panned",
    "normalized",
    "exp_env",
    "saw",
    "square",
    "wave",
    "loop_grid",
    "fold_tails",
]

PEAK = 0.89  # -1 dBFS: clean samples leave headroom for the mixer


def note_hz(midi: float) -> float:
    """Equal-tempered frequency (Hz) of MIDI note ``midi`` (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((float(midi) - 69.0) / 12.0)


def seeded_rng(seed: int | Sequence[int]) -> np.random.Generator:
    """A generator seeded from ``seed`` alone: the same seed gives the same noise everywhere."""
    return np.random.default_rng(np.random.SeedSequence(seed))


def n_frames(seconds: float, sr: int) -> int:
    """Frames in ``seconds`` at ``sr`` (at least one); refuses a length that is not positive."""
    if seconds <= 0:
        raise ParameterError(f"length must be positive seconds, got {seconds!r}")
    return max(1, int(round(seconds * sr)))


def butter_sos(kind: str, hz: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    """Butterworth sections; corner frequencies are clamped into 10 Hz .. 98 % of Nyquist."""
    from scipy import signal  # here: a sweep's process checks palettes without filtering any

    nyq = sr / 2.0
    if isinstance(hz, tuple):
        lo, hi = (min(max(h, 10.0), nyq * 0.98) for h in hz)
        return signal.butter(order, (lo, max(hi, lo * 1.01)), btype=kind, fs=sr, output="sos")
    return signal.butter(
        order, min(max(float(hz), 10.0), nyq * 0.98), btype=kind, fs=sr, output="sos"
    )


def filtered(
    kind: str, hz: float | tuple[float, float], x: np.ndarray, sr: int, order: int = 2
) -> np.ndarray:
    """``x`` through a Butterworth ``kind`` filter (see :func:`butter_sos`), along frames."""
    from scipy import signal

    return signal.sosfilt(butter_sos(kind, hz, sr, order), x, axis=0)


def loop_filtered(
    kind: str, hz: float | tuple[float, float], x: np.ndarray, sr: int, order: int = 2
) -> np.ndarray:
    """Filter a loop as if it had been playing forever, so its end joins its start cleanly."""
    pre = min(len(x), sr // 2)
    padded = np.concatenate([x[-pre:], x], axis=0)
    return filtered(kind, hz, padded, sr, order)[pre:]


def faded(x: np.ndarray, sr: int, *, in_s: float = 0.0005, out_s: float = 0.01) -> np.ndarray:
    """Short raised-cosine fades so one-shots start and end without a click."""
    y = np.array(x, dtype=np.float64, copy=True)
    n_in = min(len(y), int(in_s * sr))
    n_out = min(len(y), int(out_s * sr))
    if n_in > 1:
        y[:n_in] *= (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_in)))[:, None]
    if n_out > 1:
        y[-n_out:] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n_out)))[:, None]
    return y


def stereo(left: np.ndarray, right: np.ndarray | None = None) -> np.ndarray:
    """``(frames, 2)`` from one channel (both sides) or two."""
    return np.stack([left, left if right is None else right], axis=1)


def panned(mono: np.ndarray, pan: float) -> np.ndarray:
    """Constant-power pan, ``pan`` in -1 (left) .. 1 (right)."""
    angle = (float(np.clip(pan, -1.0, 1.0)) + 1.0) * np.pi / 4.0
    return stereo(mono * np.cos(angle), mono * np.sin(angle))


def normalized(x: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """``x`` scaled so its largest sample is ``peak``, as float32 (silence stays silent)."""
    top = float(np.max(np.abs(x))) if x.size else 0.0
    y = x * (peak / top) if top > 0 else x
    return np.asarray(y, dtype=np.float32)


def exp_env(n: int, sr: int, decay_s: float) -> np.ndarray:
    """Exponential decay over ``n`` frames, falling to 1/e after ``decay_s`` seconds."""
    return np.exp(-np.arange(n) / (max(decay_s, 1e-4) * sr))


def saw(phase: np.ndarray) -> np.ndarray:
    """Naive sawtooth in -1..1 over ``phase`` in cycles."""
    return 2.0 * (phase % 1.0) - 1.0


def square(phase: np.ndarray) -> np.ndarray:
    """Naive square wave (+1, then -1) over ``phase`` in cycles."""
    return np.where((phase % 1.0) < 0.5, 1.0, -1.0)


def wave(shape: str, phase: np.ndarray) -> np.ndarray:
    """The waveform named ``shape`` (saw, square, sine) over ``phase`` in cycles."""
    if shape == "saw":
        return saw(phase)
    if shape == "square":
        return square(phase)
    if shape == "sine":
        return np.sin(2 * np.pi * phase)
    raise ParameterError(f"unknown waveform {shape!r}; valid: saw, square, sine")


def loop_grid(bars: int, bpm: float, sr: int) -> tuple[Grid, int]:
    """The grid of a ``bars``-bar loop and its exact length in frames."""
    if int(bars) != bars or bars < 1:
        raise ParameterError(f"loop bars must be a positive whole number, got {bars!r}")
    grid = Grid(bpm=bpm, sr=sr)
    return grid, grid.bar_start(int(bars))


def fold_tails(buf: np.ndarray, n: int) -> np.ndarray:
    """Wrap everything past frame ``n`` back onto the start: a loop's tails ring into its head."""
    out = np.array(buf[:n], copy=True)
    for start in range(n, len(buf), n):
        chunk = buf[start : start + n]
        out[: len(chunk)] += chunk
    return out
