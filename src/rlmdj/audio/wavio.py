"""Audio file I/O and level helpers: peak measurement, peak normalisation, WAV and previews.

Offers
------
- :func:`peak_dbfs` — sample peak in dBFS (``-inf`` for silence).
- :func:`normalize_peak` — scale to a peak target; never clips, silence stays silence.
- :func:`write_wav` — WAV as 32-bit float, 24-bit or 16-bit PCM; attenuates instead of clipping.
- :func:`write_preview` — compressed preview (OGG Vorbis; MP3 where libsndfile supports it).
- :func:`read_audio` — any libsndfile format as float32 (frames, channels) plus its rate.
- :func:`to_stereo` — (n,) or (n, 1) audio as (n, 2).

Audio arrays are (frames, channels) float in -1..1 full scale; sample rates are in Hz.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.io import wavfile

from rlmdj.errors import ParameterError

__all__ = [
    "WAV_SUBTYPES",
    "PREVIEW_FORMATS",
    "peak_dbfs",
    "normalize_peak",
    "write_wav",
    "write_preview",
    "read_audio",
    "to_stereo",
]

WAV_SUBTYPES = ("FLOAT", "PCM_24", "PCM_16")
# fmt -> (libsndfile container, codec subtype)
PREVIEW_FORMATS = {"ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}


def _frames(audio: np.ndarray, what: str = "audio") -> np.ndarray:
    """``audio`` as a finite float array (frames,) or (frames, channels); refuses anything else."""
    arr = np.asarray(audio)
    if arr.ndim not in (1, 2):
        raise ParameterError(
            f"{what} must be (frames,) or (frames, channels), got shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ParameterError(f"{what} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ParameterError(f"{what} contains NaN or infinity; render output must be finite")
    return arr


def peak_dbfs(audio: np.ndarray) -> float:
    """Sample peak of ``audio`` in dBFS (1.0 = 0 dBFS); ``-inf`` for silence or empty audio."""
    arr = _frames(audio)
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0.0 else -math.inf


def normalize_peak(audio: np.ndarray, *, target_dbfs: float | None = -1.0) -> np.ndarray:
    """Return float32 ``audio`` scaled so its sample peak is ``target_dbfs`` (<= 0 dBFS).

    ``target_dbfs=None`` leaves the level alone unless the peak is above 0 dBFS, in which case it
    is attenuated to exactly 0 dBFS: the output never clips. Silence stays silence (no division
    by zero). Always returns a new array.
    """
    arr = _frames(audio)
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


def _check_sr(sr: int) -> int:
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"sample rate must be a positive integer in Hz (e.g. 44100), got {sr!r}")
    return int(sr)


def _attenuate_over_full_scale(arr: np.ndarray, path: Path) -> np.ndarray:
    """Attenuate to 0 dBFS (with a warning) when the peak exceeds full scale, instead of clipping."""
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    if peak > 1.0:
        warnings.warn(
            f"{path}: peak {20 * math.log10(peak):+.2f} dBFS is above full scale; "
            "attenuated to 0 dBFS instead of clipping",
            RuntimeWarning,
            stacklevel=3,
        )
        return normalize_peak(arr, target_dbfs=None)
    return arr


def write_wav(path: str | Path, audio: np.ndarray, *, sr: int, subtype: str = "FLOAT") -> Path:
    """Write ``audio`` (frames[, channels]) at ``sr`` Hz as a WAV file and return its path.

    ``subtype`` is ``"FLOAT"`` (32-bit float, lossless for the renderer's output), ``"PCM_24"`` or
    ``"PCM_16"``. Integer formats cannot hold peaks above 0 dBFS, so such audio is attenuated to
    0 dBFS with a :class:`RuntimeWarning` rather than clipped. Parent folders are created.
    """
    key = str(subtype).upper()
    if key not in WAV_SUBTYPES:
        raise ParameterError(
            f"unknown WAV subtype {subtype!r}; accepted: {', '.join(WAV_SUBTYPES)}"
        )
    sr = _check_sr(sr)
    path = Path(path)
    arr = np.asarray(_frames(audio), dtype=np.float32)
    if key != "FLOAT":
        arr = _attenuate_over_full_scale(arr, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if key == "FLOAT":
        # libsndfile stamps float WAVs with a PEAK chunk holding the write time, which would make
        # the same set differ byte-wise between runs; scipy writes the plain IEEE-float format.
        wavfile.write(str(path), sr, np.ascontiguousarray(arr))
    else:
        sf.write(str(path), arr, sr, format="WAV", subtype=key)
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
    sr = _check_sr(sr)
    path = Path(path)
    arr = _attenuate_over_full_scale(np.asarray(_frames(audio), dtype=np.float32), path)
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
