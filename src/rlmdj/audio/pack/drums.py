"""Drum one-shots of the pack: :func:`kick`, :func:`hihat`, :func:`clap` and :func:`perc`.

Each is pure: keyword parameters in (seconds and Hz in the names, ``sr`` in Hz, ``seed`` for the
noise), a float32 ``(frames, 2)`` array out, peak-normalised, faded in and out so it never
clicks; the same call gives the same samples.
"""

from __future__ import annotations

import numpy as np

from rlmdj.audio.grid import DEFAULT_SR
from rlmdj.audio.pack.dsp import (
    exp_env,
    faded,
    filtered,
    n_frames,
    normalized,
    panned,
    seeded_rng,
    square,
    stereo,
)
from rlmdj.errors import ParameterError

__all__ = ["PERC_KINDS", "kick", "hihat", "clap", "perc"]

PERC_KINDS: tuple[str, ...] = ("tom", "conga", "rim", "shaker", "cowbell")


def kick(
    *,
    sr: int = DEFAULT_SR,
    length_s: float = 0.5,
    f_start_hz: float = 180.0,
    f_end_hz: float = 48.0,
    pitch_decay_s: float = 0.03,
    amp_decay_s: float = 0.22,
    click: float = 0.25,
    drive: float = 1.5,
    seed: int = 0,
) -> np.ndarray:
    """Pitch-swept sine with exponential decay plus a short noise click (the attack transient)."""
    n = n_frames(length_s, sr)
    t = np.arange(n) / sr
    freq = f_end_hz + (f_start_hz - f_end_hz) * np.exp(-t / pitch_decay_s)
    body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / amp_decay_s)
    noise = seeded_rng(seed).standard_normal(n)
    transient = filtered("bandpass", (1500.0, 6000.0), noise, sr) * exp_env(n, sr, 0.0025)
    x = body + click * transient / max(np.max(np.abs(transient)), 1e-9)
    if drive > 0:
        x = np.tanh(drive * x) / np.tanh(drive)
    return normalized(faded(stereo(x), sr, out_s=0.02))


def hihat(
    *,
    sr: int = DEFAULT_SR,
    length_s: float = 0.2,
    decay_s: float = 0.045,
    highpass_hz: float = 7000.0,
    metallic: float = 0.4,
    tune: float = 1.0,
    width: float = 0.2,
    seed: int = 0,
) -> np.ndarray:
    """High-passed noise mixed with inharmonic square partials (the 808 recipe), short decay."""
    n = n_frames(length_s, sr)
    t = np.arange(n) / sr
    rng = seeded_rng(seed)
    partials = np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0]) * tune
    metal = square(partials[None, :] * t[:, None]).sum(axis=1) / len(partials)
    common = rng.standard_normal(n)
    chans = []
    for _ in range(2):
        own = rng.standard_normal(n)
        noise = (1 - width) * common + width * own
        chans.append((1 - metallic) * noise + metallic * metal * 2.0)
    x = np.stack(chans, axis=1)
    x = filtered("highpass", highpass_hz, x, sr, order=4)
    x = filtered("lowpass", max(highpass_hz * 1.8, 12000.0), x, sr, order=1)  # air, not fizz
    x = x * exp_env(n, sr, decay_s)[:, None]
    return normalized(faded(x, sr, in_s=0.0003, out_s=0.005))


def clap(
    *,
    sr: int = DEFAULT_SR,
    length_s: float = 0.35,
    bursts: int = 4,
    spacing_s: float = 0.011,
    tail_decay_s: float = 0.09,
    center_hz: float = 1300.0,
    bandwidth: float = 1.2,
    seed: int = 0,
) -> np.ndarray:
    """Several quick bursts of band-passed noise then a diffuse tail: many hands, not one."""
    n = n_frames(length_s, sr)
    idx = np.arange(n)
    env = np.zeros(n)
    for b in range(max(1, bursts)):
        start = int(b * spacing_s * sr)
        seg = np.clip(idx - start, 0, None)
        env = np.maximum(env, np.where(idx >= start, np.exp(-seg / (0.004 * sr)), 0.0))
    tail_start = int((max(1, bursts) - 1) * spacing_s * sr)
    seg = np.clip(idx - tail_start, 0, None)
    env = np.maximum(
        env, np.where(idx >= tail_start, 0.6 * np.exp(-seg / (tail_decay_s * sr)), 0.0)
    )
    rng = seeded_rng(seed)
    lo, hi = center_hz / (1 + bandwidth / 2), center_hz * (1 + bandwidth / 2)
    raw = rng.standard_normal((n, 1)) * 0.8 + rng.standard_normal((n, 2)) * 0.35  # mostly centred
    noise = filtered("bandpass", (lo, hi), raw, sr)
    x = noise * env[:, None]
    return normalized(faded(x, sr, out_s=0.01))


def _noise_click(
    rng: np.random.Generator, n: int, sr: int, *, gain: float, band_hz: tuple[float, float], decay_s: float
) -> np.ndarray:
    """A burst of band-passed noise decaying in ``decay_s``: the slap on a conga or a rim."""
    return gain * filtered("bandpass", band_hz, rng.standard_normal(n), sr) * exp_env(n, sr, decay_s)


def perc(
    *,
    kind: str = "tom",
    sr: int = DEFAULT_SR,
    length_s: float = 0.3,
    pitch_hz: float = 220.0,
    decay_s: float = 0.08,
    pan: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Percussion one-shot of ``kind`` (see :data:`PERC_KINDS`), panned with ``pan`` in -1..1."""
    if kind not in PERC_KINDS:
        raise ParameterError(f"unknown perc kind {kind!r}; valid: {', '.join(PERC_KINDS)}")
    n = n_frames(length_s, sr)
    t = np.arange(n) / sr
    rng = seeded_rng(seed)
    env = exp_env(n, sr, decay_s)
    if kind in ("tom", "conga"):
        freq = pitch_hz * (1.0 + 0.6 * np.exp(-t / 0.015))
        phase = np.cumsum(freq) / sr
        x = np.sin(2 * np.pi * phase) * env
        if kind == "conga":
            x += 0.35 * np.sin(2 * np.pi * 1.5 * phase) * exp_env(n, sr, decay_s * 0.5)
            x += _noise_click(rng, n, sr, gain=0.15, band_hz=(1500.0, 5000.0), decay_s=0.006)
    elif kind == "rim":
        x = (np.sin(2 * np.pi * pitch_hz * t) + 0.6 * np.sin(2 * np.pi * pitch_hz * 1.47 * t)) * env
        x += _noise_click(rng, n, sr, gain=0.5, band_hz=(2000.0, 6000.0), decay_s=0.004)
    elif kind == "shaker":
        attack = np.minimum(1.0, t / 0.012)
        x = filtered(
            "bandpass", (pitch_hz, min(pitch_hz * 2.2, sr * 0.45)), rng.standard_normal(n), sr, 4
        )
        x = x * attack * env
    else:  # cowbell: two detuned squares through a band-pass, the TR-808 way
        x = square(pitch_hz * t) + square(pitch_hz * 1.48 * t)
        x = filtered("bandpass", (pitch_hz * 0.9, pitch_hz * 4.0), x, sr) * env
    return normalized(faded(panned(x, pan), sr, out_s=0.01))
