"""Loops of the pack, all in one minor key: :func:`bassline`, :func:`texture`, :func:`synth_loop`.

Each is pure: keyword parameters in (``bars``, ``bpm``, ``root_midi``, ``sr``, ``seed`` for the
noise and the wrong notes), a float32 ``(frames, 2)`` array out. A loop is exactly
``Grid(bpm, sr).bar_start(bars)`` frames long, its notes start on 16-step grid positions and its
tails wrap around to the start, so it repeats seamlessly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rlmdj.audio.grid import DEFAULT_SR
from rlmdj.audio.pack.dsp import (
    fold_tails,
    loop_filtered,
    loop_grid,
    normalized,
    note_hz,
    seeded_rng,
    stereo,
    wave,
)
from rlmdj.errors import ParameterError

__all__ = ["MINOR_SCALE", "PHRYGIAN_SCALE", "bassline", "texture", "synth_loop"]

MINOR_SCALE: tuple[int, ...] = (0, 2, 3, 5, 7, 8, 10)
PHRYGIAN_SCALE: tuple[int, ...] = (0, 1, 3, 5, 7, 8, 10)


def _note_block(
    freqs: Sequence[float],
    n: int,
    sr: int,
    *,
    shape: str,
    attack_s: float,
    decay_s: float,
    release_s: float,
    sustain: float,
    phase0: float = 0.0,
) -> np.ndarray:
    """One note (or chord): the sum of ``freqs`` oscillators under an attack/decay/release envelope."""
    t = np.arange(n) / sr
    osc = sum(wave(shape, f * t + phase0) for f in freqs) / max(1, len(freqs))
    env = sustain + (1.0 - sustain) * np.exp(-t / max(decay_s, 1e-4))
    if attack_s > 0:
        env = env * np.minimum(1.0, t / attack_s)
    n_rel = min(n, int(release_s * sr))
    if n_rel > 1:
        env[-n_rel:] *= np.linspace(1.0, 0.0, n_rel)
    return osc * env


def _place(buf: np.ndarray, block: np.ndarray, start: int, *, gain: float = 1.0) -> None:
    end = start + len(block)
    if end > len(buf):  # never happens with the 2x buffer used by callers, kept as a guard
        block = block[: len(buf) - start]
        end = len(buf)
    buf[start:end] += gain * block


def _filter_env_mix(
    raw: np.ndarray, fenv: np.ndarray, sr: int, cutoff_hz: float, env_mod: float
) -> np.ndarray:
    """Cheap time-varying low-pass: crossfade a dark and a bright copy by the filter envelope."""
    dark = loop_filtered("lowpass", cutoff_hz, raw, sr)
    bright = loop_filtered("lowpass", cutoff_hz * env_mod, raw, sr)
    fenv = np.clip(fenv, 0.0, 1.0)
    if raw.ndim == 2:
        fenv = fenv[:, None]
    return dark + fenv * (bright - dark)


def _jittered(start: int, jitter_s: float, rng: np.random.Generator, sr: int) -> int:
    if jitter_s <= 0:
        return start
    return max(0, start + int(rng.uniform(-jitter_s, jitter_s) * sr))


def bassline(
    *,
    bars: int = 1,
    bpm: float = 128.0,
    sr: int = DEFAULT_SR,
    root_midi: int = 33,
    steps: Sequence[int] = (2, 6, 10, 14),
    degrees: Sequence[int] = (0,),
    scale: Sequence[int] = MINOR_SCALE,
    note_steps: float = 0.8,
    shape: str = "saw",
    sub: float = 0.5,
    cutoff_hz: float = 320.0,
    env_mod: float = 3.0,
    detune_cents: float = 0.0,
    wrong_notes: Sequence[int] = (),
    attack_s: float = 0.003,
    release_s: float = 0.012,
    jitter_s: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Rolling techno bass: one note on each of ``steps`` in every bar, filter-enveloped saw + sub.

    ``degrees`` are scale degrees (indexes into ``scale``, 7 = octave up) cycled over the notes;
    ``wrong_notes`` are semitone offsets mixed in at random (out of key); ``jitter_s`` shifts
    each note off the grid by up to that many seconds.
    """
    grid, n = loop_grid(bars, bpm, sr)
    rng = seeded_rng(seed)
    note_len = max(16, int(note_steps * grid.samples_per_step))
    raw = np.zeros(2 * n + note_len)
    fenv = np.zeros_like(raw)
    cents = 2.0 ** (detune_cents / 1200.0)
    k = 0
    for bar in range(int(bars)):
        for step in sorted(set(int(s) % 16 for s in steps)):
            degree = int(degrees[k % len(degrees)])
            semis = 12 * (degree // len(scale)) + scale[degree % len(scale)]
            if wrong_notes and rng.random() < 0.4:
                semis += int(rng.choice(wrong_notes))
            f = note_hz(root_midi + semis) * cents
            start = _jittered(grid.step_start(bar, step), jitter_s, rng, sr)
            block = _note_block(
                [f],
                note_len,
                sr,
                shape=shape,
                attack_s=attack_s,
                decay_s=0.08,
                release_s=release_s,
                sustain=0.6,
            )
            t = np.arange(note_len) / sr
            block = block + sub * np.sin(2 * np.pi * f * t) * np.abs(block).max()
            _place(raw, block, start)
            _place(fenv, np.exp(-t / 0.05), start)
            k += 1
    y = _filter_env_mix(fold_tails(raw, n), fold_tails(fenv, n), sr, cutoff_hz, env_mod)
    y = loop_filtered("highpass", 30.0, y, sr)
    return normalized(stereo(y))


def texture(
    *,
    bars: int = 4,
    bpm: float = 128.0,
    sr: int = DEFAULT_SR,
    root_midi: int = 45,
    bands_hz: Sequence[float] = (400.0, 1600.0, 5000.0),
    band_octaves: float = 0.8,
    movement_cycles: Sequence[int] = (1, 2, 1),
    drone: float = 0.35,
    drone_intervals: Sequence[float] = (0, 7, 12),
    detune_cents: float = 0.0,
    pump: float = 0.5,
    pump_bpm: float | None = None,
    width: float = 0.6,
    seed: int = 0,
) -> np.ndarray:
    """Filtered-noise pad over a soft drone, moving slowly, pumping on the quarter notes.

    The noise is shaped in the frequency domain over exactly the loop length, and every LFO and
    drone partial completes a whole number of cycles per loop, so the loop has no seam.
    ``pump`` is the depth of the sidechain-like dip on each beat; ``pump_bpm`` other than
    ``bpm`` puts the pumping off the grid (a degraded variant).
    """
    grid, n = loop_grid(bars, bpm, sr)
    rng = seeded_rng(seed)
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    logf = np.log2(np.maximum(freqs, 1.0))
    common = rng.standard_normal((len(freqs),)) + 1j * rng.standard_normal((len(freqs),))
    phase = np.arange(n) / n
    out = np.zeros((n, 2))
    for b, (center, cycles) in enumerate(zip(bands_hz, movement_cycles, strict=False)):
        # equal energy per band (white noise holds more energy in higher octaves), upper bands softer
        level = (400.0 / center) ** 0.9 * 0.6**b
        shape = level * np.exp(-0.5 * ((logf - np.log2(center)) / band_octaves) ** 2)
        lfo = 0.5 + 0.5 * np.cos(2 * np.pi * (int(cycles) * phase + b / max(1, len(bands_hz))))
        for ch in range(2):
            own = rng.standard_normal((len(freqs),)) + 1j * rng.standard_normal((len(freqs),))
            spec = ((1 - width) * common + width * own) * shape
            out[:, ch] += np.fft.irfft(spec, n=n) * lfo
    out /= max(np.max(np.abs(out)), 1e-9)
    if drone > 0:
        loop_s = n / sr
        t = np.arange(n) / sr
        swell = 0.7 + 0.3 * np.cos(2 * np.pi * phase)
        for ch, spread in enumerate((-1.0, 1.0)):
            tone = np.zeros(n)
            for interval in drone_intervals:
                f = note_hz(root_midi + interval) * 2.0 ** ((detune_cents + spread * 4.0) / 1200.0)
                if detune_cents == 0.0:  # snap to whole cycles per loop: seamless repeats
                    f = max(1.0, round(f * loop_s)) / loop_s
                tone += np.sin(2 * np.pi * f * t)
            out[:, ch] += drone * swell * tone / max(1, len(drone_intervals))
    if pump > 0:
        beat = grid.samples_per_step * 4 * (bpm / (pump_bpm or bpm))
        pos = np.arange(n) % beat
        # a 4 ms dip-in keeps the gain change itself from clicking on every beat
        dip = (1.0 - np.exp(-pos / (0.004 * sr))) * np.exp(-pos / (0.09 * sr))
        duck = 1.0 - pump * dip / dip.max()
        out *= duck[:, None]
    out = loop_filtered("highpass", 60.0, out, sr)
    return normalized(out)


def synth_loop(
    *,
    bars: int = 2,
    bpm: float = 128.0,
    sr: int = DEFAULT_SR,
    root_midi: int = 57,
    mode: str = "stab",
    chord: Sequence[int] = (0, 3, 7, 12),
    steps: Sequence[int] = (3, 6, 10, 14),
    note_steps: float = 1.0,
    shape: str = "saw",
    voices_cents: Sequence[float] = (-9.0, 0.0, 9.0),
    cutoff_hz: float = 1200.0,
    env_mod: float = 3.0,
    delay_steps: int = 3,
    delay_feedback: float = 0.35,
    detune_cents: float = 0.0,
    wrong_notes: Sequence[int] = (),
    attack_s: float = 0.003,
    release_s: float = 0.02,
    jitter_s: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Chord stabs (``mode="stab"``) or a 16th-note arpeggio (``mode="arp"``) with a tempo delay.

    Stabs play the whole ``chord`` on each of ``steps``; the arp walks the chord tones up over
    two octaves on every step in ``steps``. Detuned saw voices spread across left and right.
    The echo repeats every ``delay_steps`` sixteenths, wrapped around the loop.
    """
    if mode not in ("stab", "arp"):
        raise ParameterError(f"unknown synth mode {mode!r}; valid: stab, arp")
    grid, n = loop_grid(bars, bpm, sr)
    rng = seeded_rng(seed)
    note_len = max(16, int(note_steps * grid.samples_per_step))
    raw = np.zeros((2 * n + note_len, 2))
    fenv = np.zeros(2 * n + note_len)
    t = np.arange(note_len) / sr
    tones = [c for c in chord] + [c + 12 for c in chord]
    k = 0
    for bar in range(int(bars)):
        for step in sorted(set(int(s) % 16 for s in steps)):
            notes = list(chord) if mode == "stab" else [tones[k % len(tones)]]
            if wrong_notes and rng.random() < 0.4:
                notes = [nn + int(rng.choice(wrong_notes)) for nn in notes]
            start = _jittered(grid.step_start(bar, step), jitter_s, rng, sr)
            for ch, side in enumerate((-1.0, 1.0)):
                freqs = [
                    note_hz(root_midi + nn)
                    * 2.0 ** ((detune_cents + v * (1.0 + 0.3 * side)) / 1200.0)
                    for nn in notes
                    for v in voices_cents
                ]
                block = _note_block(
                    freqs,
                    note_len,
                    sr,
                    shape=shape,
                    attack_s=attack_s,
                    decay_s=0.12,
                    release_s=release_s,
                    sustain=0.3,
                )
                _place(raw[:, ch], block, start)
            _place(fenv, np.exp(-t / 0.06), start)
            k += 1
    y = _filter_env_mix(fold_tails(raw, n), fold_tails(fenv, n), sr, cutoff_hz, env_mod)
    if delay_feedback > 0 and delay_steps > 0:
        lag = int(round(delay_steps * grid.samples_per_step))
        echo = np.zeros_like(y)
        for rep in range(1, 4):
            # ping-pong: each repeat swaps sides
            echo += (delay_feedback**rep) * np.roll(y[:, :: (-1) ** rep], rep * lag, axis=0)
        y = y + echo
    y = loop_filtered("highpass", 120.0, y, sr)
    return normalized(y)
