"""The built-in sample pack: synthesised from a seed, cached on disk, reused afterwards.

Offers :func:`ensure_pack` (the pack's :class:`~rlmdj.audio.sample_info.SampleInfo` list,
generating it on first use), :func:`generate_pack` (write a pack into a folder),
:func:`render_variant` (one variant's audio, pure) and :func:`character_of` (which variants are
clean and which are damaged).

Each role gets ``variants_per_role`` variants, ``<role>-NN``; even ones are clean, odd ones
damaged on purpose, each seeded from ``(seed, role, variant)`` alone, so a pack of 4 variants
holds the same first four files as a pack of 16, byte for byte.

Modules, bottom up: :mod:`~rlmdj.audio.pack.dsp` (filters, envelopes, waveforms),
:mod:`~rlmdj.audio.pack.drums` (kick, hihat, clap, perc), :mod:`~rlmdj.audio.pack.tonal`
(bassline, texture, synth loops), :mod:`~rlmdj.audio.pack.degrade` (damage on purpose),
:mod:`~rlmdj.audio.pack.variants` (each role's recipe, one variant's audio) and
:mod:`~rlmdj.audio.pack.store` (the cached pack folder and its index).
"""

from rlmdj.audio.pack.store import PACK_VERSION, ensure_pack, generate_pack, pack_dir, sample_id
from rlmdj.audio.pack.variants import (
    DRUM_CHARACTERS,
    LOOP_CHARACTERS,
    PACK_BPM,
    PACK_ROLES,
    character_of,
    pack_key,
    render_variant,
)

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
