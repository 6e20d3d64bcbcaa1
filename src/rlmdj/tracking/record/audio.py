"""The set's audio as a run artifact: stored once, lossless, and identified by its render.

- :func:`write_set_audio` — ``flac`` (default: 24-bit FLAC, about a third of float WAV) or
  ``wav`` (the render's float32 samples, bit for bit).
- :func:`render_sha256` — digest of the float32 render itself, so replays and determinism
  checks compare the music rather than a container whose bytes depend on the encoder.
- :func:`listening_preview` — compressed Ogg Vorbis bytes for the run card, at most
  ``max_bytes_per_min`` (1 MB per minute by default).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from rlmdj.config.core import RenderConfig
from rlmdj.errors import ParameterError

__all__ = ["ARTIFACT_FORMATS", "FLAC_COMPRESSION_LEVEL", "PREVIEW_BYTES_PER_MIN", "listening_preview",
           "render_sha256", "write_set_audio"]

ARTIFACT_FORMATS = ("flac", "wav")
# libsndfile's FLAC level as soundfile's 0..1 (FLAC levels 0..8 in steps of 0.125); every level is
# lossless, they trade encode time for size. FLAC level 1 encodes a 32-bar set in about half the
# time of libsndfile's default (level 5) for 1.3% more bytes (``bench_disk.py --flac-levels``;
# the figures are in docs/reliability.md, Benchmarks).
FLAC_COMPRESSION_LEVEL = 0.125
PREVIEW_BYTES_PER_MIN = 1_000_000
_BLOCK = 1 << 16  # libsndfile's encoders can crash on one very large write


def _frames(audio: np.ndarray) -> np.ndarray:
    arr = np.asarray(audio, dtype=np.float32)
    return arr.reshape(-1, 1) if arr.ndim == 1 else arr


def render_sha256(audio: np.ndarray) -> str:
    """SHA-256 of the render as little-endian float32 frames (shape included)."""
    arr = np.ascontiguousarray(_frames(audio), dtype="<f4")
    digest = hashlib.sha256(f"{arr.shape[0]}x{arr.shape[1]}:".encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()


def write_set_audio(path_stem: Path, audio: np.ndarray, *, sr: int, fmt: str = "flac",
                    wav_subtype: str = RenderConfig.wav_subtype,
                    compression_level: float = FLAC_COMPRESSION_LEVEL) -> Path:
    """Write ``audio`` as ``<path_stem>.flac`` (24-bit, at ``compression_level``) or ``.wav``
    (``wav_subtype``)."""
    key = str(fmt).lower()
    if key not in ARTIFACT_FORMATS:
        raise ParameterError(
            f"render.artifact_format={fmt!r} is not a set format; use render.artifact_format=flac "
            "(24-bit, lossless at this depth) or render.artifact_format=wav (float32)"
        )
    if key == "wav":
        from rlmdj.audio.wavio import write_wav

        return write_wav(path_stem.with_suffix(".wav"), audio, sr=sr, subtype=wav_subtype)
    import soundfile as sf

    arr = _frames(audio)
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    if peak > 1.0:  # never clip: attenuate to full scale as the WAV writer does
        arr = arr / peak
    path = path_stem.with_suffix(".flac")
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(path), "w", samplerate=int(sr), channels=arr.shape[1], format="FLAC",
                      subtype="PCM_24", compression_level=compression_level) as out:
        for start in range(0, len(arr), _BLOCK):
            out.write(arr[start : start + _BLOCK])
    return path


def _vorbis(arr: np.ndarray, sr: int, level: float | None) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    kwargs = {} if level is None else {"compression_level": level}
    with sf.SoundFile(buf, "w", samplerate=int(sr), channels=arr.shape[1], format="OGG",
                      subtype="VORBIS", **kwargs) as out:
        for start in range(0, len(arr), _BLOCK):
            out.write(arr[start : start + _BLOCK])
    return buf.getvalue()


def listening_preview(audio: np.ndarray, *, sr: int,
                      max_bytes_per_min: float = PREVIEW_BYTES_PER_MIN) -> bytes:
    """Ogg Vorbis bytes of ``audio`` no larger than ``max_bytes_per_min`` per minute.

    Vorbis is variable-rate: dense material is re-encoded at lower quality until it fits.
    """
    arr = np.clip(_frames(audio), -1.0, 1.0)
    minutes = max(len(arr) / float(sr) / 60.0, 1.0 / 60.0)
    budget = max_bytes_per_min * minutes
    data = b""
    for level in (None, 0.7, 0.85, 1.0):
        data = _vorbis(arr, sr, level)
        if len(data) <= budget:
            return data
    return data
