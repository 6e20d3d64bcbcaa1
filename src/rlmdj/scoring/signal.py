"""Signal metrics of a rendered set, logged as ``signal/<key>`` MLflow metrics.

Offers :func:`signal_metrics`, which returns plain floats (never inf or NaN, so every value
can be logged):

- ``lufs``: integrated loudness, ITU-R BS.1770-4 (pyloudnorm, K-weighted, gated). Silence,
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
"""

from __future__ import annotations

import warnings

import numpy as np
import pyloudnorm
from scipy.signal import firwin, upfirdn

from rlmdj.audio.valid import valid_audio, valid_sr
from rlmdj.scoring import features as F

__all__ = ["signal_metrics", "CLIP_LEVEL", "LUFS_FLOOR", "LEVEL_FLOOR_DB"]

CLIP_LEVEL = 0.999
"""|x| at or above this (full scale 1.0) counts as clipped."""

LUFS_FLOOR = -120.0
"""Loudness reported for silence or audio too short to measure."""

LEVEL_FLOOR_DB = -120.0
"""Floor for peak / RMS levels so silence is finite."""

_GATE_BLOCK_S = 0.4  # BS.1770 gating block: shorter audio has no integrated loudness
_TRUE_PEAK_OVERSAMPLE = 4


def _amp_db(value: float) -> float:
    return float(max(20.0 * np.log10(value), LEVEL_FLOOR_DB)) if value > 0.0 else LEVEL_FLOOR_DB


def _lufs(x: np.ndarray, sr: int) -> float:
    if x.shape[0] < int(np.ceil(_GATE_BLOCK_S * sr)):
        return LUFS_FLOOR
    meter = pyloudnorm.Meter(sr)
    data = x[:, 0] if x.shape[1] == 1 else x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm warns about silence; we floor it instead
        with np.errstate(divide="ignore", invalid="ignore"):
            value = float(meter.integrated_loudness(data))
    return float(max(value, LUFS_FLOOR)) if np.isfinite(value) else LUFS_FLOOR


def _silence_fraction(x: np.ndarray, sr: int, silence_dbfs: float) -> float:
    n = max(1, int(round(0.1 * sr)))
    starts = np.arange(0, x.shape[0], n)
    sq = np.square(x).mean(axis=1)
    counts = np.diff(np.append(starts, x.shape[0]))
    mean_sq = np.add.reduceat(sq, starts) / counts
    return float(np.mean(F.db(mean_sq) < silence_dbfs))


def _true_peak(x: np.ndarray) -> float:
    # A short 48-tap interpolator as BS.1770-4 Annex 2 suggests: accurate to a few tenths of
    # a dB and fast enough (~0.35 s per minute of stereo) for a once-per-set metric.
    h = _TRUE_PEAK_OVERSAMPLE * firwin(48, 0.95 / _TRUE_PEAK_OVERSAMPLE, window=("kaiser", 8.0))
    over = max(
        float(np.max(np.abs(upfirdn(h, np.ascontiguousarray(ch), _TRUE_PEAK_OVERSAMPLE))))
        for ch in x.T
    )
    return float(max(over, np.max(np.abs(x))))


def signal_metrics(audio: np.ndarray, *, sr: int, silence_dbfs: float = -60.0) -> dict[str, float]:
    """Loudness, level, clipping and silence metrics of float audio ``(frames,)`` / ``(frames, ch)``.

    Raises :class:`~rlmdj.errors.ParameterError` for empty, non-finite or misshaped input.
    """
    sr = valid_sr(sr)
    x = valid_audio(audio, dtype=np.float64)
    peak = float(np.max(np.abs(x)))
    rms = float(np.sqrt(np.mean(np.square(x))))
    peak_dbfs = _amp_db(peak)
    rms_dbfs = _amp_db(rms)
    return {
        "lufs": _lufs(x, sr),
        "peak_dbfs": peak_dbfs,
        "true_peak_dbfs": _amp_db(_true_peak(x)),
        "rms_dbfs": rms_dbfs,
        "crest_factor_db": float(peak_dbfs - rms_dbfs) if rms > 0.0 else 0.0,
        "clipped_fraction": float(np.mean(np.abs(x) >= CLIP_LEVEL)),
        "silence_fraction": _silence_fraction(x, sr, silence_dbfs),
        "dc_offset": F.dc_offset(x),
        "duration_s": x.shape[0] / float(sr),
    }
