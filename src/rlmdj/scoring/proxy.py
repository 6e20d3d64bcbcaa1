"""Offline proxy scorer: a hand-made heuristic stand-in for audiobox-aesthetics.

**This is not audiobox and is not a learned model.** It maps a handful of signal features to
numbers on the audiobox scale (CE ~3-8, CU ~5-9, PC ~3-7, PQ ~4-9) so experiments can run
without a GPU or network. It orders obvious cases correctly (silence and drones below a groove,
clipped below clean, noise low on enjoyment) but its absolute values are not comparable with
audiobox's; runs scored by it carry the ``proxy`` metric prefix and identity ``proxy-v1``.

Pipeline. The input is mixed to mono, resampled to 22.05 kHz, and peak-normalised to -1 dBFS
(the level the project normalises every set to before any scorer). It is cut into audiobox
windows (10 s, 10 s hop, last one shorter; see :func:`rlmdj.scoring.base.plan_windows`); each
window's real audio is scored and window scores are averaged weighted by real length.

Features per window (all in 0..1 unless noted; see :mod:`rlmdj.scoring.features`):

- ``pulse`` p: largest normalised autocorrelation of the spectral-flux onset envelope at a
  beat period of 100-160 BPM, times the onset strength (how much the envelope moves).
- ``regularity`` g: autocorrelation at 2x and 4x the beat lag (steady groove), times strength.
- ``coverage`` c: how many of five bands (20-150, 150-600, 600-2.5k, 2.5k-8k, 8k+ Hz) hold
  energy within 25-45 dB of the loudest (one tone: 0, full mix: 1).
- ``density`` d: onsets per second / 8, times strength.
- ``noise`` n: (flatness of the long-term spectrum - 0.35) / 0.4 (white noise ~1).
- ``clip`` k: log-scaled fraction of full-rate samples sitting flat at the signal's peak
  (0 at 10^-3.5 ~ 3e-4, 1 at 1e-2) — hard clipping leaves runs of identical peak samples.
- ``crest`` r: (8 dB - crest factor) / 5 dB: a collapsed peak-to-RMS ratio (squashed or
  clipped mix, or a bare sine) costs quality.
- ``harsh`` h: (share of power above 8 kHz - 0.08) / 0.2.
- ``dc`` o: (|DC offset| - 0.005) / 0.045.
- ``active`` a: fraction of 100 ms frames at or above -60 dBFS (after normalisation).

Mapping (then clamped to 1..10)::

    CE = 2.9 + 2.2 p + 0.9 g + 1.2 c - 2.5 n - 0.5 k
    CU = 5.6 + 1.4 p + 1.0 c + 0.4 g - 1.5 n
    PC = 2.8 + 1.6 c + 1.4 d + 0.6 p - 1.0 n
    PQ = 6.5 + 1.6 c - 3.0 k - 1.2 r - 1.5 h - 1.0 o - 1.5 n

and silence pulls each axis towards its floor: ``score = floor + a * (raw - floor)`` with
floors CE 1.5, CU 2.0, PC 1.5, PQ 2.0. A sine drone lands near CE 3, a good arrangement near
CE 6.5 and PQ 7.5-8, leaving room above for better material. OBJ comes from
:func:`rlmdj.scoring.base.objective` with the configured weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rlmdj.audio.valid import valid_audio, valid_sr
from rlmdj.errors import ParameterError
from rlmdj.scoring import features as F
from rlmdj.scoring.base import (
    AXES,
    DEFAULT_WEIGHTS,
    ScoreResult,
    WindowScore,
    min_score_frames,
    plan_windows,
    weighted_average,
)

__all__ = ["ProxyScorer", "PROXY_VERSION", "window_features", "features_to_scores"]

PROXY_VERSION = 1
"""Bump whenever a feature or mapping changes, so differently scored runs are never pooled."""

WORK_SR = 22050
"""Analysis rate (Hz): keeps the 8-11 kHz air band for harshness while staying fast."""

N_FFT = 1024
HOP = 256
TARGET_PEAK = 10.0 ** (-1.0 / 20.0)
DIGITAL_SILENCE_PEAK = 1e-5
"""Peaks below -100 dBFS are not normalised up: the input is treated as silence."""

SILENCE_FLOORS: Mapping[str, float] = {"CE": 1.5, "CU": 2.0, "PC": 1.5, "PQ": 2.0}


def _positive_seconds(name: str, value: object) -> float:
    """``value`` as finite positive seconds; NaN or inf would otherwise fail deep in windowing."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = float("nan")
    if not (np.isfinite(seconds) and seconds > 0.0):
        raise ParameterError(f"{name} must be a positive number of seconds (e.g. 10.0), got {value!r}")
    return seconds


def _ramp(value: float, zero_at: float, one_at: float) -> float:
    """Linear 0..1 ramp from ``zero_at`` to ``one_at`` (either direction), clamped."""
    return float(np.clip((value - zero_at) / (one_at - zero_at), 0.0, 1.0))


def window_features(
    mono: np.ndarray, full: np.ndarray, *, peak: float, sr_work: int = WORK_SR
) -> dict[str, float]:
    """Proxy features of one window.

    ``mono`` is the window's peak-normalised mono audio at ``sr_work``; ``full`` is the same
    stretch at the input rate as ``(frames, ch)`` (for sample-exact clipping and DC), and
    ``peak`` the whole input's absolute peak.
    """
    power = F.power_spectrogram(mono, n_fft=N_FFT, hop=HOP)
    frame_rate = sr_work / HOP
    env = F.onset_envelope(power)
    strength = F.onset_strength(env)
    pulse, regularity = F.pulse_strength(env, frame_rate_hz=frame_rate)
    levels = F.band_levels_db(power, sr=sr_work)
    scale = TARGET_PEAK / peak if peak > DIGITAL_SILENCE_PEAK else 1.0
    return {
        "pulse": pulse * strength,
        "regularity": regularity * strength,
        "coverage": F.band_coverage(levels),
        "density": F.onset_density(env, frame_rate_hz=frame_rate) * strength,
        "noise": _ramp(F.spectral_flatness(power, sr=sr_work), 0.35, 0.75),
        # Log scale: 3e-4 of samples flat at the peak is benign, 1e-2 is plainly clipped.
        "clip": _ramp(np.log10(max(F.clipped_run_fraction(full, peak=peak), 1e-12)), -3.5, -2.0),
        "crest": _ramp(F.crest_factor_db(full), 8.0, 3.0),
        "harsh": _ramp(F.high_band_share(power, sr=sr_work), 0.08, 0.28),
        "dc": _ramp(F.dc_offset(full) * scale, 0.005, 0.05),
        "active": F.active_fraction(mono, sr=sr_work),
    }


def features_to_scores(f: Mapping[str, float]) -> dict[str, float]:
    """The documented linear mapping from window features to CE/CU/PC/PQ (clamped 1..10)."""
    p, g, c, d, n = f["pulse"], f["regularity"], f["coverage"], f["density"], f["noise"]
    raw = {
        "CE": 2.9 + 2.2 * p + 0.9 * g + 1.2 * c - 2.5 * n - 0.5 * f["clip"],
        "CU": 5.6 + 1.4 * p + 1.0 * c + 0.4 * g - 1.5 * n,
        "PC": 2.8 + 1.6 * c + 1.4 * d + 0.6 * p - 1.0 * n,
        "PQ": 6.5
        + 1.6 * c
        - 3.0 * f["clip"]
        - 1.2 * f["crest"]
        - 1.5 * f["harsh"]
        - 1.0 * f["dc"]
        - 1.5 * n,
    }
    a = f["active"]
    return {
        axis: float(
            np.clip(SILENCE_FLOORS[axis] + a * (raw[axis] - SILENCE_FLOORS[axis]), 1.0, 10.0)
        )
        for axis in AXES
    }


class ProxyScorer:
    """Heuristic offline stand-in for audiobox-aesthetics (NOT the real model).

    Deterministic and fast (well under a second for 120 s of 44.1 kHz stereo); scores follow
    the formulas in this module's docstring, per 10 s window and length-weighted overall.
    """

    name = "proxy"

    def __init__(
        self,
        *,
        weights: Mapping[str, float] = DEFAULT_WEIGHTS,
        window_s: float = 10.0,
        hop_s: float = 10.0,
    ) -> None:
        self.weights = dict(weights)
        self.window_s = _positive_seconds("window_s", window_s)
        self.hop_s = _positive_seconds("hop_s", hop_s)

    @property
    def identity(self) -> str:
        """``proxy-v<N>``; the version changes whenever the formulas do."""
        return f"proxy-v{PROXY_VERSION}"

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        """Score float audio shaped ``(frames,)`` or ``(frames, ch)`` at ``sr`` Hz.

        Raises :class:`~rlmdj.errors.ParameterError` for non-finite or misshaped input, and for
        audio shorter than :data:`~rlmdj.scoring.base.MIN_SCORE_S`.
        """
        sr = valid_sr(sr)
        full = valid_audio(audio, dtype=np.float64, min_frames=min_score_frames(sr), sr=sr)
        windows = plan_windows(full.shape[0], sr=sr, window_s=self.window_s, hop_s=self.hop_s)
        peak = float(np.max(np.abs(full)))
        mono = F.resample(F.to_mono(full), sr_in=sr, sr_out=WORK_SR)
        if peak > DIGITAL_SILENCE_PEAK:
            mono = mono * (TARGET_PEAK / peak)
        ratio = WORK_SR / sr
        rows, wins = [], []
        for w in windows:
            lo, hi = w.start, w.start + w.valid
            seg = mono[
                int(round(lo * ratio)) : max(int(round(hi * ratio)), int(round(lo * ratio)) + 1)
            ]
            scores = features_to_scores(window_features(seg, full[lo:hi], peak=peak))
            rows.append(scores)
            wins.append(
                WindowScore(
                    start_s=lo / sr, duration_s=w.valid / sr, weight=w.weight, scores=scores
                )
            )
        overall = weighted_average(rows, [w.weight for w in windows])
        return ScoreResult(
            scorer=self.name,
            identity=self.identity,
            scores=overall,
            windows=wins,
            weights=self.weights,
        )
