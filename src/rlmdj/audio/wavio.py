"""Audio file I/O and level helpers: peak measurement, peak normalisation, WAV and previews.

Offers
------
- :func:`peak_dbfs` — sample peak in dBFS (``-inf`` for silence).
- :func:`normalize_peak` — scale to a peak target; never clips, silence stays silence.
- :func:`write_wav` — WAV as 32-bit float, 24-bit or 16-bit PCM; attenuates instead of clipping.
- :func:`wav_bytes` — the same WAV file as bytes (uploads, content-addressed packs).
- :func:`write_preview` — compressed preview (OGG Vorbis; MP3 where libsndfile supports it).
- :func:`read_audio` — any libsndfile format as float32 (frames, channels) plus its rate.
- :func:`to_stereo` — (n,) or (n, 1) audio as (n, 2).

Audio arrays are (frames, channels) float in -1..1 full scale; sample rates are in Hz. Every
array and rate is checked by :mod:`rlmdj.audio.valid`. WAV bytes depend on the audio alone:
libsndfile's PEAK chunk carries a write time, which is zeroed, so equal audio gives equal files.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from rlmdj.audio.valid import valid_audio, valid_sr
from rlmdj.errors import ParameterError

__all__ = [
    "WAV_SUBTYPES",
    "PREVIEW_FORMATS",
    "peak_dbfs",
    "normalize_peak",
    "write_wav",
    "wav_bytes",
    "write_preview",
    "read_audio",
    "to_stereo",
]

WAV_SUBTYPES = ("FLOAT", "PCM_24", "PCM_16")
# fmt -> (libsndfile container, codec subtype)
PREVIEW_FORMATS = {"ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}


def peak_dbfs(audio: np.ndarray) -> float:
    """Sample peak of ``audio`` in dBFS (1.0 = 0 dBFS); ``-inf`` for silence or empty audio."""
    arr = np.asarray(audio)
    valid_audio(arr, allow_empty=True)
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0.0 else -math.inf


def normalize_peak(audio: np.ndarray, *, target_dbfs: float | None = -1.0) -> np.ndarray:
    """Return float32 ``audio`` scaled so its sample peak is ``target_dbfs`` (<= 0 dBFS).

    ``target_dbfs=None`` leaves the level alone unless the peak is above 0 dBFS, in which case it
    is attenuated to exactly 0 dBFS: the output never clips. Silence stays silence (no division
    by zero). Always returns a new array.
    """
    arr = np.asarray(audio)
    valid_audio(arr, allow_empty=True)
    if target_dbfs is not None:
        try:
            target_dbfs = float(target_dbfs)
        except (TypeError, ValueError):
            target_dbfs = math.nan
        if not math.isfinite(target_dbfs) or target_dbfs > 0.0:
            raise ParameterError(
                f"target_dbfs must be a finite level <= 0 dBFS (e.g. -1.0) or None, got {target_dbfs!r}"
            )
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    if peak == 0.0:
        return np.array(arr, dtype=np.float32)
    if target_dbfs is None:
        if peak <= 1.0:
            return np.array(arr, dtype=np.float32)
        target = 1.0
    else:
        target = 10.0 ** (target_dbfs / 20.0)
    out = (arr.astype(np.float64) * (target / peak)).astype(np.float32)
    # float32 rounding may overshoot full scale by one ulp; that must not become a clipped sample.
    np.clip(out, -1.0, 1.0, out=out)
    return out


def _attenuate_over_full_scale(arr: np.ndarray, path: Path | str, *, stacklevel: int = 3) -> np.ndarray:
    """Attenuate to 0 dBFS (with a warning) when the peak exceeds full scale, instead of clipping."""
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    if peak > 1.0:
        warnings.warn(
            f"{path}: peak {20 * math.log10(peak):+.2f} dBFS is above full scale; "
            "attenuated to 0 dBFS instead of clipping",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
        return normalize_peak(arr, target_dbfs=None)
    return arr


def _check_subtype(subtype: str) -> str:
    key = str(subtype).upper()
    if key not in WAV_SUBTYPES:
        raise ParameterError(
            f"unknown WAV subtype {subtype!r}; accepted: {', '.join(WAV_SUBTYPES)}"
        )
    return key


def _zero_peak_time(data: bytearray) -> None:
    """Zero the write-time word of a PEAK chunk (libsndfile stamps float WAVs with it)."""
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"PEAK" and size >= 8:
            struct.pack_into("<I", data, pos + 12, 0)  # after the version word
            return
        pos += 8 + size + (size & 1)


def _encode(audio: np.ndarray, *, sr: int, subtype: str, label: Path | str) -> bytes:
    key = _check_subtype(subtype)
    sr = valid_sr(sr)
    arr = valid_audio(audio, allow_empty=True, dtype=np.float32)
    if key != "FLOAT":
        arr = _attenuate_over_full_scale(arr, label, stacklevel=4)  # whoever called write_wav
    buf = io.BytesIO()
    sf.write(buf, arr, sr, format="WAV", subtype=key)
    data = bytearray(buf.getbuffer())
    _zero_peak_time(data)
    return bytes(data)


def wav_bytes(audio: np.ndarray, *, sr: int, subtype: str = "FLOAT") -> bytes:
    """The WAV file :func:`write_wav` would write, as bytes (same checks, same warnings)."""
    return _encode(audio, sr=sr, subtype=subtype, label="WAV data")


def write_wav(path: str | Path, audio: np.ndarray, *, sr: int, subtype: str = "FLOAT") -> Path:
    """Write ``audio`` (frames[, channels]) at ``sr`` Hz as a WAV file and return its path.

    ``subtype`` is ``"FLOAT"`` (32-bit float, lossless for the renderer's output), ``"PCM_24"`` or
    ``"PCM_16"``. Integer formats cannot hold peaks above 0 dBFS, so such audio is attenuated to
    0 dBFS with a :class:`RuntimeWarning` rather than clipped. Parent folders are created.
    """
    path = Path(path)
    data = _encode(audio, sr=sr, subtype=subtype, label=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


_PREVIEW_BLOCK_FRAMES = 16_384


def write_preview(path: str | Path, audio: np.ndarray, *, sr: int, fmt: str = "ogg") -> Path:
    """Write a compressed listening preview of ``audio`` at ``sr`` Hz and return its path.

    ``fmt`` is ``"ogg"`` (Vorbis, always available) or ``"mp3"`` (needs libsndfile >= 1.1 built
    with LAME/mpg123). Peaks above 0 dBFS are attenuated (with a warning) rather than clipped.
    """
    key = str(fmt).lower().lstrip(".")
    if key not in PREVIEW_FORMATS:
        raise ParameterError(
            f"unknown preview format {fmt!r}; accepted: {', '.join(PREVIEW_FORMATS)}"
        )
    container, codec = PREVIEW_FORMATS[key]
    if container not in sf.available_formats() or codec not in sf.available_subtypes(container):
        raise ParameterError(
            f"preview format {fmt!r} is not supported by this libsndfile "
            f"({sf.__libsndfile_version__}); use fmt='ogg' or write_wav"
        )
    sr = valid_sr(sr)
    path = Path(path)
    arr = _attenuate_over_full_scale(valid_audio(audio, allow_empty=True, dtype=np.float32), path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Encoders in libsndfile can crash on one very large write; feed them in blocks.
        with sf.SoundFile(str(path), "w", samplerate=sr, channels=arr.shape[1],
                          format=container, subtype=codec) as out:
            for start in range(0, len(arr), _PREVIEW_BLOCK_FRAMES):
                out.write(arr[start : start + _PREVIEW_BLOCK_FRAMES])
    except sf.LibsndfileError as exc:  # e.g. a sample rate the encoder refuses
        raise ParameterError(f"could not encode {path} as {key} at {sr} Hz: {exc}") from exc
    return path


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 (frames, channels) and its sample rate in Hz."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no audio file at {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise ParameterError(f"could not read {path} as audio: {exc}") from exc
    return np.ascontiguousarray(data), int(sr)


def to_stereo(audio: np.ndarray) -> np.ndarray:
    """(n,) or (n, 1) audio as float32 (n, 2) with both sides equal; (n, 2) passes through."""
    arr = np.asarray(audio)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] not in (1, 2):
        raise ParameterError(
            f"expected mono (n,), (n, 1) or stereo (n, 2) audio, got shape {arr.shape}"
        )
    if arr.shape[1] == 1:
        arr = np.repeat(arr, 2, axis=1)
    return np.ascontiguousarray(arr, dtype=np.float32)
