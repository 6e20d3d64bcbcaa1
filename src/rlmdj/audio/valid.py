"""One validator for every array that enters rlmdj as audio, and one for sample rates.

Offers
------
- :func:`valid_audio` — check an array is audio rlmdj can use; return it as ``(frames, channels)``.
- :func:`valid_sr` — check a sample rate is a positive whole number of Hz (optionally in a range).
- :data:`MAX_CHANNELS` — the most channels an audio array may have.

The same rules hold wherever audio comes in (renderer, loops, WAV writer, scorers, signal
metrics), in the spirit of librosa's ``util.valid_audio``, and every refusal is a
:class:`~rlmdj.errors.ParameterError` that names what was wrong and what is accepted:

- floating point with full scale 1.0; integer PCM is refused with the scaling hint, because
  cast to float it would be read at 32768x full scale;
- shaped ``(frames,)`` or ``(frames, channels)`` with 1 to :data:`MAX_CHANNELS` channels (an
  array with more channels than frames reads as ``(channels, frames)`` and says so);
- at least one frame, unless the caller allows empty audio, or at least ``min_frames`` where a
  consumer needs more (a scorer needs enough audio to fill one analysis frame);
- finite samples only: one NaN would silence a whole master at peak normalisation.

Imports nothing from rlmdj but the error type, so any layer may use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlmdj.errors import ParameterError

__all__ = ["MAX_CHANNELS", "valid_audio", "valid_sr"]

MAX_CHANNELS = 64


def valid_audio(
    audio: Any,
    *,
    what: str = "audio",
    allow_empty: bool = False,
    min_frames: int = 1,
    sr: int | None = None,
    dtype: Any = None,
) -> np.ndarray:
    """``audio`` as a float ``(frames, channels)`` array, or :class:`ParameterError`.

    ``what`` names the array in messages (e.g. ``"sample 'kick-00'"``). ``min_frames`` is the
    shortest non-empty audio accepted (``allow_empty`` still lets 0 frames through); ``sr``, when
    given, lets that refusal state durations in seconds. ``dtype`` converts the result (no copy
    when it already has that type); ``None`` keeps the input's float type. A 1-D input comes back
    as a ``(frames, 1)`` view. The finiteness check runs in blocks, so it allocates no mask the
    size of the audio.
    """
    x = np.asarray(audio)
    if x.dtype.kind in "iu":
        raise ParameterError(
            f"{what} is integer PCM ({x.dtype}); pass floats in [-1, 1], "
            "e.g. pcm / 32768 for int16"
        )
    if x.dtype.kind != "f":
        raise ParameterError(f"{what} must be a float array in -1..1, got dtype {x.dtype}")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ParameterError(f"{what} must be shaped (frames,) or (frames, channels), got {x.shape}")
    frames, channels = x.shape
    if channels > MAX_CHANNELS and frames < channels:
        raise ParameterError(
            f"{what} shaped {x.shape} looks like (channels, frames); pass (frames, channels)"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise ParameterError(f"{what} has {channels} channels; 1 to {MAX_CHANNELS} are accepted")
    if frames == 0 and not allow_empty:
        raise ParameterError(f"{what} is empty (0 frames)")
    if 0 < frames < min_frames:
        have, need = f"{frames} frame{'s' * (frames != 1)}", f"{min_frames} frames"
        if sr:
            have, need = f"{have} ({frames / sr:.4g} s at {sr} Hz)", f"{min_frames / sr:g} s ({need})"
        raise ParameterError(f"{what} is too short: {have}; at least {need} are needed")
    if dtype is not None:
        with np.errstate(over="ignore"):  # an overflow becomes inf, refused just below
            x = x.astype(dtype, copy=False)
    if not _all_finite(x):
        raise ParameterError(f"{what} contains NaN or infinite samples; pass finite float audio")
    return x


_FINITE_BLOCK = 1 << 18
"""Frames per block of the finiteness check: its mask stays at most this many frames long."""


def _all_finite(x: np.ndarray) -> bool:
    return all(np.isfinite(x[i : i + _FINITE_BLOCK]).all() for i in range(0, len(x), _FINITE_BLOCK))


def valid_sr(sr: Any, *, min_sr: int = 1, max_sr: int | None = None) -> int:
    """``sr`` as an ``int`` number of Hz, or :class:`ParameterError`.

    Accepts Python and numpy integers (not ``bool``, not floats: a rate is a whole number of
    samples per second); ``min_sr``/``max_sr`` bound it where a consumer needs a range.
    """
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
        raise ParameterError(
            f"sample rate must be a positive integer in Hz (e.g. 44100), got {sr!r}"
        )
    sr = int(sr)
    if sr < min_sr or (max_sr is not None and sr > max_sr):
        bounds = f"[{min_sr}, {max_sr}]" if max_sr is not None else f">= {min_sr}"
        raise ParameterError(f"sample rate {sr} Hz is outside {bounds} Hz")
    return sr
