"""Audio preparation for audiobox-aesthetics: mono mix and band-limited resampling to 16 kHz.

Upstream (``audiobox_aesthetics.infer``) loads audio with torchaudio, mixes it to mono and
resamples it with ``torchaudio.functional.resample`` (Hann-windowed sinc interpolation,
``lowpass_filter_width=6``, ``rolloff=0.99``). torchaudio is not installable everywhere rlmdj runs,
so this module implements the same algorithm in numpy:

* :func:`resample` -- Hann-windowed sinc resampling between integer rates (same kernel, padding
  and output length as torchaudio's default method).
* :func:`to_model_input` -- float32 ``(frames,)`` or ``(frames, channels)`` audio at any rate ->
  float32 mono at 16 kHz, in upstream's order (mono mix first, then resample).

Being numpy-only, the HTTP client can prepare audio exactly as the in-process scorer does and
upload 16 kHz mono, so every backend sees the same samples.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from rlmdj.audio.valid import valid_audio, valid_sr
from rlmdj.errors import ParameterError
from rlmdj.scoring.base import min_score_frames

__all__ = ["MODEL_SR", "MIN_SR", "MAX_SR", "resample", "to_model_input"]

MODEL_SR = 16_000
"""Sample rate audiobox-aesthetics was trained on."""

MIN_SR = 1_000
MAX_SR = 768_000
"""Sample rates outside ``[MIN_SR, MAX_SR]`` Hz are rejected as absurd."""

_FRAMES_PER_CHUNK = 8192  # bounds the temporary (frames x kernel) matrix for long audio


@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, lowpass_filter_width: int, rolloff: float) -> tuple[np.ndarray, int]:
    """Polyphase kernel ``(new, 2*width + orig)`` for reduced rates ``orig -> new``, and ``width``.

    Row ``j`` holds the windowed-sinc taps that produce output phase ``j`` of every block of
    ``new`` outputs from a block of ``orig`` inputs (plus ``width`` samples either side).
    """
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    taps = np.arange(-width, width + orig, dtype=np.float64) / orig
    phases = -np.arange(new, dtype=np.float64)[:, None] / new
    t = (phases + taps[None, :]) * base_freq
    t = np.clip(t, -lowpass_filter_width, lowpass_filter_width)
    window = np.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(t == 0, 1.0, np.sin(t) / np.where(t == 0, 1.0, t))
    kernel = sinc * window * (base_freq / orig)
    kernel = kernel.astype(np.float32)
    kernel.setflags(write=False)
    return kernel, width


def resample(
    audio: np.ndarray,
    *,
    orig_sr: int,
    new_sr: int,
    lowpass_filter_width: int = 6,
    rolloff: float = 0.99,
) -> np.ndarray:
    """Resample float32 ``audio`` along its last axis from ``orig_sr`` to ``new_sr`` Hz.

    Output length is ``ceil(new_sr * n / orig_sr)`` samples, as torchaudio's. Equal rates return
    the input unchanged (no copy), again as torchaudio does.
    """
    orig_sr, new_sr = int(orig_sr), int(new_sr)
    if orig_sr <= 0 or new_sr <= 0:
        raise ParameterError(f"sample rates must be positive, got {orig_sr} -> {new_sr}")
    x = np.asarray(audio, dtype=np.float32)
    if orig_sr == new_sr:
        return x
    g = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // g, new_sr // g
    kernel, width = _sinc_kernel(orig, new, int(lowpass_filter_width), float(rolloff))
    lead_shape, n = x.shape[:-1], x.shape[-1]
    rows = x.reshape(-1, n)
    target = math.ceil(new * n / orig)
    taps = kernel.shape[1]
    n_frames = n // orig + 1  # conv1d output length with stride `orig` over the padded signal
    out = np.empty((rows.shape[0], n_frames * new), dtype=np.float32)
    for r, row in enumerate(rows):
        padded = np.pad(row, (width, width + orig))
        frames = np.lib.stride_tricks.sliding_window_view(padded, taps)[::orig][:n_frames]
        for f0 in range(0, n_frames, _FRAMES_PER_CHUNK):
            block = np.ascontiguousarray(frames[f0 : f0 + _FRAMES_PER_CHUNK])
            out[r, f0 * new : (f0 + len(block)) * new] = (block @ kernel.T).reshape(-1)
    return out[:, :target].reshape(*lead_shape, target)


def to_model_input(audio: np.ndarray, *, sr: int) -> np.ndarray:
    """Float32 mono at :data:`MODEL_SR`, mixed then resampled as upstream's file loader does.

    Refuses (with :class:`ParameterError`) what the model cannot score meaningfully: whatever
    :func:`~rlmdj.audio.valid.valid_audio` refuses (integer PCM, empty or non-finite audio, more
    than 64 channels), audio shorter than :data:`~rlmdj.scoring.base.MIN_SCORE_S`, and sample
    rates outside ``[MIN_SR, MAX_SR]``.
    """
    sr = valid_sr(sr, min_sr=MIN_SR, max_sr=MAX_SR)
    x = valid_audio(audio, dtype=np.float32, min_frames=min_score_frames(sr), sr=sr)
    mono = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(resample(mono, orig_sr=int(sr), new_sr=MODEL_SR))
