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
