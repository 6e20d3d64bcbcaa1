"""Signal metrics of a rendered set, logged as ``signal/<key>`` MLflow metrics.

Offers :func:`signal_metrics`, which returns plain floats (never inf or NaN, so every value
can be logged):

- ``lufs``: integrated loudness, ITU-R BS.1770-4 (K-weighted, gated; see :func:`integrated_loudness`). Silence,
  and audio shorter than one 400 ms gating block, report :data:`LUFS_FLOOR` (-120.0).
- ``peak_dbfs``: sample peak, ``20*log10(max|x|)``; full scale is 1.0.
- ``true_peak_dbfs``: peak of the 4x oversampled signal (catches inter-sample overs);
  never below ``peak_dbfs``.
- ``rms_dbfs``: ``20*log10(RMS)`` over all samples and channels, so a full-scale sine reads
  -3.01 dBFS (not the AES17 convention, which would call it 0).
- ``crest_factor_db``: ``peak_dbfs - rms_dbfs`` (a sine: 3.01 dB; 0.0 for silence).
- ``clipped_fraction``: fraction of samples (all channels) with ``|x| >= CLIP_LEVEL``
  (0.999 of full scale), i.e. at or past the point where a fixed-point export clips.
- ``silence_fraction``: fraction of 100 ms frames (non-overlapping, mean square over
  channels; a trailing partial frame counts as a frame) with RMS below ``silence_dbfs``.
- ``dc_offset``: largest absolute per-channel mean (full scale = 1.0).
- ``duration_s``: length in seconds.

Levels are floored at -120 dB so silence gives finite numbers.

Cost. The metrics run once per set, so they must stay cheaper than the proxy scorer
(``benchmarks/bench_proxy.py`` prints both). Loudness filters all channels in one pass and sums
its gating blocks from a running sum instead of block by block; the true peak evaluates the
oversampling filter only where it could exceed the sample peak (see :func:`true_peak`). Both give
the same numbers as the straightforward computations (pyloudnorm's meter, ``upfirdn``) to
rounding, which ``tests/scoring/test_signal.py`` checks.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pyloudnorm
from scipy.signal import firwin, sosfilt, upfirdn

from rlmdj.audio.valid import valid_audio, valid_sr
from rlmdj.scoring import features as F

__all__ = ["signal_metrics", "integrated_loudness", "true_peak", "CLIP_LEVEL", "LUFS_FLOOR",
           "LEVEL_FLOOR_DB"]

CLIP_LEVEL = 0.999
"""|x| at or above this (full scale 1.0) counts as clipped."""

LUFS_FLOOR = -120.0
"""Loudness reported for silence or audio too short to measure."""

LEVEL_FLOOR_DB = -120.0
"""Floor for peak / RMS levels so silence is finite."""

_GATE_BLOCK_S = 0.4  # BS.1770 gating block: shorter audio has no integrated loudness
_GATE_STEP = 0.25  # blocks overlap by 75%
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs; further channels weigh 1.0
_TRUE_PEAK_OVERSAMPLE = 4
_TRUE_PEAK_TAPS = 48
_TRUE_PEAK_FULL_SHARE = 0.25  # above this share of candidate samples, filter everything at once
_TRUE_PEAK_BLOCK = 16  # positions per bound; at least the taps per phase minus one
_CANDIDATE_CHUNK = 1 << 12  # candidate blocks filtered per matrix product


def _amp_db(value: float) -> float:
    return float(max(20.0 * np.log10(value), LEVEL_FLOOR_DB)) if value > 0.0 else LEVEL_FLOOR_DB


def _channel_sum_of_squares(x: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``sum_c gains[c] * x[:, c]**2`` per frame, accumulated in float64 column by column."""
    total = np.square(x[:, 0], dtype=np.float64)
    total *= gains[0]
    for c in range(1, x.shape[1]):
        column = np.square(x[:, c], dtype=np.float64)
        column *= gains[c]
        total += column
    return total


@lru_cache(maxsize=8)
def _k_weighting(sr: int) -> tuple[tuple[float, ...], ...]:
    """BS.1770 K-weighting (high shelf, then high pass) as second-order sections, as pyloudnorm's
    ``Meter`` designs it for ``sr``."""
    stages = (
        pyloudnorm.IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, sr, "high_shelf"),
        pyloudnorm.IIRfilter(0.0, 0.5, 38.0, sr, "high_pass"),
    )
    return tuple(tuple(np.concatenate([st.b * st.passband_gain, st.a])) for st in stages)


def integrated_loudness(x: np.ndarray, *, sr: int) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770-4) of float ``(frames, ch)`` audio (filtered in float64).

    Same gating as ``pyloudnorm.Meter(sr).integrated_loudness`` (400 ms blocks, 75% overlap,
    -70 LUFS absolute and -10 LU relative gates); silence and audio shorter than one block read
    :data:`LUFS_FLOOR`.
    """
    n, channels = x.shape
    if n < int(np.ceil(_GATE_BLOCK_S * sr)):
        return LUFS_FLOOR
    weighted = sosfilt(np.array(_k_weighting(sr)), x, axis=0)
    gains = np.array([_CHANNEL_GAINS[c] if c < len(_CHANNEL_GAINS) else 1.0 for c in range(channels)])
    n_blocks = int(np.round((n / sr - _GATE_BLOCK_S) / (_GATE_BLOCK_S * _GATE_STEP))) + 1
    j = np.arange(n_blocks)
    lo = np.minimum((_GATE_BLOCK_S * (j * _GATE_STEP) * sr).astype(np.int64), n)
    hi = np.minimum((_GATE_BLOCK_S * (j * _GATE_STEP + 1) * sr).astype(np.int64), n)
    # BS.1770 sums channel gain x block mean square. That sum is linear, so the gained powers are
    # summed per sample first, then per stretch between consecutive block edges (one pass), and
    # each block adds up its stretches.
    power = _channel_sum_of_squares(weighted, gains)
    edges = np.union1d(lo, hi)
    starts = edges[edges < n]
    running = np.concatenate([[0.0], np.cumsum(np.add.reduceat(power, starts))])
    if edges[-1] == n:
        starts = np.append(starts, n)
    else:  # the stretch after the last edge is summed but no block ends past it
        running = running[:-1]
    power = (running[np.searchsorted(starts, hi)] - running[np.searchsorted(starts, lo)]) / (
        _GATE_BLOCK_S * sr
    )
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(power)
        above = block_lufs >= _ABSOLUTE_GATE_LUFS
        if not above.any():
            return LUFS_FLOOR
        relative = -0.691 + 10.0 * np.log10(power[above].mean()) + _RELATIVE_GATE_LU
        gated = (block_lufs > relative) & (block_lufs > _ABSOLUTE_GATE_LUFS)
        if not gated.any():
            return LUFS_FLOOR
        value = -0.691 + 10.0 * np.log10(power[gated].mean())
    return float(max(value, LUFS_FLOOR)) if np.isfinite(value) else LUFS_FLOOR


@lru_cache(maxsize=1)
def _true_peak_filter() -> tuple[np.ndarray, np.ndarray, float]:
    """The interpolator ``h``, its polyphase matrix ``H[k, p] = h[L*k + p]`` and the largest
    gain any phase can have (sum of its absolute taps)."""
    over = _TRUE_PEAK_OVERSAMPLE
    # A short 48-tap interpolator as BS.1770-4 Annex 2 suggests: accurate to a few tenths of a dB.
    h = over * firwin(_TRUE_PEAK_TAPS, 0.95 / over, window=("kaiser", 8.0))
    phases = h.reshape(-1, over)
    return h, phases, float(np.abs(phases).sum(axis=0).max())


def true_peak(x: np.ndarray, *, magnitude: np.ndarray | None = None) -> float:
    """Largest absolute value of float ``(frames, ch)`` audio oversampled 4x (linear, in float64).

    Output samples between inputs ``m - 11 .. m`` are 12-tap filters of them, so they cannot
    exceed ``gain * max |x[m - 11 .. m]|``. The bound is taken per block of 16 positions, and only
    blocks where it beats the peak found so far are filtered (for music, a few percent); when more
    than a quarter are candidates (a steady full-scale tone) the whole channel is filtered at once.
    The result equals ``max(|upfirdn(h, x, 4)|)`` over all channels to rounding, and is never below
    the sample peak. ``magnitude`` is ``|x|`` when the caller has it already.
    """
    h, phases, gain = _true_peak_filter()
    taps = phases.shape[0]
    block = _TRUE_PEAK_BLOCK
    n = x.shape[0]
    if n == 0:
        return 0.0
    magnitude = np.abs(x) if magnitude is None else magnitude
    best = float(magnitude.max())
    n_blocks = -(-(n + taps - 1) // block)  # blocks of output groups 0 .. n + taps - 2
    block_max = np.zeros((n_blocks + 1, x.shape[1]))  # row b + 1: max |x| of input block b
    block_max[1 : 1 + -(-n // block)] = np.maximum.reduceat(magnitude, np.arange(0, n, block), axis=0)
    # Group block b reads inputs b*block - (taps - 1) .. b*block + block - 1: input blocks b - 1, b.
    reach = np.maximum(block_max[:-1], block_max[1:])
    lags = np.arange(taps)  # x[m - k] for tap k
    offsets = np.arange(block)
    for c, column in enumerate(x.T):
        candidates = np.flatnonzero(reach[:, c] * (gain * (1.0 + 1e-12)) > best)
        if candidates.size > _TRUE_PEAK_FULL_SHARE * n_blocks:
            over = upfirdn(h, np.ascontiguousarray(column), _TRUE_PEAK_OVERSAMPLE)
            best = max(best, float(np.max(np.abs(over))))
            continue
        for start in range(0, candidates.size, _CANDIDATE_CHUNK):
            groups = (candidates[start : start + _CANDIDATE_CHUNK, None] * block + offsets).ravel()
            index = groups[:, None] - lags
            inside = (index >= 0) & (index < n)
            window = np.where(inside, column[np.clip(index, 0, n - 1)], 0.0)
            # einsum's own loop: a BLAS call for a 12x4 right-hand side only adds thread overhead
            values = np.einsum("gk,kp->gp", window, phases)
            best = max(best, float(np.max(np.abs(values))))
    return best


def _silence_fraction(frame_power: np.ndarray, sr: int, silence_dbfs: float) -> float:
    """Share of 100 ms frames whose mean power (over samples and channels) is below the level."""
    n = max(1, int(round(0.1 * sr)))
    starts = np.arange(0, frame_power.shape[0], n)
    counts = np.diff(np.append(starts, frame_power.shape[0]))
    mean_sq = np.add.reduceat(frame_power, starts) / counts
    return float(np.mean(F.db(mean_sq) < silence_dbfs))


def signal_metrics(audio: np.ndarray, *, sr: int, silence_dbfs: float = -60.0) -> dict[str, float]:
    """Loudness, level, clipping and silence metrics of float audio ``(frames,)`` / ``(frames, ch)``.

    Raises :class:`~rlmdj.errors.ParameterError` for empty, non-finite or misshaped input.
    """
    sr = valid_sr(sr)
    # float32 stays float32 (no 8-byte copy of a whole set): peaks and comparisons are exact in
    # it, and every sum below accumulates in float64.
    x = valid_audio(audio)
    magnitude = np.abs(x)
    peak = float(magnitude.max())
    frame_power = _channel_sum_of_squares(x, np.ones(x.shape[1])) / x.shape[1]  # mean over channels
    rms = math.sqrt(float(frame_power.mean()))
    peak_dbfs = _amp_db(peak)
    rms_dbfs = _amp_db(rms)
    n = x.shape[0]
    dc = max(abs(float(x[:, c].sum(dtype=np.float64))) for c in range(x.shape[1])) / n
    return {
        "lufs": integrated_loudness(x, sr=sr),
        "peak_dbfs": peak_dbfs,
        "true_peak_dbfs": _amp_db(true_peak(x, magnitude=magnitude)),
        "rms_dbfs": rms_dbfs,
        "crest_factor_db": float(peak_dbfs - rms_dbfs) if rms > 0.0 else 0.0,
        "clipped_fraction": float(np.count_nonzero(magnitude >= np.float64(CLIP_LEVEL)) / magnitude.size),
        "silence_fraction": _silence_fraction(frame_power, sr, silence_dbfs),
        "dc_offset": dc,
        "duration_s": n / float(sr),
    }
