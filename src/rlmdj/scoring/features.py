"""Small pure feature functions over numpy arrays, shared by the proxy scorer and signal metrics.

Offers:

- :func:`to_mono`, :func:`resample`: mixdown and polyphase resampling.
- :func:`power_spectrogram`: Hann-windowed STFT power, frames x bins.
- :func:`band_levels_db`, :func:`band_coverage`: energy per frequency band and how many bands
  carry real energy (a full mix covers sub, lows, mids, presence and air).
- :func:`spectral_flatness`: geometric / arithmetic mean of the long-term spectrum
  (white noise is about 1, a tone about 0).
- :func:`onset_envelope`, :func:`onset_strength`, :func:`pulse_strength`, :func:`onset_density`:
  rhythm features from the spectral-flux onset envelope.
- :func:`clipped_run_fraction`, :func:`crest_factor_db`, :func:`dc_offset`,
  :func:`high_band_share`, :func:`active_fraction`: production-quality features.

Every function is deterministic: the same arrays in give the same numbers out. Inputs are
checked once, where audio enters a scorer, by :func:`rlmdj.audio.valid.valid_audio`.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import gcd

import numpy as np
from scipy.signal import resample_poly

__all__ = [
    "BANDS_HZ",
    "to_mono",
    "resample",
    "power_spectrogram",
    "band_levels_db",
    "band_coverage",
    "spectral_flatness",
    "onset_envelope",
    "onset_strength",
    "pulse_strength",
    "onset_density",
    "clipped_run_fraction",
    "crest_factor_db",
    "dc_offset",
    "high_band_share",
    "active_fraction",
    "db",
]

#: Bands a full techno mix fills: sub/kick, bass/low-mids, mids, presence, air (Hz).
BANDS_HZ: tuple[tuple[float, float], ...] = (
    (20.0, 150.0),
    (150.0, 600.0),
    (600.0, 2500.0),
    (2500.0, 8000.0),
    (8000.0, 20000.0),
)

_TINY = 1e-12


def db(power_ratio: np.ndarray | float, *, floor_db: float = -120.0) -> np.ndarray | float:
    """10*log10 of a power ratio, floored so silence gives ``floor_db`` instead of -inf."""
    out = 10.0 * np.log10(np.maximum(power_ratio, 10.0 ** (floor_db / 10.0)))
    return float(out) if np.ndim(out) == 0 else out


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average channels of ``(frames, ch)`` audio into ``(frames,)``."""
    return x[:, 0].copy() if x.shape[1] == 1 else x.mean(axis=1)


def resample(x: np.ndarray, *, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling of a 1-D signal from ``sr_in`` to ``sr_out`` Hz."""
    if sr_in == sr_out:
        return x
    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(x, sr_out // g, sr_in // g)


def power_spectrogram(x: np.ndarray, *, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Hann-windowed STFT power ``|X|^2 / sum(w^2)`` shaped ``(frames, n_fft // 2 + 1)``.

    Short inputs are zero-padded to one full frame so every window yields at least one frame.
    """
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    n_frames = 1 + (x.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n_frames]
    w = np.hanning(n_fft + 1)[:-1]
    spec = np.fft.rfft(frames * w, axis=1)
    return (spec.real**2 + spec.imag**2) / float(np.sum(w**2))


def _bin_freqs(n_bins: int, sr: int) -> np.ndarray:
    return np.linspace(0.0, sr / 2.0, n_bins)


def band_levels_db(
    power: np.ndarray, *, sr: int, bands_hz: Sequence[tuple[float, float]] = BANDS_HZ
) -> np.ndarray:
    """Mean power per band (dB) over all frames; bands above Nyquist read -120 dB."""
    freqs = _bin_freqs(power.shape[1], sr)
    mean_spec = power.mean(axis=0)
    levels = []
    for lo, hi in bands_hz:
        sel = (freqs >= lo) & (freqs < hi)
        levels.append(db(mean_spec[sel].sum()) if sel.any() else -120.0)
    return np.asarray(levels)


def band_coverage(levels_db: np.ndarray, *, full_db: float = 25.0, empty_db: float = 45.0) -> float:
    """How many bands beyond the loudest carry energy, in 0..1.

    A band at most ``full_db`` below the loudest counts fully, one ``empty_db`` below counts
    zero, linear between. A single tone covers one band (0.0); a full mix covers all (1.0).
    """
    if levels_db.max() <= -119.0:
        return 0.0  # nothing above the floor: silence covers no band
    rel = levels_db - levels_db.max()
    credit = np.clip((rel + empty_db) / (empty_db - full_db), 0.0, 1.0)
    return float((credit.sum() - 1.0) / max(len(levels_db) - 1, 1))


def spectral_flatness(
    power: np.ndarray, *, sr: int, lo_hz: float = 40.0, hi_hz: float = 10000.0
) -> float:
    """Flatness of the long-term spectrum between ``lo_hz`` and ``hi_hz``, in 0..1.

    Computed on the time-averaged spectrum, so white noise reads about 1 and tonal or
    bass-heavy music near 0 (per-frame flatness would cap noise near 0.56).
    """
    freqs = _bin_freqs(power.shape[1], sr)
    spec = power.mean(axis=0)[(freqs >= lo_hz) & (freqs < min(hi_hz, sr / 2.0))]
    if spec.size == 0 or spec.mean() <= _TINY:
        return 0.0
    geo = np.exp(np.mean(np.log(spec + _TINY)))
    return float(np.clip(geo / spec.mean(), 0.0, 1.0))


def onset_envelope(power: np.ndarray, *, range_db: float = 80.0) -> np.ndarray:
    """Spectral flux: mean positive dB change per bin between frames (one value per frame).

    dB levels are floored ``range_db`` below the loudest bin (and at -120 dB) so silence and
    leakage floors do not register as onsets.
    """
    level = db(power)
    level = np.maximum(level, max(float(level.max()) - range_db, -120.0))
    flux = np.maximum(np.diff(level, axis=0), 0.0).mean(axis=1)
    return np.concatenate([[0.0], flux])


def onset_strength(onset_env: np.ndarray, *, full_db: float = 1.0) -> float:
    """How much the onset envelope moves (std in dB per bin), mapped to 0..1.

    Guards the autocorrelation features: a drone's envelope is near-constant and its
    normalised autocorrelation would otherwise be numerical noise.
    """
    if onset_env.size < 2:
        return 0.0
    return float(np.clip(onset_env.std() / full_db, 0.0, 1.0))


def pulse_strength(
    onset_env: np.ndarray,
    *,
    frame_rate_hz: float,
    bpm_range: tuple[float, float] = (100.0, 160.0),
) -> tuple[float, float]:
    """Beat-pulse strength and regularity from the onset envelope's autocorrelation.

    Returns ``(pulse, regularity)`` in 0..1: ``pulse`` is the largest normalised
    autocorrelation at a lag in the beat-period range; ``regularity`` is the mean
    autocorrelation at 2 and 4 times that lag (half and whole bar), high for a steady groove.
    """
    x = onset_env - onset_env.mean()
    n = x.size
    energy = float(np.dot(x, x))
    lo = int(np.floor(60.0 / bpm_range[1] * frame_rate_hz))
    hi = int(np.ceil(60.0 / bpm_range[0] * frame_rate_hz))
    if energy <= _TINY or n <= hi + 1:
        return 0.0, 0.0
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, nfft)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2, nfft)[:n]
    # Unbiased normalisation: each lag's sum has n - lag terms.
    r = ac / energy * n / np.maximum(n - np.arange(n), 1)
    lag = lo + int(np.argmax(r[lo : hi + 1]))
    pulse = float(np.clip(r[lag], 0.0, 1.0))
    # The true period is rarely a whole number of frames, so search +-k/2 frames around k*lag.
    multiples = [
        float(r[max(k * lag - k // 2 - 1, 0) : k * lag + k // 2 + 2].max())
        for k in (2, 4)
        if k * lag + k // 2 + 2 < n * 3 // 4
    ]
    regularity = float(np.clip(np.mean(multiples), 0.0, 1.0)) if multiples else pulse
    return pulse, regularity


def onset_density(onset_env: np.ndarray, *, frame_rate_hz: float, max_per_s: float = 8.0) -> float:
    """Onsets per second (peaks of the envelope), mapped to 0..1 at ``max_per_s``.

    A peak is a local maximum within +-35 ms that rises above the median by at least a third
    of the envelope's range, so steady noise or a drone yields few onsets.
    """
    if onset_env.size < 3:
        return 0.0
    half = max(1, int(round(0.035 * frame_rate_hz)))
    padded = np.pad(onset_env, half, mode="constant", constant_values=-np.inf)
    local_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).max(axis=1)
    med = float(np.median(onset_env))
    thr = med + (float(onset_env.max()) - med) / 3.0
    peaks = (onset_env >= local_max) & (onset_env > thr)
    duration_s = onset_env.size / frame_rate_hz
    return float(np.clip(peaks.sum() / duration_s / max_per_s, 0.0, 1.0))


def clipped_run_fraction(x: np.ndarray, *, peak: float, rel_level: float = 0.999) -> float:
    """Fraction of samples sitting flat at the clip level: hard clipping's fingerprint.

    Counts samples with ``|x| >= rel_level * peak`` that equal the previous sample of the
    same channel. Clean audio almost never repeats a sample value at its peak; hard-clipped
    audio does for whole runs, and that survives any later gain change. ``x`` is
    ``(frames, ch)``; ``peak`` is the whole signal's absolute peak.
    """
    if x.shape[0] < 2 or peak <= 0.0:
        return 0.0
    near = np.abs(x) >= rel_level * peak
    flat = near[1:] & near[:-1] & (x[1:] == x[:-1])
    return float(flat.sum() / x.size)


def crest_factor_db(x: np.ndarray) -> float:
    """Peak over RMS in dB (a sine is 3.01 dB); 0.0 for silence."""
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    if rms <= _TINY:
        return 0.0
    return float(20.0 * np.log10(np.max(np.abs(x)) / rms))


def dc_offset(x: np.ndarray) -> float:
    """Largest absolute per-channel mean of ``(frames, ch)`` audio (full scale = 1.0)."""
    if not x.size:
        return 0.0
    # Column by column: numpy's axis-0 mean of a (frames, 2) array is several times slower.
    return max(abs(float(x[:, c].sum())) for c in range(x.shape[1])) / x.shape[0]


def high_band_share(power: np.ndarray, *, sr: int, cutoff_hz: float = 8000.0) -> float:
    """Share of total power above ``cutoff_hz`` (0 when the rate cannot represent it)."""
    freqs = _bin_freqs(power.shape[1], sr)
    total = float(power.sum())
    if total <= _TINY:
        return 0.0
    return float(power[:, freqs >= cutoff_hz].sum() / total)


def active_fraction(
    x: np.ndarray, *, sr: int, frame_s: float = 0.1, silence_dbfs: float = -60.0
) -> float:
    """Fraction of ``frame_s`` frames whose RMS is at or above ``silence_dbfs`` (1-D input)."""
    n = max(1, int(round(frame_s * sr)))
    n_frames = max(1, x.size // n)
    usable = x[: n_frames * n] if x.size >= n else np.pad(x, (0, n - x.size))
    ms = np.mean(np.square(usable.reshape(n_frames, -1)), axis=1)
    return float(np.mean(db(ms) >= silence_dbfs))
