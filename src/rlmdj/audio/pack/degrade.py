"""Damage on purpose: :func:`degrade` makes a bad sample out of a good one.

The pack's odd variants go through it (thin, muddy, harsh, noisy, lofi, quiet, clicky,
dc_offset) so that palette screening has bad samples to reject as well as good ones to find.
Pure, like the rest of the pack's synthesis: the same call gives the same samples.
"""

from __future__ import annotations

import numpy as np

from rlmdj.audio.grid import DEFAULT_SR
from rlmdj.audio.pack.dsp import filtered, loop_filtered, normalized, seeded_rng
from rlmdj.errors import ParameterError

__all__ = ["DEGRADATIONS", "degrade"]

DEGRADATIONS: tuple[str, ...] = (
    "thin",
    "muddy",
    "harsh",
    "noisy",
    "lofi",
    "quiet",
    "clicky",
    "dc_offset",
)


def degrade(
    x: np.ndarray, character: str, *, sr: int = DEFAULT_SR, seed: int = 0, loop: bool = False
) -> np.ndarray:
    """Damage ``x`` (frames, channels) the way a bad sample is bad; ``"clean"`` returns it as is.

    ``thin``: high-passed and quiet · ``muddy``: low-passed with a boomy low end · ``harsh``:
    overdriven and hard-clipped at full scale · ``noisy``: hiss and mains hum throughout ·
    ``lofi``: 5-bit, sample-and-hold aliasing · ``quiet``: -30 dBFS · ``clicky``: dropouts and
    spikes (loops) or a chopped, un-faded one-shot with a spike · ``dc_offset``: shifted off zero.
    """
    x = np.asarray(x, dtype=np.float64)
    if character == "clean":
        return np.asarray(x, dtype=np.float32)
    rng = seeded_rng(seed)
    n = len(x)
    filt = loop_filtered if loop else filtered  # a loop's damage must not add a click at its seam
    if character == "thin":
        y = filt("highpass", float(rng.uniform(900.0, 1800.0)), x, sr, order=4)
        return normalized(y, float(rng.uniform(0.15, 0.3)))
    if character == "muddy":
        boom = filt("lowpass", 120.0, x, sr)
        y = filt("lowpass", float(rng.uniform(250.0, 450.0)), x + 4.0 * boom, sr, order=4)
        return normalized(y)
    if character == "harsh":
        presence = filt("highpass", 2500.0, x, sr)
        y = np.clip((x + 2.0 * presence) * float(rng.uniform(5.0, 10.0)), -1.0, 1.0)
        return np.asarray(y, dtype=np.float32)
    if character == "noisy":
        t = np.arange(n) / sr
        mains = round(50.0 * n / sr) / (n / sr) if loop else 50.0  # whole cycles per loop
        hum = sum(np.sin(2 * np.pi * mains * h * t) / h for h in (1, 2, 3, 5))
        hiss = rng.standard_normal(x.shape)
        y = normalized(x, 0.8) + 0.06 * hiss + 0.05 * hum[:, None]
        return normalized(y)
    if character == "lofi":
        hold = int(rng.integers(5, 9))
        y = np.repeat(x[::hold], hold, axis=0)[:n]
        levels = 2**4
        y = np.round(normalized(y, 1.0) * levels) / levels
        return normalized(y)
    if character == "quiet":
        return normalized(x, 10 ** (-30 / 20))
    if character == "clicky":
        y = np.array(x, copy=True)
        if loop:
            for _ in range(int(rng.integers(6, 12))):
                at = int(rng.integers(0, max(1, n - 1)))
                y[at : at + int(rng.integers(int(0.002 * sr), int(0.02 * sr)))] = 0.0
            spikes = rng.integers(0, n, size=int(rng.integers(3, 7)))
            y[spikes] = rng.choice([-1.0, 1.0], size=(len(spikes), 1))
        else:
            cut = max(int(0.06 * sr), int(n * rng.uniform(0.25, 0.45)))
            y[cut:] = 0.0
            y[0] = 1.0
        return np.asarray(
            np.clip(normalized(y, 0.95) if not loop else y, -1.0, 1.0), dtype=np.float32
        )
    if character == "dc_offset":
        y = normalized(x, 0.6) + float(rng.uniform(0.25, 0.35))
        return np.asarray(y, dtype=np.float32)
    valid = ", ".join(("clean",) + DEGRADATIONS)
    raise ParameterError(f"unknown degradation {character!r}; valid: {valid}")
