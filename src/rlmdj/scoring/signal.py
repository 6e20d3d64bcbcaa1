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
(``benchmarks/bench_proxy.py`` prints both). Everything is measured in one pass over chunks of
about 35k frames, so intermediates stay in cache. Loudness keeps a running sum of gained power
at the gating-block edges instead of summing block by block; the true peak runs the
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
_CHUNK_TARGET = 1 << 16  # frames per processing chunk: its float64 intermediates stay in cache


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


class _Loudness:
    """Integrated loudness fed chunk by chunk: the K-weighting filter carries its state across
    chunks, and the running sum of gained power is kept only at gating-block edges."""

    def __init__(self, n: int, channels: int, sr: int) -> None:
        self.enough = n >= int(np.ceil(_GATE_BLOCK_S * sr))
        self.sos = np.array(_k_weighting(sr))
        self.state = np.zeros((self.sos.shape[0], 2, channels))
        self.gains = np.array([_CHANNEL_GAINS[c] if c < len(_CHANNEL_GAINS) else 1.0
                               for c in range(channels)])
        self.scale = _GATE_BLOCK_S * sr
        # Block edges exactly as pyloudnorm computes them (float expressions, then truncation).
        n_blocks = int(np.round((n / sr - _GATE_BLOCK_S) / (_GATE_BLOCK_S * _GATE_STEP))) + 1
        j = np.arange(max(n_blocks, 0))
        self.lo = np.minimum((_GATE_BLOCK_S * (j * _GATE_STEP) * sr).astype(np.int64), n)
        self.hi = np.minimum((_GATE_BLOCK_S * (j * _GATE_STEP + 1) * sr).astype(np.int64), n)
        self.edges = np.union1d(self.lo, self.hi)
        self.running = np.zeros(self.edges.size)  # sum of gained power before each edge
        self.total = 0.0

    def add(self, start: int, chunk: np.ndarray) -> None:
        if not self.enough:
            return
        weighted, self.state = sosfilt(self.sos, chunk, axis=0, zi=self.state)
        cumulative = np.cumsum(_channel_sum_of_squares(weighted, self.gains))
        end = start + chunk.shape[0]
        first, last = np.searchsorted(self.edges, [start, end], side="right")
        self.running[first:last] = self.total + cumulative[self.edges[first:last] - start - 1]
        self.total += float(cumulative[-1])

    def value(self) -> float:
        if not self.enough:
            return LUFS_FLOOR
        at = self.running[np.searchsorted(self.edges, self.hi)]
        power = (at - self.running[np.searchsorted(self.edges, self.lo)]) / self.scale
        # BS.1770 sums channel gain x block mean square; summed per sample first (linear).
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10.0 * np.log10(np.maximum(power, 0.0))
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


class _TruePeak:
    """Oversampled peak: block maxima of ``|x|`` gathered chunk by chunk, then the filter run
    only where it could beat the sample peak (see :func:`true_peak`)."""

    def __init__(self, n: int, channels: int) -> None:
        self.n = n
        taps = _true_peak_filter()[1].shape[0]
        self.n_blocks = -(-(n + taps - 1) // _TRUE_PEAK_BLOCK)  # blocks of output groups
        self.block_max = np.zeros((self.n_blocks + 1, channels))  # row b + 1: input block b

    def add(self, start: int, magnitude: np.ndarray) -> None:
        """``magnitude`` is ``|x[start : start + len]|``; ``start`` is a multiple of the block."""
        row = 1 + start // _TRUE_PEAK_BLOCK
        maxima = np.maximum.reduceat(magnitude, np.arange(0, magnitude.shape[0], _TRUE_PEAK_BLOCK),
                                     axis=0)
        self.block_max[row : row + maxima.shape[0]] = maxima

    def value(self, x: np.ndarray, peak: float) -> float:
        h, phases, gain = _true_peak_filter()
        taps, block, n = phases.shape[0], _TRUE_PEAK_BLOCK, self.n
        best = peak
        # Group block b reads inputs b*block - (taps - 1) .. b*block + block - 1: input blocks
        # b - 1 and b (block >= taps - 1).
        reach = np.maximum(self.block_max[:-1], self.block_max[1:])
        back, offsets = taps - 1 - np.arange(taps), np.arange(block)
        for c, column in enumerate(x.T):
            candidates = np.flatnonzero(reach[:, c] * (gain * (1.0 + 1e-12)) > best)
            if candidates.size > _TRUE_PEAK_FULL_SHARE * self.n_blocks:
                over = upfirdn(h, np.ascontiguousarray(column), _TRUE_PEAK_OVERSAMPLE)
                best = max(best, float(np.max(np.abs(over))))
                continue
            if not candidates.size:
                continue
            # padded[m + back[k]] is x[m - k], zero outside the audio
            padded = np.zeros(taps - 1 + (self.n_blocks + 1) * block, dtype=column.dtype)
            padded[taps - 1 : taps - 1 + n] = column
            for first in range(0, candidates.size, _CANDIDATE_CHUNK):
                groups = (candidates[first : first + _CANDIDATE_CHUNK, None] * block + offsets).ravel()
                window = padded[groups[:, None] + back]
                # einsum's own loop: a BLAS call for a 12x4 right-hand side only adds thread overhead
                values = np.einsum("gk,kp->gp", window, phases)
                best = max(best, float(np.max(np.abs(values))))
        return best


def _chunk_frames(sr: int) -> tuple[int, int]:
    """Frames per processing chunk (whole silence frames and whole true-peak blocks, about 64k)
    and frames per 100 ms silence frame."""
    silence = max(1, int(round(0.1 * sr)))
    unit = silence * _TRUE_PEAK_BLOCK // math.gcd(silence, _TRUE_PEAK_BLOCK)
    return unit * max(1, _CHUNK_TARGET // unit), silence


def integrated_loudness(x: np.ndarray, *, sr: int) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770-4) of float ``(frames, ch)`` audio.

    Same K-weighting and gating as ``pyloudnorm.Meter(sr).integrated_loudness`` (400 ms blocks,
    75% overlap, -70 LUFS absolute and -10 LU relative gates), filtered in float64 chunk by
    chunk; silence and audio shorter than one block read :data:`LUFS_FLOOR`.
    """
    meter = _Loudness(x.shape[0], x.shape[1], sr)
    step = _chunk_frames(sr)[0]
    for start in range(0, x.shape[0], step):
        meter.add(start, x[start : start + step])
    return meter.value()


def true_peak(x: np.ndarray) -> float:
    """Largest absolute value of float ``(frames, ch)`` audio oversampled 4x (linear, in float64).

    Output samples between inputs ``m - 11 .. m`` are 12-tap filters of them, so they cannot
    exceed ``gain * max |x[m - 11 .. m]|``. The bound is taken per block of 16 positions, and only
    blocks where it beats the peak found so far are filtered (for music, a few percent); when more
    than a quarter are candidates (a steady full-scale tone) the whole channel is filtered at once.
    The result equals ``max(|upfirdn(h, x, 4)|)`` over all channels to rounding, and is never below
    the sample peak.
    """
    if x.shape[0] == 0:
        return 0.0
    meter = _TruePeak(x.shape[0], x.shape[1])
    step = _chunk_frames(44_100)[0]
    peak = 0.0
    for start in range(0, x.shape[0], step):
        magnitude = np.abs(x[start : start + step])
        peak = max(peak, float(magnitude.max()))
        meter.add(start, magnitude)
    return meter.value(x, peak)


def signal_metrics(audio: np.ndarray, *, sr: int, silence_dbfs: float = -60.0) -> dict[str, float]:
    """Loudness, level, clipping and silence metrics of float audio ``(frames,)`` / ``(frames, ch)``.

    One pass over the audio in chunks of about 64k frames, so every intermediate stays in cache;
    float32 audio is read as is (peaks and comparisons are exact in it) and every sum
    accumulates in float64. Raises :class:`~rlmdj.errors.ParameterError` for empty, non-finite
    or misshaped input.
    """
    sr = valid_sr(sr)
    x = valid_audio(audio)
    n, channels = x.shape
    step, silence_frame = _chunk_frames(sr)
    loudness = _Loudness(n, channels, sr)
    peaks = _TruePeak(n, channels)
    ones = np.ones(channels)
    clip_level = np.float64(CLIP_LEVEL)  # compared in float64, not rounded to float32
    peak, clipped, energy = 0.0, 0, 0.0
    column_sums = np.zeros(channels)
    frame_energy = []
    for start in range(0, n, step):
        chunk = x[start : start + step]
        magnitude = np.abs(chunk)
        peak = max(peak, float(magnitude.max()))
        clipped += int(np.count_nonzero(magnitude >= clip_level))
        peaks.add(start, magnitude)
        power = _channel_sum_of_squares(chunk, ones)  # per frame, summed over channels
        energy += float(power.sum())
        frame_energy.append(np.add.reduceat(power, np.arange(0, power.size, silence_frame)))
        for c in range(channels):  # column by column: an axis-0 sum of (frames, 2) is far slower
            column_sums[c] += float(chunk[:, c].sum(dtype=np.float64))
        loudness.add(start, chunk)
    counts = np.diff(np.append(np.arange(0, n, silence_frame), n)) * channels
    frame_ms = np.concatenate(frame_energy) / counts  # mean square of each 100 ms frame
    rms = math.sqrt(energy / (n * channels))
    peak_dbfs, rms_dbfs = _amp_db(peak), _amp_db(rms)
    return {
        "lufs": loudness.value(),
        "peak_dbfs": peak_dbfs,
        "true_peak_dbfs": _amp_db(peaks.value(x, peak)),
        "rms_dbfs": rms_dbfs,
        "crest_factor_db": float(peak_dbfs - rms_dbfs) if rms > 0.0 else 0.0,
        "clipped_fraction": clipped / float(n * channels),
        "silence_fraction": float(np.mean(F.db(frame_ms) < silence_dbfs)),
        "dc_offset": float(np.max(np.abs(column_sums))) / n,
        "duration_s": n / float(sr),
    }
