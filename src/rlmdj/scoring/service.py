"""The scoring API as plain functions, shared by rlmdj's server, the Modal app and the client.

* :class:`UploadLimits` -- what an upload may be (bytes, duration, channels).
* :func:`decode_audio` -- upload bytes -> float32 ``(frames, channels)`` and sample rate, or a
  :class:`RequestError` carrying the HTTP status and a message that says what was wrong.
* :class:`ScoringService` -- health, bearer-token check and ``score_upload`` around any Scorer.
* :func:`result_to_body` / :func:`body_to_result` -- the JSON response schema, both ways.
* :meth:`ScoringService.score_batch_uploads` -- ``POST /score_batch``: many sets in one request,
  their windows pooled through the model; a bad set fails alone with its own status and error.

Keeping this free of web frameworks lets the tests call exactly what the endpoints call.
Response body of ``POST /score``::

    {"scorer": "audiobox", "model": "<model identity>", "scores": {"CE": .., "CU": .., "PC": .., "PQ": ..},
     "obj": .., "windows": [{"start_s": 0.0, "duration_s": 10.0, "weight": 1.0, "scores": {..}}, ...],
     "duration_s": .., "sample_rate": ..}

Response body of ``POST /score_batch`` (always 200 once admitted; each set has its own status)::

    {"api": "1", "scorer": .., "model": .., "results": [
        {"name": "set0.wav", "status": 200, <the /score body>},
        {"name": "set1.wav", "status": 415, "error": "not a readable audio file (...)"}, ...]}
"""

from __future__ import annotations

import hmac
import io
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rlmdj.audio.valid import valid_audio
from rlmdj.errors import ParameterError
from rlmdj.scoring.base import AXES, DEFAULT_WEIGHTS, Scorer, ScoreResult, WindowScore
from rlmdj.scoring.resample import MAX_SR, MIN_SR

__all__ = [
    "API_VERSION",
    "UploadLimits",
    "RequestError",
    "ScoringService",
    "decode_audio",
    "model_identity",
    "result_to_body",
    "body_to_result",
    "score_many",
]

API_VERSION = "1"


class RequestError(ParameterError):
    """A request the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on one upload; larger or longer uploads get 413 before any decoding or scoring."""

    max_bytes: int = 200 * 1024 * 1024
    max_duration_s: float = 1800.0
    max_channels: int = 16
    max_batch_sets: int = 64
    """Sets one ``POST /score_batch`` may carry (413 beyond); ``max_bytes`` caps the whole batch."""

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_duration_s, self.max_channels, self.max_batch_sets) <= 0:
            raise ParameterError(f"upload limits must be positive, got {self}")


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


def decode_audio(data: bytes, limits: UploadLimits = UploadLimits()) -> tuple[np.ndarray, int]:
    """Decode an uploaded audio file (WAV, FLAC, OGG...) into float32 ``(frames, channels)``."""
    import soundfile as sf

    if not data:
        raise RequestError("empty upload: send a WAV file in the multipart field 'audio'")
    if len(data) > limits.max_bytes:
        raise RequestError(f"upload is {len(data)} bytes; the limit is {limits.max_bytes}", status=413)
    _check_riff_length(data)
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            sr, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
            if not MIN_SR <= sr <= MAX_SR:
                raise RequestError(f"sample rate {sr} Hz is outside [{MIN_SR}, {MAX_SR}] Hz")
            if channels > limits.max_channels:
                raise RequestError(f"{channels} channels; at most {limits.max_channels} are accepted")
            if frames <= 0:
                raise RequestError("the audio file holds no samples")
            if frames / sr > limits.max_duration_s:
                raise RequestError(
                    f"audio is {frames / sr:.1f} s long; the limit is {limits.max_duration_s:.0f} s",
                    status=413,
                )
            audio = f.read(dtype="float32", always_2d=True)
    except RequestError:
        raise
    except Exception as exc:  # libsndfile's errors: not audio, corrupt header...
        reason = re.sub(r"^Error opening <[^>]*>: ", "", str(exc).splitlines()[0] if str(exc) else "")
        raise RequestError(
            f"not a readable audio file ({reason or type(exc).__name__}); send a WAV file", status=415
        ) from exc
    if audio.shape[0] == 0:
        raise RequestError("the audio file holds no samples")
    try:
        return valid_audio(audio, dtype=np.float32), sr
    except ParameterError as exc:
        raise RequestError(str(exc)) from exc


def model_identity(scorer: Scorer) -> str:
    """What a server reports as ``model``: the model identity if the scorer has one."""
    return str(getattr(scorer, "model_identity", None) or scorer.identity)


def result_to_body(result: ScoreResult, *, model: str, duration_s: float, sr: int) -> dict[str, Any]:
    """The JSON body answering ``POST /score``."""
    return {
        "api": API_VERSION,
        "scorer": result.scorer,
        "model": model,
        "scores": {k: float(v) for k, v in result.scores.items()},
        "obj": result.obj,
        "windows": [
            {"start_s": w.start_s, "duration_s": w.duration_s, "weight": w.weight, "scores": dict(w.scores)}
            for w in result.windows
        ],
        "duration_s": duration_s,
        "sample_rate": sr,
    }


def body_to_result(
    body: Any, *, identity: str, weights: Mapping[str, float] = DEFAULT_WEIGHTS
) -> ScoreResult:
    """Parse a ``POST /score`` body back into a ScoreResult; ValueError if it is malformed."""
    if not isinstance(body, Mapping):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    try:
        scores = {a: float(body["scores"][a]) for a in AXES}
        windows = [
            WindowScore(
                start_s=float(w["start_s"]),
                duration_s=float(w["duration_s"]),
                weight=float(w["weight"]),
                scores={a: float(w["scores"][a]) for a in AXES},
            )
            for w in body.get("windows", [])
        ]
        scorer = str(body["scorer"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed score response ({type(exc).__name__}: {exc})") from exc
    if not all(np.isfinite(list(scores.values()))):
        raise ValueError(f"non-finite scores in response: {scores}")
    return ScoreResult(scorer=scorer, identity=identity, scores=scores, windows=windows, weights=dict(weights))


def score_many(scorer: Scorer, items: Sequence[tuple[np.ndarray, int]]) -> list[ScoreResult]:
    """Score several sets with the scorer's batch path when it has one, else one by one."""
    batch = getattr(scorer, "score_batch", None)
    if callable(batch) and items:
        return list(batch(items))
    return [scorer.score(audio, sr=sr) for audio, sr in items]


class ScoringService:
    """Request handling around one scorer: what every endpoint (FastAPI, Modal) delegates to."""

    def __init__(self, scorer: Scorer, *, limits: UploadLimits = UploadLimits(), token: str | None = None) -> None:
        self.scorer = scorer
        self.limits = limits
        self._token = token or None

    @property
    def requires_token(self) -> bool:
        return self._token is not None

    def authorize(self, authorization: str | None) -> None:
        """Check an ``Authorization: Bearer <token>`` header (constant-time); 401 if wrong."""
        if self._token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token.encode()):
            raise RequestError("missing or wrong bearer token (send 'Authorization: Bearer <token>')", status=401)

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "api": API_VERSION,
            "scorer": self.scorer.name,
            "model": model_identity(self.scorer),
            "auth": "bearer" if self.requires_token else "none",
            "limits": asdict(self.limits),
        }

    def score_upload(self, data: bytes) -> dict[str, Any]:
        """Decode, validate and score one uploaded file; RequestError for bad uploads."""
        audio, sr = decode_audio(data, self.limits)
        try:
            result = self.scorer.score(audio, sr=sr)
        except ParameterError as exc:
            raise RequestError(str(exc)) from exc
        return result_to_body(result, model=model_identity(self.scorer), duration_s=audio.shape[0] / sr, sr=sr)

    def score_batch_uploads(self, uploads: Sequence[tuple[str, bytes]]) -> dict[str, Any]:
        """Score named uploads together; each result carries its own ``status`` (and ``error``).

        Sets that decode are scored in one pooled pass over their windows. Should the pooled
        pass fail, each set is scored alone, so a set that breaks the scorer fails by itself.
        """
        if not uploads:
            raise RequestError("empty batch: send one or more WAV files in the multipart field 'audio'")
        if len(uploads) > self.limits.max_batch_sets:
            raise RequestError(
                f"batch holds {len(uploads)} sets; the limit is {self.limits.max_batch_sets}", status=413
            )
        results: list[dict[str, Any]] = [{"name": name} for name, _ in uploads]
        good: list[tuple[int, np.ndarray, int]] = []
        for i, (_, data) in enumerate(uploads):
            try:
                audio, sr = decode_audio(data, self.limits)
            except RequestError as exc:
                results[i].update(status=exc.status, error=str(exc))
                continue
            good.append((i, audio, sr))
        model = model_identity(self.scorer)
        try:
            scored: list[Any] = score_many(self.scorer, [(a, sr) for _, a, sr in good])
        except Exception:  # noqa: BLE001 - find the set that failed by scoring each alone
            scored = []
            for _, audio, sr in good:
                try:
                    scored.append(self.scorer.score(audio, sr=sr))
                except Exception as exc:  # noqa: BLE001 - reported as that set's own error
                    scored.append(exc)
        for (i, audio, sr), result in zip(good, scored, strict=True):
            if isinstance(result, ParameterError):
                results[i].update(status=400, error=str(result))
            elif isinstance(result, Exception):
                results[i].update(status=500, error=f"internal error: {type(result).__name__}: {result}")
            else:
                body = result_to_body(result, model=model, duration_s=audio.shape[0] / sr, sr=sr)
                results[i].update(status=200, **body)
        return {"api": API_VERSION, "scorer": self.scorer.name, "model": model, "results": results}
