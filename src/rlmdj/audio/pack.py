"""The built-in sample pack: synthesised from a seed, cached on disk, reused afterwards.

Offers :func:`ensure_pack` (the pack's :class:`~rlmdj.audio.sample_info.SampleInfo` list, generating
it on first use), :func:`generate_pack` (write a pack into a folder), :func:`render_variant` (one
variant's audio, pure) and :func:`character_of` (which variants are clean and which are damaged).

Each role gets ``variants_per_role`` variants, ``<role>-NN``. Even variants are ``clean`` (good
techno elements with different parameters); odd ones are degraded on purpose - thin, muddy,
harsh, clicky, noisy, lofi, quiet, dc_offset for drums; thin, muddy, harsh, detuned, noisy,
clicky, lofi, sloppy for loops - so palette screening has something to find. Every variant is
seeded from ``(seed, role, variant)`` alone: a pack of 4 variants holds the same first four
files as a pack of 16, byte for byte. Tonal loops of a pack share one minor key.

The cache folder ``<cache_dir>/pack-v1-seed<seed>-n<variants>/`` holds 44.1 kHz stereo float WAV
files and ``index.json``. It is built in a temporary sibling folder and renamed into place, under
a file lock, so concurrent processes never see half a pack; a missing or damaged pack is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from filelock import FileLock

from rlmdj.audio import synth
from rlmdj.audio.grid import DEFAULT_SR
from rlmdj.audio.sample_info import LOOP_ROLES, ONESHOT_ROLES, SampleInfo
from rlmdj.audio.wavio import wav_bytes
from rlmdj.errors import ParameterError
from rlmdj.resources import cache_root

__all__ = [
    "PACK_VERSION",
    "PACK_ROLES",
    "PACK_BPM",
    "DRUM_CHARACTERS",
    "LOOP_CHARACTERS",
    "character_of",
    "pack_key",
    "render_variant",
    "generate_pack",
    "ensure_pack",
    "pack_dir",
    "sample_id",
]

PACK_VERSION = 1
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
_INDEX = "index.json"
_FORMAT = "rlmdj-pack"

_BASS_STEPS = {
    "offbeat": (2, 6, 10, 14),
    "rolling": (1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15),
    "gallop": (2, 3, 6, 7, 10, 11, 14, 15),
    "syncopated": (2, 3, 7, 10, 13, 14),
}
_STAB_STEPS = ((2, 6, 10, 14), (3, 6, 11, 14), (2, 7, 10), (3, 10), (6, 14))
_ARP_STEPS = (tuple(range(16)), tuple(range(0, 16, 2)), (0, 2, 3, 6, 8, 10, 11, 14))


def pack_dir(cache_dir: str | Path | None, seed: int, variants_per_role: int) -> Path:
    """The folder a pack with these parameters lives in."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / f"pack-v{PACK_VERSION}-seed{seed}-n{variants_per_role}"


def sample_id(role: str, variant: int, variants_per_role: int = 16) -> str:
    """Builtin id ``<role>-NN`` (zero-padded to the widest variant number, at least 2 digits)."""
    width = max(2, len(str(max(0, variants_per_role - 1))))
    return f"{role}-{variant:0{width}d}"


def character_of(role: str, variant: int) -> str:
    """The character of variant ``variant`` of ``role``: ``clean`` or the damage it carries."""
    table = LOOP_CHARACTERS if role in LOOP_ROLES else DRUM_CHARACTERS
    return table[variant % len(table)]


def pack_key(seed: int) -> int:
    """Bass root (MIDI note) of the pack's shared minor key."""
    return _KEYS[int(seed) % len(_KEYS)]


def _check(role: str, variant: int, seed: int) -> None:
    if role not in PACK_ROLES:
        raise ParameterError(f"unknown role {role!r}; the pack has: {', '.join(PACK_ROLES)}")
    if int(variant) < 0:
        raise ParameterError(f"variant must be >= 0, got {variant!r}")
    if int(seed) < 0:
        raise ParameterError(f"pack seed must be a non-negative integer, got {seed!r}")


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
    if character in synth.DEGRADATIONS:
        audio = synth.degrade(audio, character, sr=sr, seed=noise_seed + 1, loop=loop)
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
    return synth.kick(sr=sr, seed=seed, **p)


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
    return synth.hihat(sr=sr, seed=seed, **p)


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
    return synth.clap(sr=sr, seed=seed, **p)


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
    kind = synth.PERC_KINDS[(variant // 2) % len(synth.PERC_KINDS)]
    pitch, decay, length = _PERC_RANGES[kind]
    return synth.perc(
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
    if character == "detuned":
        p.update(
            detune_cents=float(rng.choice((-1, 1)) * rng.uniform(30.0, 50.0)),
            wrong_notes=(1, 6, 11),
        )
    elif character == "sloppy":
        p.update(jitter_s=float(rng.uniform(0.015, 0.03)))
    elif character == "clicky":
        p.update(attack_s=0.0, release_s=0.0)
    return synth.bassline(bars=bars, bpm=PACK_BPM, sr=sr, root_midi=root, seed=seed, **p)


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
    return synth.texture(bars=bars, bpm=PACK_BPM, sr=sr, root_midi=root + 12, seed=seed, **p)


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
    if character == "detuned":
        p.update(
            detune_cents=float(rng.choice((-1, 1)) * rng.uniform(30.0, 50.0)),
            wrong_notes=(1, 6, 11),
        )
    elif character == "sloppy":
        p.update(jitter_s=float(rng.uniform(0.015, 0.03)))
    elif character == "clicky":
        p.update(attack_s=0.0, release_s=0.0)
    return synth.synth_loop(bars=bars, bpm=PACK_BPM, sr=sr, root_midi=root + 24, seed=seed, **p)


_ONESHOTS = {"kick": _kick, "hihat": _hihat, "clap": _clap, "perc": _perc}
_LOOPS = {"bassline": _bassline, "texture": _texture, "synth": _synth}


# -- files ------------------------------------------------------------------------------------


def generate_pack(
    dest: str | Path,
    *,
    seed: int = 0,
    variants_per_role: int = 16,
    sr: int = DEFAULT_SR,
    progress: bool = False,
) -> list[SampleInfo]:
    """Write every variant and ``index.json`` into ``dest`` (created; should be empty)."""
    n = _check_variants(variants_per_role)
    _check(PACK_ROLES[0], 0, seed)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    jobs = [(role, v) for role in PACK_ROLES for v in range(n)]
    entries: list[dict] = []
    with _progress(progress, len(jobs), f"synthesising sample pack (seed {seed})") as advance:
        for role, v in jobs:
            audio, meta = render_variant(role, v, seed=seed, sr=sr)
            blob = wav_bytes(audio, sr=sr)
            sid = sample_id(role, v, n)
            name = f"{sid}.wav"
            (dest / name).write_bytes(blob)
            entry = SampleInfo(
                id=sid,
                role=role,
                kind="loop" if role in LOOP_ROLES else "oneshot",
                bars=meta["bars"],
                bpm=meta["bpm"],
                duration_s=len(audio) / sr,
                sr=sr,
                channels=2,
                sha256=hashlib.sha256(blob).hexdigest(),
                source="builtin",
                character=meta["character"],
                path=name,
            ).to_dict()
            entry["bytes"] = len(blob)
            entries.append(entry)
            advance()
    doc = {
        "format": _FORMAT,
        "version": PACK_VERSION,
        "seed": int(seed),
        "variants_per_role": n,
        "sr": sr,
        "samples": entries,
    }
    (dest / _INDEX).write_text(json.dumps(doc, indent=1))
    return _absolute(dest, entries)


def _check_variants(variants_per_role: int) -> int:
    try:
        n = int(variants_per_role)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or n != variants_per_role:
        raise ParameterError(
            f"variants_per_role must be a positive integer, got {variants_per_role!r} (e.g. 16)"
        )
    return n


def _absolute(dest: Path, entries: list[dict]) -> list[SampleInfo]:
    return [SampleInfo.from_dict({**e, "path": str(dest / e["path"])}) for e in entries]


def _read_valid(dest: Path, seed: int, n: int) -> list[SampleInfo] | None:
    """The pack in ``dest`` if its index matches the parameters and every file is intact."""
    try:
        doc = json.loads((dest / _INDEX).read_text())
        ok = (
            doc.get("format") == _FORMAT
            and doc.get("version") == PACK_VERSION
            and doc.get("seed") == seed
            and doc.get("variants_per_role") == n
            and len(doc["samples"]) == n * len(PACK_ROLES)
        )
        if not ok:
            return None
        for e in doc["samples"]:
            if (dest / e["path"]).stat().st_size != e["bytes"]:
                return None
        return _absolute(dest, doc["samples"])
    except (OSError, ValueError, KeyError, TypeError, ParameterError):
        return None


@contextlib.contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator:
    """A live bar on a terminal when ``enabled``; otherwise plain lines, one per 2 s and the last."""
    if not enabled or not sys.stderr.isatty():
        state = {"done": 0, "last": time.perf_counter()}

        def line() -> None:
            state["done"] += 1
            now = time.perf_counter()
            if state["done"] == total or now - state["last"] >= 2.0:
                print(f"{label} {state['done']}/{total}", file=sys.stderr, flush=True)
                state["last"] = now

        yield line
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def _remove_abandoned(root: Path, name: str, *, older_than_s: float = 600.0) -> None:
    """Delete temporary folders left by a generation that was killed (not ones still in use)."""
    now = time.time()
    for leftover in root.glob(f".{name}.*-*"):
        with contextlib.suppress(OSError):
            if leftover.is_dir() and now - leftover.stat().st_mtime > older_than_s:
                shutil.rmtree(leftover, ignore_errors=True)


def ensure_pack(
    *,
    seed: int = 0,
    variants_per_role: int = 16,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> list[SampleInfo]:
    """The built-in pack's samples, generated into the cache on first use and reused afterwards."""
    n = _check_variants(variants_per_role)
    _check(PACK_ROLES[0], 0, seed)
    dest = pack_dir(cache_dir, seed, n)
    found = _read_valid(dest, seed, n)
    if found is not None:
        return found
    root = dest.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(
            f"cannot create the sample cache folder {root}: {exc.strerror or exc}; "
            "point samples.cache_dir (or RLMDJ_CACHE_DIR) at a writable folder"
        ) from None
    with FileLock(root / f".{dest.name}.lock"):
        found = _read_valid(dest, seed, n)  # another process may have built it while we waited
        if found is not None:
            return found
        _remove_abandoned(root, dest.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=root))
        try:
            generate_pack(tmp, seed=seed, variants_per_role=n, progress=progress)
            if dest.exists():  # damaged or stale: move aside first, rename cannot replace a folder
                stale = root / f".{dest.name}.stale-{uuid.uuid4().hex[:8]}"
                os.rename(dest, stale)
                shutil.rmtree(stale, ignore_errors=True)
            os.rename(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    found = _read_valid(dest, seed, n)
    if found is None:
        raise ParameterError(f"sample pack in {dest} could not be verified after generation")
    return found
