"""The set's FLAC artifact is lossless at 24 bits whatever its compression level, and rlmdj's level
is the one ``bench_disk.py --flac-levels`` chose."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from rlmdj.tracking.record.audio import FLAC_COMPRESSION_LEVEL, render_sha256, write_set_audio


def _set(seconds: float = 3.0, sr: int = 44100) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    kick = np.sin(2 * np.pi * 55 * t) * np.exp(-(t % 0.5) * 12)
    hat = np.random.default_rng(0).standard_normal(t.size) * 0.05 * ((t % 0.25) < 0.02)
    left = 0.7 * kick + hat
    return np.stack([left, 0.9 * left], axis=1).astype(np.float32)


def test_every_level_decodes_to_the_24_bit_render(tmp_path) -> None:
    audio = _set()
    digest = render_sha256(audio)
    quantised = np.round(audio.astype(np.float64) * 2**23).astype(np.int64)
    sizes = {}
    for level in (0.0, FLAC_COMPRESSION_LEVEL, 1.0):
        path = write_set_audio(tmp_path / f"set-{level}", audio, sr=44100, compression_level=level)
        decoded, sr = sf.read(str(path), dtype="int32")
        assert sr == 44100 and sf.info(str(path)).subtype == "PCM_24"
        assert np.abs((decoded.astype(np.int64) >> 8) - quantised).max() <= 1  # lossless at 24 bits
        sizes[level] = path.stat().st_size
    assert render_sha256(audio) == digest  # the digest is the float render's, not the file's
    assert sizes[1.0] <= sizes[FLAC_COMPRESSION_LEVEL] <= sizes[0.0]


def test_the_artifact_is_written_at_rlmdjs_level(tmp_path) -> None:
    audio = _set()
    default = write_set_audio(tmp_path / "default", audio, sr=44100)
    chosen = write_set_audio(tmp_path / "chosen", audio, sr=44100, compression_level=FLAC_COMPRESSION_LEVEL)
    assert default.read_bytes() == chosen.read_bytes()
    assert FLAC_COMPRESSION_LEVEL == 0.125  # FLAC level 1: see docs/reliability.md, Benchmarks
