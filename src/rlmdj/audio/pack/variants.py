"""One variant of the pack: :func:`render_variant` and the recipe of each role.

Each role gets variants ``0, 1, 2, …``. Even variants are ``clean`` (good techno elements with
different parameters); odd ones are degraded on purpose - thin, muddy, harsh, clicky, noisy,
lofi, quiet, dc_offset for drums; thin, muddy, harsh, detuned, noisy, clicky, lofi, sloppy for
loops - so palette screening has something to find (:func:`character_of`). Every variant is
seeded from ``(seed, role, variant)`` alone, so a variant sounds the same whatever the size of
the pack it belongs to. Tonal loops of a pack share one minor key (:func:`pack_key`).

A recipe draws a role's clean parameters from ranges that sound like the role, then changes
what its damaged character calls for; :mod:`~rlmdj.audio.pack.degrade` does the rest.
"""

from __future__ import annotations

import numpy as np

from rlmdj.audio.grid import DEFAULT_SR
from rlmdj.audio.pack.degrade import DEGRADATIONS, degrade
from rlmdj.audio.pack.drums import PERC_KINDS, clap, hihat, kick, perc
from rlmdj.audio.pack.tonal import bassline, synth_loop, texture
from rlmdj.audio.sample_info import LOOP_ROLES, ONESHOT_ROLES
from rlmdj.errors import ParameterError

__all__ = [
    "PACK_ROLES",
    "PACK_BPM",
    "DRUM_CHARACTERS",
    "LOOP_CHARACTERS",
    "character_of",
    "pack_key",
    "check_seed",
    "render_variant",
]

PACK_ROLES: tuple[str, ...] = ONESHOT_ROLES + LOOP_ROLES
PACK_BPM = 128.0
DRUM_CHARACTERS: tuple[str, ...] = (
    "clean", "thin", "clean", "muddy", "clean", "harsh", "clean", "clicky",
    "clean", "noisy", "clean", "lofi", "clean", "quiet", "clean", "dc_offset",
)  # fmt: skip
LOOP_CHARACTERS: tuple[str, ...] = (
    "clean", "thin", "clean", "muddy", "clean", "harsh", "clean", "detuned",
    "clean", "noisy", "clean", "clicky", "clean", "lofi", "clean", "sloppy",
)  # fmt: skip
_KEYS = (33, 29, 31, 36, 38, 28)  # bass roots (MIDI): A1 F1 G1 C2 D2 E1, one per pack seed

_BASS_STEPS = {
    "offbeat": (2, 6, 10, 14),
    "rolling": (1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15),
    "gallop": (2, 3, 6, 7, 10, 11, 14, 15),
    "syncopated": (2, 3, 7, 10, 13, 14),
}
_STAB_STEPS = ((2, 6, 10, 14), (3, 6, 11, 14), (2, 7, 10), (3, 10), (6, 14))
_ARP_STEPS = (tuple(range(16)), tuple(range(0, 16, 2)), (0, 2, 3, 6, 8, 10, 11, 14))


def character_of(role: str, variant: int) -> str:
    """The character of variant ``variant`` of ``role``: ``clean`` or the damage it carries."""
    table = LOOP_CHARACTERS if role in LOOP_ROLES else DRUM_CHARACTERS
    return table[variant % len(table)]


def pack_key(seed: int) -> int:
    """Bass root (MIDI note) of the pack's shared minor key."""
    return _KEYS[int(seed) % len(_KEYS)]


def check_seed(seed: int) -> None:
    """Refuse a pack seed that is not a non-negative integer."""
    if int(seed) < 0:
        raise ParameterError(f"pack seed must be a non-negative integer, got {seed!r}")


def _check(role: str, variant: int, seed: int) -> None:
    if role not in PACK_ROLES:
        raise ParameterError(f"unknown role {role!r}; the pack has: {', '.join(PACK_ROLES)}")
    if int(variant) < 0:
        raise ParameterError(f"variant must be >= 0, got {variant!r}")
    check_seed(seed)


def render_variant(
    role: str, variant: int, *, seed: int = 0, sr: int = DEFAULT_SR
) -> tuple[np.ndarray, dict]:
    """Audio (float32 ``(frames, 2)``) and ``{"character", "bars", "bpm"}`` of one pack variant."""
    _check(role, variant, seed)
    rng = np.random.default_rng(
        np.random.SeedSequence([int(seed), PACK_ROLES.index(role), int(variant)])
    )
    character = character_of(role, variant)
    noise_seed = int(rng.integers(2**31))
    meta: dict = {"character": character, "bars": None, "bpm": None}
    loop = role in LOOP_ROLES
    if loop:
        bars = int(
            rng.choice(
                (1, 2, 4),
                p={
                    "bassline": (0.4, 0.4, 0.2),
                    "texture": (0.0, 0.4, 0.6),
                    "synth": (0.3, 0.4, 0.3),
                }[role],
            )
        )
        meta.update(bars=bars, bpm=PACK_BPM)
        audio = _LOOPS[role](rng, character, bars=bars, root=pack_key(seed), sr=sr, seed=noise_seed)
    else:
        audio = _ONESHOTS[role](rng, character, variant=int(variant), sr=sr, seed=noise_seed)
    if character in DEGRADATIONS:
        audio = degrade(audio, character, sr=sr, seed=noise_seed + 1, loop=loop)
    return np.ascontiguousarray(audio, dtype=np.float32), meta


# -- recipes: clean parameter ranges, and what each damaged character changes ------------------


def _kick(
    rng: np.random.Generator, character: str, *, variant: int, sr: int, seed: int
) -> np.ndarray:
    p = dict(
        length_s=float(rng.uniform(0.35, 0.6)),
        f_start_hz=float(rng.uniform(130.0, 220.0)),
        f_end_hz=float(rng.uniform(42.0, 56.0)),
        pitch_decay_s=float(rng.uniform(0.02, 0.045)),
        amp_decay_s=float(rng.uniform(0.15, 0.28)),
        click=float(rng.uniform(0.1, 0.35)),
        drive=float(rng.uniform(1.0, 2.5)),
    )
    if character == "muddy":
        p.update(length_s=0.95, amp_decay_s=0.6, f_end_hz=38.0)
    elif character == "harsh":
        p.update(drive=6.0)
    elif character == "clicky":
        p.update(click=1.5)
    return kick(sr=sr, seed=seed, **p)


def _hihat(
    rng: np.random.Generator, character: str, *, variant: int, sr: int, seed: int
) -> np.ndarray:
    is_open = variant % 8 == 6  # every fourth clean hat is an open hat
    p = dict(
        decay_s=float(rng.uniform(0.15, 0.25) if is_open else rng.uniform(0.025, 0.07)),
        length_s=0.55 if is_open else float(rng.uniform(0.15, 0.25)),
        highpass_hz=float(rng.uniform(6500.0, 9000.0)),
        metallic=float(rng.uniform(0.2, 0.6)),
        tune=float(rng.uniform(0.9, 1.3)),
        width=float(rng.uniform(0.1, 0.35)),
    )
    if character == "muddy":
        p.update(highpass_hz=1500.0, decay_s=0.2, length_s=0.5)
    return hihat(sr=sr, seed=seed, **p)


def _clap(
    rng: np.random.Generator, character: str, *, variant: int, sr: int, seed: int
) -> np.ndarray:
    p = dict(
        bursts=int(rng.integers(3, 6)),
        spacing_s=float(rng.uniform(0.008, 0.014)),
        tail_decay_s=float(rng.uniform(0.07, 0.15)),
        center_hz=float(rng.uniform(1000.0, 1800.0)),
        bandwidth=float(rng.uniform(0.8, 1.6)),
        length_s=float(rng.uniform(0.3, 0.45)),
    )
    return clap(sr=sr, seed=seed, **p)


_PERC_RANGES = {  # pitch (Hz) and decay (s) that make each kind sound like itself
    "tom": ((100.0, 220.0), (0.08, 0.2), 0.45),
    "conga": ((180.0, 350.0), (0.06, 0.14), 0.35),
    "rim": ((1200.0, 2000.0), (0.01, 0.025), 0.15),
    "shaker": ((4500.0, 7000.0), (0.03, 0.07), 0.2),
    "cowbell": ((540.0, 600.0), (0.06, 0.12), 0.3),
}


def _perc(
    rng: np.random.Generator, character: str, *, variant: int, sr: int, seed: int
) -> np.ndarray:
    kind = PERC_KINDS[(variant // 2) % len(PERC_KINDS)]
    pitch, decay, length = _PERC_RANGES[kind]
    return perc(
        kind=kind,
        sr=sr,
        seed=seed,
        pitch_hz=float(rng.uniform(*pitch)),
        decay_s=float(rng.uniform(*decay)),
        length_s=length,
        pan=float(rng.uniform(-0.4, 0.4)),
    )


def _bass_degrees(rng: np.random.Generator, count: int, per_bar: int) -> list[int]:
    """Mostly the root, sometimes octave, third, fifth or seventh; every bar starts on the root."""
    degrees = np.where(rng.random(count) < 0.7, 0, rng.choice((7, 2, 4, 6), size=count))
    degrees[::per_bar] = 0
    return [int(d) for d in degrees]


def _note_damage(rng: np.random.Generator, character: str) -> dict:
    """What a damaged character changes in a loop of notes (bassline, synth): off-key and detuned,
    off the grid, or without attack and release; ``{}`` for any other character."""
    if character == "detuned":
        return dict(
            detune_cents=float(rng.choice((-1, 1)) * rng.uniform(30.0, 50.0)),
            wrong_notes=(1, 6, 11),
        )
    if character == "sloppy":
        return dict(jitter_s=float(rng.uniform(0.015, 0.03)))
    if character == "clicky":
        return dict(attack_s=0.0, release_s=0.0)
    return {}


def _bassline(
    rng: np.random.Generator, character: str, *, bars: int, root: int, sr: int, seed: int
) -> np.ndarray:
    name = list(_BASS_STEPS)[int(rng.integers(len(_BASS_STEPS)))]
    steps = _BASS_STEPS[name]
    p = dict(
        steps=steps,
        degrees=_bass_degrees(rng, len(steps) * bars, len(steps)),
        shape=str(rng.choice(("saw", "saw", "square"))),
        sub=float(rng.uniform(0.3, 0.7)),
        cutoff_hz=float(rng.uniform(200.0, 500.0)),
        env_mod=float(rng.uniform(2.0, 5.0)),
        note_steps=float(rng.uniform(0.6, 0.9) if len(steps) > 6 else rng.uniform(0.8, 1.4)),
    )
    p.update(_note_damage(rng, character))
    return bassline(bars=bars, bpm=PACK_BPM, sr=sr, root_midi=root, seed=seed, **p)


def _texture(
    rng: np.random.Generator, character: str, *, bars: int, root: int, sr: int, seed: int
) -> np.ndarray:
    p = dict(
        bands_hz=(
            float(rng.uniform(200.0, 600.0)),
            float(rng.uniform(1000.0, 2500.0)),
            float(rng.uniform(3500.0, 8000.0)),
        ),
        band_octaves=float(rng.uniform(0.5, 1.0)),
        movement_cycles=tuple(int(c) for c in rng.integers(1, bars + 1, size=3)),
        drone=float(rng.uniform(0.2, 0.5)),
        drone_intervals=((0, 7, 12), (0, 3, 7), (0, 7, 10))[int(rng.integers(3))],
        pump=float(rng.uniform(0.3, 0.6)),
        width=float(rng.uniform(0.4, 0.8)),
    )
    if character == "detuned":
        p.update(detune_cents=float(rng.uniform(30.0, 50.0)), drone_intervals=(0, 6, 11), drone=0.6)
    elif character == "sloppy":
        p.update(pump_bpm=PACK_BPM * float(rng.choice((0.96, 1.04))), pump=0.7)
    return texture(bars=bars, bpm=PACK_BPM, sr=sr, root_midi=root + 12, seed=seed, **p)


def _synth(
    rng: np.random.Generator, character: str, *, bars: int, root: int, sr: int, seed: int
) -> np.ndarray:
    mode = str(rng.choice(("stab", "arp")))
    table = _STAB_STEPS if mode == "stab" else _ARP_STEPS
    p = dict(
        mode=mode,
        steps=table[int(rng.integers(len(table)))],
        chord=((0, 3, 7), (0, 3, 7, 10), (0, 7, 12), (0, 3, 10))[int(rng.integers(4))],
        note_steps=float(rng.uniform(0.8, 1.5) if mode == "stab" else rng.uniform(0.5, 0.9)),
        shape=str(rng.choice(("saw", "square"))),
        voices_cents=(-float(rng.uniform(5, 14)), 0.0, float(rng.uniform(5, 14))),
        cutoff_hz=float(rng.uniform(700.0, 2200.0)),
        env_mod=float(rng.uniform(2.0, 4.0)),
        delay_steps=int(rng.choice((3, 6))),
        delay_feedback=float(rng.uniform(0.15, 0.4)),
    )
    p.update(_note_damage(rng, character))
    return synth_loop(bars=bars, bpm=PACK_BPM, sr=sr, root_midi=root + 24, seed=seed, **p)


_ONESHOTS = {"kick": _kick, "hihat": _hihat, "clap": _clap, "perc": _perc}
_LOOPS = {"bassline": _bassline, "texture": _texture, "synth": _synth}
