"""What an uploaded set may be, checked on its header before a single sample is decoded.

* :class:`UploadLimits` -- bytes, duration, channels, sets per batch, and decoded samples per set
  and per request (the server's memory follows the *decoded* audio: a 333 KB silent FLAC holds
  30 minutes of 48 kHz stereo, 691 MB as float32).
* :func:`read_header` -- an upload's sample rate, channels and frames from its header, or a
  :class:`RequestError` (4xx) when the set is unreadable, too short or beyond a limit.
* :func:`check_request_samples` -- the decoded samples of all of a request's sets together.
* :func:`decode_audio` -- upload bytes -> float32 ``(frames, channels)``, never more frames than
  the header declared.

A limit refusal is 413 and names the ``experiment.serve`` key, the upload's value and the limit,
both in the message and as ``RequestError.limit``.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from rlmdj.audio.valid import valid_audio
from rlmdj.config.scorer import ServeConfig
from rlmdj.errors import ParameterError
from rlmdj.scoring.base import MIN_SCORE_S, min_score_frames
from rlmdj.scoring.resample import MAX_SR, MIN_SR

__all__ = [
    "SETTINGS",
    "AudioHeader",
    "RequestError",
    "UploadLimits",
    "check_request_samples",
    "decode_audio",
    "over_limit",
    "read_header",
]

SETTINGS = "experiment.serve"
"""Where the server's limits are set; refusals name ``<SETTINGS>.<key>``."""


class RequestError(ParameterError):
    """A request the server refuses; ``status`` is the HTTP status to answer with.

    ``limit`` (``{"key", "value", "max", "unit"}``) says which setting refused it and by how much.
    """

    def __init__(self, message: str, *, status: int = 400, limit: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.limit = dict(limit) if limit else None

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``{"error": ...}``, plus ``"limit"`` for a limit refusal."""
        return {"error": str(self), **({"limit": self.limit} if self.limit else {})}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def over_limit(what: str, *, key: str, value: float, maximum: float, unit: str, detail: str = "") -> RequestError:
    """413 for ``value`` beyond ``maximum`` of setting ``key``, named in the message and the body.

    ``what`` leads the message up to the value (``"upload is"``); ``detail`` follows the unit.
    """
    return RequestError(
        f"{what} {_num(value)} {unit}{detail}; the limit is {_num(maximum)} {unit} ({SETTINGS}.{key})",
        status=413,
        limit={"key": f"{SETTINGS}.{key}", "value": value, "max": maximum, "unit": unit},
    )


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on uploads; what exceeds them gets 413 before any decoding or scoring.

    Defaults are :class:`rlmdj.config.scorer.ServeConfig`'s (the Modal app, which has no Hydra
    config, uses them as they are).
    """

    max_bytes: int = int(ServeConfig.max_upload_mb * 1024 * 1024)
    max_duration_s: float = ServeConfig.max_duration_s
    max_channels: int = ServeConfig.max_channels
    max_batch_sets: int = ServeConfig.max_batch_sets
    """Sets one ``POST /score_batch`` may carry (413 beyond); ``max_bytes`` caps the whole batch."""
    max_decoded_samples: int = ServeConfig.max_decoded_samples
    """Frames x channels one set may decode to: 10 minutes of 48 kHz stereo, 230 MB as float32."""
    max_request_decoded_samples: int = ServeConfig.max_request_decoded_samples
    """Decoded samples of all sets of one request together: four such sets, or eight 30-minute
    sets of 16 kHz mono (what ``scorer=http`` uploads, ``scorer.max_batch_sets`` per request)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value > 0:
                raise ParameterError(f"{SETTINGS}.{_KEYS[f.name]} must be positive, got {value}")

    @classmethod
    def from_serve(cls, serve: Any) -> UploadLimits:
        """The limits an ``experiment.serve`` node sets."""
        return cls(
            max_bytes=int(float(serve.max_upload_mb) * 1024 * 1024),
            max_duration_s=float(serve.max_duration_s),
            max_channels=int(serve.max_channels),
            max_batch_sets=int(serve.max_batch_sets),
            max_decoded_samples=int(serve.max_decoded_samples),
            max_request_decoded_samples=int(serve.max_request_decoded_samples),
        )


_KEYS = {f.name: f.name for f in fields(UploadLimits)} | {"max_bytes": "max_upload_mb"}
"""``UploadLimits`` field -> its ``experiment.serve`` key."""


@dataclass(frozen=True)
class AudioHeader:
    """What an upload's header declares: enough to know its decoded size before decoding it."""

    sr: int
    channels: int
    frames: int

    @property
    def samples(self) -> int:
        """Frames x channels: the float32 values decoding allocates."""
        return self.frames * self.channels


def _check_riff_length(data: bytes) -> None:
    """Reject WAV files whose ``data`` chunk is shorter than its header says (cut-off uploads).

    libsndfile quietly reads what is there, which would score a truncated set as if whole.
    """
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        return
    fmt = "<I" if data[:4] == b"RIFF" else ">I"
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack(fmt, data[pos + 4 : pos + 8])[0]
        if chunk_id == b"data":
            have = len(data) - pos - 8
            if size not in (0, 0xFFFFFFFF) and have < size:
                raise RequestError(
                    f"truncated WAV: header declares {size} bytes of audio, upload holds {have}"
                )
            return
        pos += 8 + size + (size & 1)
    raise RequestError("truncated WAV: no data chunk found")


def _unreadable(exc: Exception) -> RequestError:
    """415 for what libsndfile refuses (not audio, corrupt header...), in one line."""
    reason = re.sub(r"^Error opening <[^>]*>: ", "", str(exc).splitlines()[0] if str(exc) else "")
    return RequestError(f"not a readable audio file ({reason or type(exc).__name__}); send a WAV file", status=415)


def read_header(data: bytes, limits: UploadLimits = UploadLimits()) -> AudioHeader:
    """The upload's header, checked against ``limits``; decodes nothing."""
    import soundfile as sf

    if not data:
        raise RequestError("empty upload: send a WAV file in the multipart field 'audio'")
    if len(data) > limits.max_bytes:
        raise over_limit("upload is", key="max_upload_mb", value=len(data), maximum=limits.max_bytes, unit="bytes")
    _check_riff_length(data)
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            header = AudioHeader(sr=int(f.samplerate), channels=int(f.channels), frames=int(f.frames))
    except Exception as exc:  # noqa: BLE001 - every libsndfile refusal is the same 415
        raise _unreadable(exc) from exc
    sr, channels, frames = header.sr, header.channels, header.frames
    if not MIN_SR <= sr <= MAX_SR:
        raise RequestError(f"sample rate {sr} Hz is outside [{MIN_SR}, {MAX_SR}] Hz")
    if channels > limits.max_channels:
        raise RequestError(f"{channels} channels; at most {limits.max_channels} are accepted ({SETTINGS}.max_channels)")
    if frames <= 0:
        raise RequestError("the audio file holds no samples")
    if frames < min_score_frames(sr):
        raise RequestError(
            f"audio is too short to score: {frames} frame{'s' * (frames != 1)} ({frames / sr:.4g} s at {sr} Hz); "
            f"at least {MIN_SCORE_S:g} s are needed"
        )
    if frames / sr > limits.max_duration_s:
        raise over_limit("audio is", key="max_duration_s", value=round(frames / sr, 1),
                         maximum=limits.max_duration_s, unit="s")
    if header.samples > limits.max_decoded_samples:
        raise over_limit("audio decodes to", key="max_decoded_samples", value=header.samples,
                         maximum=limits.max_decoded_samples, unit="samples",
                         detail=f" ({frames} frames x {channels} channels)")
    return header


def check_request_samples(headers: Sequence[AudioHeader], limits: UploadLimits) -> None:
    """413 when the sets of one request decode to more than ``max_request_decoded_samples`` together."""
    total = sum(h.samples for h in headers)
    if total > limits.max_request_decoded_samples:
        what, detail = ("the request decodes to", "") if len(headers) == 1 else \
            (f"the request's {len(headers)} sets decode to", " together")
        raise over_limit(what, key="max_request_decoded_samples", value=total,
                         maximum=limits.max_request_decoded_samples, unit="samples", detail=detail)


def decode_audio(
    data: bytes, limits: UploadLimits = UploadLimits(), *, header: AudioHeader | None = None
) -> tuple[np.ndarray, int]:
    """Decode an uploaded audio file (WAV, FLAC, OGG...) into float32 ``(frames, channels)``.

    The header is checked first (:func:`read_header`, or the one given), and at most the frames
    it declares are read, straight into float32: decoding allocates ``header.samples`` values.
    """
    import soundfile as sf

    header = header or read_header(data, limits)
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            audio = f.read(frames=header.frames, dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - corrupt data past the header
        raise _unreadable(exc) from exc
    if audio.shape[0] == 0:
        raise RequestError("the audio file holds no samples")
    try:
        return valid_audio(audio, dtype=np.float32, min_frames=min_score_frames(header.sr), sr=header.sr), header.sr
    except ParameterError as exc:
        raise RequestError(str(exc)) from exc
