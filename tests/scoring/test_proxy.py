"""Tests of the offline proxy scorer: ordering of obvious cases, windowing, determinism, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from rlmdj.errors import ParameterError
from rlmdj.scoring.base import AXES, Scorer, objective
from rlmdj.scoring.proxy import ProxyScorer

SR = 44100
PEAK = 10.0 ** (-1.0 / 20.0)


def techno_arrangement(duration_s: float = 20.0, *, sr: int = SR, bpm: float = 128.0) -> np.ndarray:
    """Stand-in for the reference arrangement: 4-on-the-floor kick, offbeat hats, offbeat bass.

    Stereo, peak-normalised to -1 dBFS like every rendered set.
    """
    rng = np.random.default_rng(0)
    n = int(duration_s * sr)
    beat = int(round(60.0 / bpm * sr))
    out = np.zeros(n)

    t = np.arange(int(0.35 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50.0 + 100.0 * np.exp(-30.0 * t)) / sr) * np.exp(-9.0 * t)
    th = np.arange(int(0.06 * sr)) / sr
    hat = sosfilt(butter(4, 7000, "highpass", fs=sr, output="sos"), rng.standard_normal(th.size))
    hat *= np.exp(-60.0 * th)
    for start in range(0, n, beat):
        for offset, hit, gain in ((0, kick, 0.9), (beat // 2, hat, 0.5)):
            s = start + offset
            e = min(n, s + hit.size)
            if s < n:
                out[s:e] += gain * hit[: e - s]

    idx = np.arange(n)
    freq = np.array([55.0, 55.0, 65.4, 49.0])[(idx // (4 * beat)) % 4]
    saw = 2.0 * ((np.cumsum(freq) / sr) % 1.0) - 1.0
    step = beat // 2
    bass = sosfilt(butter(2, 400, "lowpass", fs=sr, output="sos"), saw)
    bass *= np.exp(-8.0 * (idx % step) / sr) * ((idx // step) % 2 == 1)
    out += 0.35 * bass

    out *= PEAK / np.max(np.abs(out))
    return np.stack([out, out], axis=1)


def sine(freq_hz: float, duration_s: float, *, amp: float = PEAK, sr: int = SR) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq_hz * np.arange(int(duration_s * sr)) / sr)


@pytest.fixture(scope="module")
def scorer() -> ProxyScorer:
    return ProxyScorer()


@pytest.fixture(scope="module")
def arrangement() -> np.ndarray:
    return techno_arrangement()


@pytest.fixture(scope="module")
def arrangement_scores(scorer, arrangement):
    return scorer.score(arrangement, sr=SR)


def test_implements_scorer_protocol(scorer):
    assert isinstance(scorer, Scorer)
    assert scorer.name == "proxy"
    assert scorer.identity.startswith("proxy-v")


def test_arrangement_lands_in_plausible_ranges(arrangement_scores):
    s = arrangement_scores.scores
    assert set(s) == set(AXES)
    assert 5.5 <= s["CE"] <= 7.5
    assert 6.5 <= s["CU"] <= 9.0
    assert 4.0 <= s["PC"] <= 7.0
    assert 7.0 <= s["PQ"] <= 8.5
    assert 6.0 <= arrangement_scores.obj <= 7.6


def test_silence_scores_far_below_arrangement(scorer, arrangement_scores):
    silent = scorer.score(np.zeros((20 * SR, 2)), sr=SR)
    assert silent.scores["CE"] < arrangement_scores.scores["CE"] - 3.0
    assert silent.scores["PQ"] < arrangement_scores.scores["PQ"] - 3.0
    assert all(1.0 <= v <= 10.0 for v in silent.scores.values())


@pytest.mark.parametrize("freq_hz", [55.0, 440.0])
def test_sine_drone_scores_below_arrangement_on_ce(scorer, arrangement_scores, freq_hz):
    drone = scorer.score(sine(freq_hz, 20.0), sr=SR)
    assert drone.scores["CE"] < arrangement_scores.scores["CE"] - 2.0
    assert drone.obj < arrangement_scores.obj - 1.5


def test_white_noise_scores_low_on_ce(scorer, arrangement_scores):
    noise = np.random.default_rng(1).standard_normal((20 * SR, 2))
    noise *= PEAK / np.max(np.abs(noise))
    result = scorer.score(noise, sr=SR)
    assert result.scores["CE"] < arrangement_scores.scores["CE"] - 2.5
    assert result.scores["CE"] < 4.0


def test_hard_clipping_lowers_pq(scorer, arrangement, arrangement_scores):
    clipped = np.clip(arrangement * 8.0, -1.0, 1.0)
    clipped *= PEAK / np.max(np.abs(clipped))
    result = scorer.score(clipped, sr=SR)
    assert result.scores["PQ"] < arrangement_scores.scores["PQ"] - 1.5
    assert result.obj < arrangement_scores.obj


def test_gain_does_not_change_scores(scorer, arrangement, arrangement_scores):
    quieter = scorer.score(arrangement * 0.25, sr=SR)
    for axis in AXES:
        assert quieter.scores[axis] == pytest.approx(arrangement_scores.scores[axis], abs=1e-6)


def test_25_s_gives_three_windows_weighted_1_1_half(scorer):
    audio = techno_arrangement(25.0)
    result = scorer.score(audio, sr=SR)
    assert [w.weight for w in result.windows] == pytest.approx([1.0, 1.0, 0.5])
    assert [w.start_s for w in result.windows] == pytest.approx([0.0, 10.0, 20.0])
    assert [w.duration_s for w in result.windows] == pytest.approx([10.0, 10.0, 5.0])
    for axis in AXES:
        expected = sum(w.weight * w.scores[axis] for w in result.windows) / 2.5
        assert result.scores[axis] == pytest.approx(expected)
    assert result.obj == pytest.approx(objective(result.scores))
    assert result.metrics()["proxy/OBJ"] == pytest.approx(result.obj)


def test_window_scores_show_where_the_set_drops(scorer):
    audio = techno_arrangement(20.0)
    audio[10 * SR :] = 0.0
    result = scorer.score(audio, sr=SR)
    assert result.windows[1].scores["CE"] < result.windows[0].scores["CE"] - 3.0


def test_deterministic(scorer, arrangement, arrangement_scores):
    again = ProxyScorer().score(arrangement.copy(), sr=SR)
    assert again.to_dict() == arrangement_scores.to_dict()


def test_mono_and_stereo_agree(scorer, arrangement, arrangement_scores):
    mono = scorer.score(arrangement[:, 0], sr=SR)
    for axis in AXES:
        assert mono.scores[axis] == pytest.approx(arrangement_scores.scores[axis], abs=1e-6)


@pytest.mark.parametrize("sr", [16000, 22050, 48000])
def test_other_sample_rates_score_alike(scorer, arrangement_scores, sr):
    result = scorer.score(techno_arrangement(sr=sr), sr=sr)
    for axis in ("CE", "CU", "PQ"):
        assert result.scores[axis] == pytest.approx(arrangement_scores.scores[axis], abs=0.5)


def test_custom_weights_flow_into_obj():
    weights = {"CE": 1.0, "CU": 0.0, "PC": 0.0, "PQ": 0.0}
    result = ProxyScorer(weights=weights).score(sine(440.0, 2.0), sr=SR)
    assert result.obj == pytest.approx(result.scores["CE"])


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(0),
        np.zeros((0, 2)),
        np.array([0.0, np.nan, 0.1]),
        np.array([[0.0, np.inf], [0.1, 0.2]]),
        np.zeros((2, 3, 4)),
    ],
    ids=["empty", "empty-stereo", "nan", "inf", "3d"],
)
def test_bad_input_raises_parameter_error(scorer, audio):
    with pytest.raises(ParameterError):
        scorer.score(audio, sr=SR)


@pytest.mark.parametrize("sr", [0, -44100, 44100.5])
def test_bad_sample_rate_raises(scorer, sr):
    with pytest.raises(ParameterError):
        scorer.score(sine(440.0, 1.0), sr=sr)


@pytest.mark.parametrize("kwargs", [{"window_s": float("nan")}, {"hop_s": float("inf")},
                                    {"window_s": 0.0}, {"hop_s": "ten"}])
def test_proxy_refuses_non_finite_or_non_positive_windows(kwargs: dict) -> None:
    with pytest.raises(ParameterError, match="positive number of seconds"):
        ProxyScorer(**kwargs)
