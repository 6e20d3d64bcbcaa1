"""Tests of signal metrics against signals with known levels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlmdj.errors import ParameterError
from rlmdj.scoring.signal import CLIP_LEVEL, LUFS_FLOOR, signal_metrics

SR = 44100
KEYS = {
    "lufs",
    "peak_dbfs",
    "true_peak_dbfs",
    "rms_dbfs",
    "crest_factor_db",
    "clipped_fraction",
    "silence_fraction",
    "dc_offset",
    "duration_s",
}


def sine(freq_hz: float, duration_s: float, amp: float) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq_hz * np.arange(int(duration_s * SR)) / SR)


def test_known_sine_levels():
    m = signal_metrics(sine(1000.0, 2.0, 0.5), sr=SR)
    assert set(m) == KEYS
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert m["peak_dbfs"] == pytest.approx(20 * math.log10(0.5), abs=0.01)
    assert m["rms_dbfs"] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.01)
    assert m["crest_factor_db"] == pytest.approx(3.01, abs=0.02)
    assert m["true_peak_dbfs"] == pytest.approx(m["peak_dbfs"], abs=0.1)
    assert m["clipped_fraction"] == 0.0
    assert m["silence_fraction"] == 0.0
    assert m["dc_offset"] == pytest.approx(0.0, abs=1e-6)
    assert m["duration_s"] == pytest.approx(2.0)


def test_lufs_of_minus_20_dbfs_1khz_sine():
    # BS.1770: a 1 kHz sine on one channel reads its RMS level in dBFS (peak -20 -> -23.01 LUFS).
    m = signal_metrics(sine(1000.0, 5.0, 0.1), sr=SR)
    assert m["lufs"] == pytest.approx(-23.01, abs=0.5)


def test_stereo_sine_is_3_lu_louder_than_mono():
    mono = sine(1000.0, 3.0, 0.1)
    m1 = signal_metrics(mono, sr=SR)
    m2 = signal_metrics(np.stack([mono, mono], axis=1), sr=SR)
    assert m2["lufs"] - m1["lufs"] == pytest.approx(3.01, abs=0.1)
    assert m2["peak_dbfs"] == pytest.approx(m1["peak_dbfs"])


def test_half_silent_audio():
    x = sine(220.0, 4.0, 0.5)
    x[: x.size // 2] = 0.0
    assert signal_metrics(x, sr=SR)["silence_fraction"] == pytest.approx(0.5, abs=0.03)


def test_silence_threshold_is_configurable():
    x = sine(220.0, 1.0, 10 ** (-50 / 20))  # about -53 dBFS RMS
    assert signal_metrics(x, sr=SR)["silence_fraction"] == 0.0
    assert signal_metrics(x, sr=SR, silence_dbfs=-40.0)["silence_fraction"] == 1.0


def test_silence_gives_finite_floors():
    m = signal_metrics(np.zeros((SR, 2)), sr=SR)
    assert m["lufs"] == LUFS_FLOOR
    assert m["peak_dbfs"] == -120.0
    assert m["rms_dbfs"] == -120.0
    assert m["crest_factor_db"] == 0.0
    assert m["silence_fraction"] == 1.0


def test_too_short_for_loudness_reports_floor():
    m = signal_metrics(sine(1000.0, 0.2, 0.5), sr=SR)
    assert m["lufs"] == LUFS_FLOOR
    assert m["peak_dbfs"] == pytest.approx(-6.02, abs=0.01)


def test_clipped_signal():
    x = np.clip(sine(100.0, 1.0, 4.0), -1.0, 1.0)
    m = signal_metrics(x, sr=SR)
    assert m["clipped_fraction"] > 0.5
    assert m["crest_factor_db"] < 1.0
    clean = signal_metrics(sine(100.0, 1.0, 0.99), sr=SR)
    assert clean["clipped_fraction"] == 0.0
    assert CLIP_LEVEL < 1.0


def test_true_peak_catches_inter_sample_over():
    # A quarter-rate sine sampled 45 degrees off its crest: samples at 0.707, true peak 1.0.
    t = np.arange(SR) / SR
    x = np.sin(2 * np.pi * (SR / 4) * t + np.pi / 4)
    m = signal_metrics(x, sr=SR)
    assert m["peak_dbfs"] == pytest.approx(-3.01, abs=0.05)
    assert m["true_peak_dbfs"] == pytest.approx(0.0, abs=0.3)


def test_dc_offset():
    x = np.stack([sine(220.0, 1.0, 0.3) + 0.1, sine(220.0, 1.0, 0.3)], axis=1)
    assert signal_metrics(x, sr=SR)["dc_offset"] == pytest.approx(0.1, abs=1e-3)


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(0),
        np.array([0.1, np.nan]),
        np.array([np.inf, 0.0]),
        np.zeros((2, 2, 2)),
        np.zeros(100, dtype=np.int16),
    ],
    ids=["empty", "nan", "inf", "3d", "int16"],
)
def test_bad_input_raises(audio):
    with pytest.raises(ParameterError):
        signal_metrics(audio, sr=SR)


# -- the fast paths give the reference implementations' numbers --------------------------------

def _reference_true_peak(x: np.ndarray) -> float:
    """Every channel oversampled in full with the same interpolator, as ``true_peak`` promises."""
    from scipy.signal import upfirdn

    from rlmdj.scoring.signal import _true_peak_filter

    h = _true_peak_filter()[0]
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    over = max(float(np.max(np.abs(upfirdn(h, np.ascontiguousarray(c), 4)))) for c in x.T)
    return max(over, float(np.max(np.abs(x))))


def _music_like(seconds: float, *, seed: int, channels: int = 2) -> np.ndarray:
    """Kicks on the beat, a gated bass and noise: peaks are rare, as in a mastered set."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = (t * 128.0 / 60.0) % 1.0
    mono = np.sin(2 * np.pi * 55.0 * t) * np.exp(-12.0 * phase) + 0.3 * np.sin(2 * np.pi * 110 * t) * (phase > 0.5)
    x = mono[:, None] + 0.05 * rng.standard_normal((t.size, channels))
    return (x * (0.891 / np.max(np.abs(x)))).astype(np.float32)


@pytest.mark.parametrize(
    "audio",
    [
        _music_like(6.0, seed=1),
        _music_like(3.0, seed=2, channels=3).astype(np.float64),
        sine(997.0, 1.0, 0.89),  # a steady full-scale tone: every block is a candidate
        np.sin(2 * np.pi * (SR / 4) * np.arange(4000) / SR + np.pi / 4),  # inter-sample overs
        np.pad(np.array([[1.0, 0.0], [-1.0, 0.5]]), ((500, 500), (0, 0))),  # two clicks
    ]
    + [np.random.default_rng(n).standard_normal((n, 2)) * 0.1 for n in (1, 2, 11, 12, 13, 16, 17, 33)],
    ids=lambda a: f"{a.shape}-{a.dtype}",
)
def test_true_peak_equals_full_oversampling(audio: np.ndarray) -> None:
    from rlmdj.scoring.signal import true_peak

    x = np.asarray(audio).reshape(len(audio), -1)
    assert true_peak(x) == pytest.approx(_reference_true_peak(x), rel=1e-12, abs=0.0)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("seconds", [0.4, 0.4001, 1.0, 1.2345, 3.0])
def test_loudness_equals_pyloudnorm(sr: int, seconds: float) -> None:
    """Same K-weighting and gating as pyloudnorm's meter, block edges included."""
    import pyloudnorm

    from rlmdj.scoring.signal import integrated_loudness

    rng = np.random.default_rng(sr + int(seconds * 1000))
    n = int(seconds * sr)
    x = 0.1 * rng.standard_normal((n, 2)) * np.linspace(0.01, 1.0, n)[:, None]
    x[: n // 3] *= 1e-4  # a quiet start the relative gate must drop
    expected = float(pyloudnorm.Meter(sr).integrated_loudness(x))
    assert integrated_loudness(x, sr=sr) == pytest.approx(expected, abs=1e-9)


def test_float32_and_float64_input_measure_alike() -> None:
    x32 = _music_like(4.0, seed=3)
    m32, m64 = signal_metrics(x32, sr=SR), signal_metrics(x32.astype(np.float64), sr=SR)
    assert m32 == pytest.approx(m64, rel=1e-12, abs=1e-15)


def test_true_peak_equals_full_oversampling_on_many_short_signals() -> None:
    """Short bursts land at every offset within and across the 16-sample bound blocks."""
    from rlmdj.scoring.signal import true_peak

    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 90))
        x = rng.standard_normal((n, int(rng.integers(1, 3)))) * 0.01
        start = int(rng.integers(n))
        burst = rng.uniform(0.3, 1.0) * np.sin(np.pi / 2 * np.arange(3) + rng.uniform(0, np.pi))
        x[start : start + 3, 0] += burst[: n - start]
        assert true_peak(x) == pytest.approx(_reference_true_peak(x), rel=1e-12, abs=0.0), (n, start)
