"""Pure synthesis of techno elements: drum one-shots, tonal and noise loops, and degradations.

Offers one-shots :func:`kick`, :func:`hihat`, :func:`clap`, :func:`perc`; loops :func:`bassline`,
:func:`texture`, :func:`synth_loop`; and :func:`degrade`, which damages a sound on purpose
(thin, muddy, harsh, noisy, lofi, quiet, clicky, dc_offset) so that palette screening has bad
samples to reject as well as good ones to find.

Every function is pure: arrays and keyword parameters in (seconds and Hz in the names, ``sr`` in
Hz, ``seed`` for the noise), a float32 ``(frames, 2)`` array out; the same call gives the same
samples. Loops are exactly ``Grid(bpm, sr).bar_start(bars)`` frames long, their notes start on
16-step grid positions and their tails wrap around to the start, so they repeat seamlessly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import signal

from rlmdj.audio.grid import DEFAULT_SR, Grid
from rlmdj.errors import ParameterError

__all__ = [
    "DEGRADATIONS",
    "MINOR_SCALE",
    "PHRYGIAN_SCALE",
    "note_hz",
    "kick",
    "hihat",
    "clap",
    "perc",
    "PERC_KINDS",
    "bassline",
    "texture",
    "synth_loop",
    "degrade",
]

MINOR_SCALE: tuple[int, ...] = (0, 2, 3, 5, 7, 8, 10)
PHRYGIAN_SCALE: tuple[int, ...] = (0, 1, 3, 5, 7, 8, 10)
PERC_KINDS: tuple[str, ...] = ("tom", "conga", "rim", "shaker", "cowbell")
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
_PEAK = 0.89  # -1 dBFS: clean samples leave headroom for the mixer


# ---------------------------------------------------------------------------------------------
# small helpers


def note_hz(midi: float) -> float:
    """Equal-tempered frequency (Hz) of MIDI note ``midi`` (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((float(midi) - 69.0) / 12.0)


def _rng(seed: int | Sequence[int]) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed))


def _frames(seconds: float, sr: int) -> int:
    if seconds <= 0:
        raise ParameterError(f"length must be positive seconds, got {seconds!r}")
    return max(1, int(round(seconds * sr)))


def _sos(kind: str, hz: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    nyq = sr / 2.0
    if isinstance(hz, tuple):
        lo, hi = (min(max(h, 10.0), nyq * 0.98) for h in hz)
        return signal.butter(order, (lo, max(hi, lo * 1.01)), btype=kind, fs=sr, output="sos")
    return signal.butter(
        order, min(max(float(hz), 10.0), nyq * 0.98), btype=kind, fs=sr, output="sos"
    )


def _filt(
    kind: str, hz: float | tuple[float, float], x: np.ndarray, sr: int, order: int = 2
) -> np.ndarray:
    return signal.sosfilt(_sos(kind, hz, sr, order), x, axis=0)


def _circular_filt(
    kind: str, hz: float | tuple[float, float], x: np.ndarray, sr: int, order: int = 2
) -> np.ndarray:
    """Filter a loop as if it had been playing forever, so its end joins its start cleanly."""
    pre = min(len(x), sr // 2)
    padded = np.concatenate([x[-pre:], x], axis=0)
    return _filt(kind, hz, padded, sr, order)[pre:]


def _fades(x: np.ndarray, sr: int, *, in_s: float = 0.0005, out_s: float = 0.01) -> np.ndarray:
    """Short raised-cosine fades so one-shots start and end without a click."""
    y = np.array(x, dtype=np.float64, copy=True)
    n_in = min(len(y), int(in_s * sr))
    n_out = min(len(y), int(out_s * sr))
    if n_in > 1:
        y[:n_in] *= (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_in)))[:, None]
    if n_out > 1:
        y[-n_out:] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n_out)))[:, None]
    return y


def _stereo(left: np.ndarray, right: np.ndarray | None = None) -> np.ndarray:
    return np.stack([left, left if right is None else right], axis=1)


def _pan(mono: np.ndarray, pan: float) -> np.ndarray:
    """Constant-power pan, ``pan`` in -1 (left) .. 1 (right)."""
    angle = (float(np.clip(pan, -1.0, 1.0)) + 1.0) * np.pi / 4.0
    return _stereo(mono * np.cos(angle), mono * np.sin(angle))


def _normalize(x: np.ndarray, peak: float = _PEAK) -> np.ndarray:
    top = float(np.max(np.abs(x))) if x.size else 0.0
    y = x * (peak / top) if top > 0 else x
    return np.asarray(y, dtype=np.float32)


def _exp_env(n: int, sr: int, decay_s: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (max(decay_s, 1e-4) * sr))


def _saw(phase: np.ndarray) -> np.ndarray:
    return 2.0 * (phase % 1.0) - 1.0


def _square(phase: np.ndarray) -> np.ndarray:
    return np.where((phase % 1.0) < 0.5, 1.0, -1.0)


def _wave(shape: str, phase: np.ndarray) -> np.ndarray:
    if shape == "saw":
        return _saw(phase)
    if shape == "square":
        return _square(phase)
    if shape == "sine":
        return np.sin(2 * np.pi * phase)
    raise ParameterError(f"unknown waveform {shape!r}; valid: saw, square, sine")


def _loop_grid(bars: int, bpm: float, sr: int) -> tuple[Grid, int]:
    if int(bars) != bars or bars < 1:
        raise ParameterError(f"loop bars must be a positive whole number, got {bars!r}")
    grid = Grid(bpm=bpm, sr=sr)
    return grid, grid.bar_start(int(bars))


def _fold(buf: np.ndarray, n: int) -> np.ndarray:
    """Wrap everything past frame ``n`` back onto the start: a loop's tails ring into its head."""
    out = np.array(buf[:n], copy=True)
    for start in range(n, len(buf), n):
        chunk = buf[start : start + n]
        out[: len(chunk)] += chunk
    return out


# ---------------------------------------------------------------------------------------------
# one-shots


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
    n = _frames(length_s, sr)
    t = np.arange(n) / sr
    freq = f_end_hz + (f_start_hz - f_end_hz) * np.exp(-t / pitch_decay_s)
    body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / amp_decay_s)
    noise = _rng(seed).standard_normal(n)
    transient = _filt("bandpass", (1500.0, 6000.0), noise, sr) * _exp_env(n, sr, 0.0025)
    x = body + click * transient / max(np.max(np.abs(transient)), 1e-9)
    if drive > 0:
        x = np.tanh(drive * x) / np.tanh(drive)
    return _normalize(_fades(_stereo(x), sr, out_s=0.02))


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
    n = _frames(length_s, sr)
    t = np.arange(n) / sr
    rng = _rng(seed)
    partials = np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0]) * tune
    metal = _square(partials[None, :] * t[:, None]).sum(axis=1) / len(partials)
    common = rng.standard_normal(n)
    chans = []
    for _ in range(2):
        own = rng.standard_normal(n)
        noise = (1 - width) * common + width * own
        chans.append((1 - metallic) * noise + metallic * metal * 2.0)
    x = np.stack(chans, axis=1)
    x = _filt("highpass", highpass_hz, x, sr, order=4)
    x = _filt("lowpass", max(highpass_hz * 1.8, 12000.0), x, sr, order=1)  # air, not fizz
    x = x * _exp_env(n, sr, decay_s)[:, None]
    return _normalize(_fades(x, sr, in_s=0.0003, out_s=0.005))


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
    n = _frames(length_s, sr)
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
    rng = _rng(seed)
    lo, hi = center_hz / (1 + bandwidth / 2), center_hz * (1 + bandwidth / 2)
    raw = rng.standard_normal((n, 1)) * 0.8 + rng.standard_normal((n, 2)) * 0.35  # mostly centred
    noise = _filt("bandpass", (lo, hi), raw, sr)
    x = noise * env[:, None]
    return _normalize(_fades(x, sr, out_s=0.01))


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
    n = _frames(length_s, sr)
    t = np.arange(n) / sr
    rng = _rng(seed)
    env = _exp_env(n, sr, decay_s)
    if kind in ("tom", "conga"):
        freq = pitch_hz * (1.0 + 0.6 * np.exp(-t / 0.015))
        phase = np.cumsum(freq) / sr
        x = np.sin(2 * np.pi * phase) * env
        if kind == "conga":
            x += 0.35 * np.sin(2 * np.pi * 1.5 * phase) * _exp_env(n, sr, decay_s * 0.5)
            x += (
                0.15
                * _filt("bandpass", (1500.0, 5000.0), rng.standard_normal(n), sr)
                * _exp_env(n, sr, 0.006)
            )
    elif kind == "rim":
        x = (np.sin(2 * np.pi * pitch_hz * t) + 0.6 * np.sin(2 * np.pi * pitch_hz * 1.47 * t)) * env
        x += (
            0.5
            * _filt("bandpass", (2000.0, 6000.0), rng.standard_normal(n), sr)
            * _exp_env(n, sr, 0.004)
        )
    elif kind == "shaker":
        attack = np.minimum(1.0, t / 0.012)
        x = _filt(
            "bandpass", (pitch_hz, min(pitch_hz * 2.2, sr * 0.45)), rng.standard_normal(n), sr, 4
        )
        x = x * attack * env
    else:  # cowbell: two detuned squares through a band-pass, the TR-808 way
        x = _square(pitch_hz * t) + _square(pitch_hz * 1.48 * t)
        x = _filt("bandpass", (pitch_hz * 0.9, pitch_hz * 4.0), x, sr) * env
    return _normalize(_fades(_pan(x, pan), sr, out_s=0.01))


# ---------------------------------------------------------------------------------------------
# loops


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
    osc = sum(_wave(shape, f * t + phase0) for f in freqs) / max(1, len(freqs))
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
    dark = _circular_filt("lowpass", cutoff_hz, raw, sr)
    bright = _circular_filt("lowpass", cutoff_hz * env_mod, raw, sr)
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
    grid, n = _loop_grid(bars, bpm, sr)
    rng = _rng(seed)
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
    y = _filter_env_mix(_fold(raw, n), _fold(fenv, n), sr, cutoff_hz, env_mod)
    y = _circular_filt("highpass", 30.0, y, sr)
    return _normalize(_stereo(y))


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
    grid, n = _loop_grid(bars, bpm, sr)
    rng = _rng(seed)
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
    out = _circular_filt("highpass", 60.0, out, sr)
    return _normalize(out)


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
    grid, n = _loop_grid(bars, bpm, sr)
    rng = _rng(seed)
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
    y = _filter_env_mix(_fold(raw, n), _fold(fenv, n), sr, cutoff_hz, env_mod)
    if delay_feedback > 0 and delay_steps > 0:
        lag = int(round(delay_steps * grid.samples_per_step))
        echo = np.zeros_like(y)
        for rep in range(1, 4):
            # ping-pong: each repeat swaps sides
            echo += (delay_feedback**rep) * np.roll(y[:, :: (-1) ** rep], rep * lag, axis=0)
        y = y + echo
    y = _circular_filt("highpass", 120.0, y, sr)
    return _normalize(y)


# ---------------------------------------------------------------------------------------------
# degradations


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
    rng = _rng(seed)
    n = len(x)
    filt = _circular_filt if loop else _filt  # a loop's damage must not add a click at its seam
    if character == "thin":
        y = filt("highpass", float(rng.uniform(900.0, 1800.0)), x, sr, order=4)
        return _normalize(y, float(rng.uniform(0.15, 0.3)))
    if character == "muddy":
        boom = filt("lowpass", 120.0, x, sr)
        y = filt("lowpass", float(rng.uniform(250.0, 450.0)), x + 4.0 * boom, sr, order=4)
        return _normalize(y)
    if character == "harsh":
        presence = filt("highpass", 2500.0, x, sr)
        y = np.clip((x + 2.0 * presence) * float(rng.uniform(5.0, 10.0)), -1.0, 1.0)
        return np.asarray(y, dtype=np.float32)
    if character == "noisy":
        t = np.arange(n) / sr
        mains = round(50.0 * n / sr) / (n / sr) if loop else 50.0  # whole cycles per loop
        hum = sum(np.sin(2 * np.pi * mains * h * t) / h for h in (1, 2, 3, 5))
        hiss = rng.standard_normal(x.shape)
        y = _normalize(x, 0.8) + 0.06 * hiss + 0.05 * hum[:, None]
        return _normalize(y)
    if character == "lofi":
        hold = int(rng.integers(5, 9))
        y = np.repeat(x[::hold], hold, axis=0)[:n]
        levels = 2**4
        y = np.round(_normalize(y, 1.0) * levels) / levels
        return _normalize(y)
    if character == "quiet":
        return _normalize(x, 10 ** (-30 / 20))
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
            np.clip(_normalize(y, 0.95) if not loop else y, -1.0, 1.0), dtype=np.float32
        )
    if character == "dc_offset":
        y = _normalize(x, 0.6) + float(rng.uniform(0.25, 0.35))
        return np.asarray(y, dtype=np.float32)
    valid = ", ".join(("clean",) + DEGRADATIONS)
    raise ParameterError(f"unknown degradation {character!r}; valid: {valid}")
