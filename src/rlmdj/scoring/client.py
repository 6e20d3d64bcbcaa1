"""HTTP scorer client: a Scorer backed by any server speaking rlmdj's scoring API.

That is rlmdj's own server (``rlmdj experiment=serve``) or the Modal app (aesthetics/app.py).
:class:`HttpScorer` prepares audio exactly as the in-process scorer does (mono, 16 kHz, float32)
and uploads that, so every backend scores the same samples and the upload is small. Timeouts are
always on; 5xx answers, timeouts and connection errors are retried with exponential backoff
(never sooner than a ``Retry-After`` header asks, up to 60 s); 4xx answers never are. Errors name the method, URL and status.

* :class:`HttpScorer` -- ``score``, ``score_wav`` (bytes as-is), ``score_many`` (bounded
  concurrency), ``health``; :attr:`HttpScorer.identity` comes from the server's ``/health``.
* :class:`ScorerRequestError` -- the server refused the request (4xx): fix the input.
* :class:`ScorerUnavailableError` -- no usable answer after all retries (5xx, timeout, network).
* :class:`ScorerResponseError` -- the server answered 2xx with something that is not a score.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np

from rlmdj.audio.wavio import wav_bytes
from rlmdj.errors import ParameterError, RlmdjError
from rlmdj.scoring.base import DEFAULT_WEIGHTS, ScoreResult
from rlmdj.scoring.resample import MODEL_SR, to_model_input
from rlmdj.scoring.service import body_to_result

__all__ = [
    "HttpScorer",
    "ScorerRequestError",
    "ScorerUnavailableError",
    "ScorerResponseError",
    "encode_wav",
]

_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 60.0  # a server asking for longer is not waited on beyond this


def _retry_after(response: httpx.Response) -> float:
    """Seconds the server asked to wait (``Retry-After: <seconds>``), capped; 0 if absent or a date."""
    try:
        return min(max(float(response.headers.get("retry-after", "")), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        return 0.0


class ScorerRequestError(ParameterError):
    """The server refused the request with a 4xx status; retrying the same request cannot help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class ScorerUnavailableError(RlmdjError):
    """The server gave no usable answer within the retries (5xx, timeouts, connection errors)."""


class ScorerResponseError(RlmdjError):
    """The server answered 2xx but the body is not a valid score (wrong API or wrong scorer)."""


def encode_wav(audio: np.ndarray, *, sr: int) -> bytes:
    """Float32 WAV bytes of ``audio`` (lossless for float32 samples), as rlmdj writes every WAV."""
    return wav_bytes(audio, sr=int(sr), subtype="FLOAT")


def _excerpt(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, Mapping) and "error" in body:
            return str(body["error"])
    except ValueError:
        pass
    text = response.text.strip().replace("\n", " ")
    return text[:300] + ("..." if len(text) > 300 else "")


class HttpScorer:
    """Score through a remote scoring API.

    ``backend`` (``http``, ``modal``) goes into :attr:`identity` with the server's model identity.
    ``token`` is sent as ``Authorization: Bearer``; ``headers`` adds others (e.g. Modal's
    ``Modal-Key``/``Modal-Secret`` proxy-auth pair). ``expect_scorer`` guards metric prefixes: a
    server scoring with something else is an error, so numbers are never mislabelled.
    ``transport`` swaps httpx's network layer (tests pass ``httpx.MockTransport``).
    """

    def __init__(
        self,
        url: str,
        *,
        backend: str = "http",
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_concurrency: int = 2,
        upload_model_rate: bool = True,
        expect_scorer: str = "audiobox",
        weights: Mapping[str, float] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url or not url.startswith(("http://", "https://")):
            raise ParameterError(f"scorer url must start with http:// or https://, got {url!r}")
        if timeout_s <= 0 or connect_timeout_s <= 0:
            raise ParameterError(f"timeouts must be positive, got {timeout_s}, {connect_timeout_s}")
        if retries < 0 or max_concurrency < 1 or backoff_s < 0:
            raise ParameterError(
                f"need retries >= 0, max_concurrency >= 1, backoff_s >= 0; got {retries}, {max_concurrency}, {backoff_s}"
            )
        self.url = url.rstrip("/")
        self.backend = backend
        self.name = expect_scorer
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.max_concurrency = int(max_concurrency)
        self.upload_model_rate = upload_model_rate
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        self._sleep = sleep
        all_headers = {"User-Agent": "rlmdj-scorer-client/1", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            headers=all_headers,
            transport=transport,
            limits=httpx.Limits(max_connections=max(self.max_concurrency, 1) + 1),
        )
        self._model: str | None = None
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One logical request with retries; returns the 2xx response or raises a scorer error."""
        url = f"{self.url}{path}"
        last = ""
        wait_at_least = 0.0
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1)
                self._sleep(max(delay * (0.75 + 0.5 * random.random()), wait_at_least))
                wait_at_least = 0.0
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                last = f"timed out ({type(exc).__name__})"
                continue
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__}: {exc})"
                continue
            if response.status_code in _RETRY_STATUSES:
                last = f"HTTP {response.status_code}: {_excerpt(response)}"
                wait_at_least = _retry_after(response)
                continue
            if 400 <= response.status_code < 600:
                raise ScorerRequestError(
                    f"{method} {url} -> HTTP {response.status_code}: {_excerpt(response)}",
                    status=response.status_code,
                )
            return response
        raise ScorerUnavailableError(f"{method} {url} failed after {self.retries + 1} attempts; last: {last}")

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise ScorerResponseError(
                f"{response.request.method} {response.request.url} -> HTTP {response.status_code} "
                f"but not JSON: {_excerpt(response)!r}"
            ) from exc

    # -- API ------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The server's ``/health`` body (scorer name, model identity, limits)."""
        response = self._request("GET", "/health")
        body = self._json(response)
        if not isinstance(body, Mapping) or "model" not in body or "scorer" not in body:
            raise ScorerResponseError(f"GET {self.url}/health -> not a scorer health body: {body!r:.300}")
        return dict(body)

    @property
    def model_identity(self) -> str:
        """The server's model identity (fetched once from ``/health``)."""
        with self._lock:
            if self._model is None:
                body = self.health()
                if body["scorer"] != self.name:
                    raise ScorerResponseError(
                        f"{self.url} scores with {body['scorer']!r}, expected {self.name!r}"
                    )
                self._model = str(body["model"])
            return self._model

    @property
    def identity(self) -> str:
        return f"{self.name}/{self.backend}/{self.model_identity}"

    def score_wav(self, data: bytes, *, filename: str = "audio.wav") -> ScoreResult:
        """Score an encoded audio file as-is (the server decodes and resamples it)."""
        response = self._request("POST", "/score", files={"audio": (filename, data, "audio/wav")})
        body = self._json(response)
        try:
            result = body_to_result(body, identity=f"{self.name}/{self.backend}/{body.get('model')}", weights=self.weights)
        except (ValueError, AttributeError) as exc:
            raise ScorerResponseError(f"POST {self.url}/score -> {exc}") from exc
        if result.scorer != self.name:
            raise ScorerResponseError(f"{self.url} scored with {result.scorer!r}, expected {self.name!r}")
        if self._model is not None and body.get("model") != self._model:
            raise ScorerResponseError(
                f"{self.url} changed model from {self._model!r} to {body.get('model')!r} mid-run"
            )
        return result

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        """Score float audio ``(frames,)``/``(frames, channels)`` at ``sr`` Hz on the server."""
        if self.upload_model_rate:
            return self.score_wav(encode_wav(to_model_input(audio, sr=sr), sr=MODEL_SR))
        return self.score_wav(encode_wav(audio, sr=sr))

    def score_many(self, items: Sequence[tuple[np.ndarray, int]]) -> list[ScoreResult]:
        """Score ``(audio, sr)`` pairs with at most ``max_concurrency`` requests in flight; order kept."""
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items))) as pool:
            return list(pool.map(lambda item: self.score(item[0], sr=item[1]), items))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
