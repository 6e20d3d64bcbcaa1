"""The scoring API as plain functions, shared by rlmdj's server, the Modal app and the client.

* :class:`UploadLimits`, :func:`decode_audio`, :class:`RequestError` -- what an upload may be and
  how it decodes (:mod:`rlmdj.scoring.serving.uploads`, re-exported here).
* :class:`ScoringService` -- health, bearer-token check and ``score_upload`` around any Scorer.
  A request's sets are checked on their headers -- per set and for the whole request, in decoded
  samples -- before any is decoded; no decoded audio outlives its request, and a request that
  decoded much is followed by a garbage collection, so the server's memory returns to idle.
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

A limit refusal (413) adds ``"limit": {"key": "experiment.serve.<key>", "value": .., "max": .., "unit": ..}``.
"""

from __future__ import annotations

import gc
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from rlmdj.errors import ParameterError
from rlmdj.scoring.base import AXES, DEFAULT_WEIGHTS, Scorer, ScoreResult, WindowScore
from rlmdj.scoring.serving.uploads import (
    AudioHeader,
    RequestError,
    UploadLimits,
    check_request_samples,
    decode_audio,
    over_limit,
    read_header,
)

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
GC_AFTER_SAMPLES = 8_000_000
"""A request that decoded this many samples (32 MB as float32) or more is followed by ``gc.collect()``:
whatever a scorer left in reference cycles goes at once, not whenever the collector next runs."""


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

    def __init__(self, scorer: Scorer, *, limits: UploadLimits | None = None, token: str | None = None) -> None:
        self.scorer = scorer
        self.limits = limits or UploadLimits()
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
        """Check, decode and score one uploaded file; RequestError for bad uploads."""
        header = read_header(data, self.limits)
        check_request_samples([header], self.limits)
        outcome = self._score_one(data, header)
        _collect_after(header.samples)
        if isinstance(outcome, RequestError):
            raise outcome
        return outcome

    def _score_one(self, data: bytes, header: AudioHeader) -> dict[str, Any] | RequestError:
        """The ``/score`` body, or the refusal: returned, not raised, so that once this frame is
        gone nothing (no traceback) holds the decoded audio."""
        try:
            audio, sr = decode_audio(data, self.limits, header=header)
            result = self.scorer.score(audio, sr=sr)
        except ParameterError as exc:
            return RequestError(str(exc), status=getattr(exc, "status", 400), limit=getattr(exc, "limit", None))
        return result_to_body(result, model=model_identity(self.scorer), duration_s=audio.shape[0] / sr, sr=sr)

    def score_batch_uploads(self, uploads: Sequence[tuple[str, bytes]]) -> dict[str, Any]:
        """Score named uploads together; each result carries its own ``status`` (and ``error``).

        Every set's header is read first: a set beyond the per-set limits fails alone, and sets
        that together decode to more than ``max_request_decoded_samples`` refuse the whole
        request (413) before any is decoded. Sets that decode are scored in one pooled pass over
        their windows; should it fail, each set is scored alone, so a set that breaks the scorer
        fails by itself.
        """
        if not uploads:
            raise RequestError("empty batch: send one or more WAV files in the multipart field 'audio'")
        if len(uploads) > self.limits.max_batch_sets:
            raise over_limit("batch holds", key="max_batch_sets", value=len(uploads),
                             maximum=self.limits.max_batch_sets, unit="sets")
        results: list[dict[str, Any]] = [{"name": name} for name, _ in uploads]
        headers: dict[int, AudioHeader] = {}
        for i, (_, data) in enumerate(uploads):
            try:
                headers[i] = read_header(data, self.limits)
            except RequestError as exc:
                results[i].update(status=exc.status, **exc.body())
        check_request_samples(list(headers.values()), self.limits)
        self._score_sets(uploads, headers, results)
        _collect_after(sum(h.samples for h in headers.values()))
        model = model_identity(self.scorer)
        return {"api": API_VERSION, "scorer": self.scorer.name, "model": model, "results": results}

    def _score_sets(
        self, uploads: Sequence[tuple[str, bytes]], headers: Mapping[int, AudioHeader], results: list[dict[str, Any]]
    ) -> None:
        """Decode and score the sets whose headers passed, filling in their ``results``.

        Failures are kept as messages, never as exceptions: an exception's traceback holds the
        frames that hold decoded audio, and one kept in a list here made a reference cycle that
        kept a whole batch's audio alive after the request.
        """
        good: list[tuple[int, np.ndarray, int]] = []
        for i, header in headers.items():
            try:
                audio, sr = decode_audio(uploads[i][1], self.limits, header=header)
            except RequestError as exc:
                results[i].update(status=exc.status, **exc.body())
                continue
            good.append((i, audio, sr))
        pooled_failed = False
        try:
            scored: list[ScoreResult | dict[str, Any]] = list(score_many(self.scorer, [(a, sr) for _, a, sr in good]))
        except Exception:  # noqa: BLE001 - find the set that failed by scoring each alone
            pooled_failed = True
        if pooled_failed:  # outside the except block, so the failed pass's frames are gone first
            scored = [self._score_alone(audio, sr) for _, audio, sr in good]
        model = model_identity(self.scorer)
        for (i, audio, sr), result in zip(good, scored, strict=True):
            if isinstance(result, ScoreResult):
                results[i].update(status=200, **result_to_body(result, model=model, duration_s=audio.shape[0] / sr, sr=sr))
            else:
                results[i].update(result)

    def _score_alone(self, audio: np.ndarray, sr: int) -> ScoreResult | dict[str, Any]:
        """One set's result, or its ``status`` and ``error``."""
        try:
            return self.scorer.score(audio, sr=sr)
        except ParameterError as exc:
            return {"status": 400, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - reported as that set's own error
            return {"status": 500, "error": f"internal error: {type(exc).__name__}: {exc}"}


def _collect_after(samples: int) -> None:
    """Collect reference cycles after a request that decoded ``GC_AFTER_SAMPLES`` or more."""
    if samples >= GC_AFTER_SAMPLES:
        gc.collect()
