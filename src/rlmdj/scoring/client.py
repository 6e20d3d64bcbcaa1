"""HTTP scorer client: a Scorer backed by any server speaking rlmdj's scoring API.

That is rlmdj's own server (``rlmdj experiment=serve``) or the Modal app (aesthetics/app.py).
:class:`HttpScorer` prepares audio exactly as the in-process scorer does (mono, 16 kHz, float32)
and uploads that, so every backend scores the same samples and the upload is small.

Time is bounded twice: ``timeout_s`` is a deadline for a whole request (connect, upload, the
server's work and the full answer; a server trickling bytes cannot stretch it), and
``max_wait_s`` bounds all attempts of one call together, back-off included. 5xx, 408, 429,
timeouts and connection errors are retried with exponential backoff (never sooner than a
``Retry-After`` header asks, up to 60 s), each retry logged as one warning line ("scorer ... not
answering (...), retry 2/3 in 4 s"); other 4xx answers never are. Errors name the method, URL
and status.

* :class:`HttpScorer` -- ``score``, ``score_wav`` (bytes as-is), ``score_many`` (bounded
  concurrency), ``score_batch_outcomes`` (``POST /score_batch``, ``max_batch_sets`` per request,
  one outcome per set), ``health``; :attr:`HttpScorer.identity` comes from ``/health``.
* :class:`ScorerRequestError` -- the server refused the request (4xx): fix the input.
* :class:`ScorerUnavailableError` -- no usable answer after all retries (5xx, timeout, network).
* :class:`ScorerResponseError` -- the server answered 2xx with something that is not a score.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np

from rlmdj.audio.wavio import wav_bytes
from rlmdj.config.scorer import ScorerConfig
from rlmdj.errors import ParameterError, RlmdjError
from rlmdj.scoring.base import DEFAULT_WEIGHTS, ScoreResult
from rlmdj.scoring.resample import MODEL_SR, to_model_input
from rlmdj.scoring.serving.service import body_to_result

__all__ = [
    "HttpScorer",
    "ScorerRequestError",
    "ScorerUnavailableError",
    "ScorerResponseError",
    "encode_wav",
]

log = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
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


class _DeadlineExceeded(Exception):
    """One attempt ran past its deadline (raised in place of the error the closed socket caused)."""


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
    ``transport`` swaps httpx's network layer (tests pass ``httpx.MockTransport``). Unset
    limits are :class:`~rlmdj.config.scorer.ScorerConfig`'s (``scorer=http`` builds it from
    the config in :func:`rlmdj.scoring.factory.http_scorer`).
    """

    def __init__(
        self,
        url: str,
        *,
        backend: str = "http",
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = ScorerConfig.timeout_s,
        connect_timeout_s: float = ScorerConfig.connect_timeout_s,
        retries: int = ScorerConfig.retries,
        backoff_s: float = ScorerConfig.backoff_s,
        max_concurrency: int = ScorerConfig.max_concurrency,
        max_wait_s: float = ScorerConfig.max_wait_s,
        max_batch_sets: int = ScorerConfig.max_batch_sets,
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
        if not max_wait_s > 0 or max_batch_sets < 1:
            raise ParameterError(
                f"need scorer.max_wait_s > 0 and scorer.max_batch_sets >= 1; got {max_wait_s}, {max_batch_sets}"
            )
        self.url = url.rstrip("/")
        self.backend = backend
        self.name = expect_scorer
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.max_concurrency = int(max_concurrency)
        self.timeout_s = float(timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.max_wait_s = float(max_wait_s)
        self.max_batch_sets = int(max_batch_sets)
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
            # A fresh connection per request: its socket is what the deadline watchdog closes.
            limits=httpx.Limits(max_connections=max(self.max_concurrency, 1) + 1, max_keepalive_connections=0),
        )
        self._model: str | None = None
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------

    def _send(self, method: str, url: str, timeout_s: float, **kwargs: Any) -> httpx.Response:
        """One attempt that ends within ``timeout_s`` whatever the server does.

        httpx's timeouts apply per socket operation, so a server sending a byte every few
        seconds never trips them; a watchdog shuts the connection's socket at the deadline.
        """
        sockets: list[socket.socket] = []
        expired = threading.Event()

        def trace(event: str, info: dict[str, Any]) -> None:
            if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
                sock = info["return_value"].get_extra_info("socket")
                if sock is not None:
                    sockets.append(sock)

        def expire() -> None:
            expired.set()
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(timeout_s, expire)
        timer.daemon = True
        timer.start()
        try:
            request = self._client.build_request(
                method, url, timeout=httpx.Timeout(timeout_s, connect=min(self.connect_timeout_s, timeout_s)),
                extensions={"trace": trace}, **kwargs,
            )
            return self._client.send(request)
        except httpx.HTTPError:
            if expired.is_set():
                raise _DeadlineExceeded from None
            raise
        finally:
            timer.cancel()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One logical request with retries; returns the 2xx response or raises a scorer error.

        Each attempt ends within ``timeout_s``; all attempts and waits together within ``max_wait_s``.
        """
        url = f"{self.url}{path}"
        last = ""
        wait_at_least = 0.0
        t0 = time.monotonic()
        end = t0 + self.max_wait_s
        attempts = 0
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1)
                delay = max(delay * (0.75 + 0.5 * random.random()), wait_at_least)
                if time.monotonic() + delay >= end:
                    break
                log.warning("scorer %s not answering (%s), retry %d/%d in %.1f s",
                            self.url, last, attempt, self.retries, delay)
                self._sleep(delay)
                wait_at_least = 0.0
            budget = min(self.timeout_s, end - time.monotonic())
            if budget <= 0:
                break
            attempts += 1
            try:
                response = self._send(method, url, budget, **kwargs)
            except (_DeadlineExceeded, httpx.TimeoutException):
                last = f"no complete answer within {budget:.0f} s"
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
        raise ScorerUnavailableError(
            f"{method} {url}: no answer after {attempts} attempt(s) in {time.monotonic() - t0:.0f} s "
            f"(scorer.timeout_s={self.timeout_s:g} per attempt, scorer.max_wait_s={self.max_wait_s:g} "
            f"in all); last: {last}"
        )

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
        return self._parse_score(self._json(response), f"POST {self.url}/score")

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

    def _parse_score(self, body: Any, where: str) -> ScoreResult:
        try:
            result = body_to_result(body, identity=f"{self.name}/{self.backend}/{body.get('model')}", weights=self.weights)
        except (ValueError, AttributeError) as exc:
            raise ScorerResponseError(f"{where} -> {exc}") from exc
        if result.scorer != self.name:
            raise ScorerResponseError(f"{self.url} scored with {result.scorer!r}, expected {self.name!r}")
        if self._model is not None and body.get("model") != self._model:
            raise ScorerResponseError(
                f"{self.url} changed model from {self._model!r} to {body.get('model')!r} mid-run"
            )
        return result

    def score_batch_outcomes(
        self, items: Sequence[tuple[np.ndarray, int]]
    ) -> list[ScoreResult | RlmdjError]:
        """Score sets with ``POST /score_batch``, ``max_batch_sets`` per request, order kept.

        Each set's outcome is its result or its own error (:class:`ScorerRequestError` for a set
        the server refused); a failure of a whole request (auth, 413, no answer) is raised. A
        server without the batch endpoint (404) is asked one set at a time.
        """
        out: list[ScoreResult | RlmdjError] = []
        for c0 in range(0, len(items), self.max_batch_sets):
            chunk = items[c0 : c0 + self.max_batch_sets]
            files = []
            for i, (audio, sr) in enumerate(chunk):
                data = encode_wav(to_model_input(audio, sr=sr), sr=MODEL_SR) if self.upload_model_rate \
                    else encode_wav(audio, sr=sr)
                files.append(("audio", (f"set{c0 + i}.wav", data, "audio/wav")))
            try:
                response = self._request("POST", "/score_batch", files=files)
            except ScorerRequestError as exc:
                if exc.status != 404:
                    raise
                out.extend(self._one_by_one(chunk))
                continue
            body = self._json(response)
            results = body.get("results") if isinstance(body, Mapping) else None
            if not isinstance(results, list) or len(results) != len(chunk):
                raise ScorerResponseError(f"POST {self.url}/score_batch -> not a batch body for {len(chunk)} sets")
            for entry in results:
                status = int(entry.get("status", 0)) if isinstance(entry, Mapping) else 0
                if status == 200:
                    try:
                        out.append(self._parse_score(entry, f"POST {self.url}/score_batch [{entry.get('name')}]"))
                    except ScorerResponseError as exc:
                        out.append(exc)
                    continue
                message = f"POST {self.url}/score_batch [{entry.get('name') if isinstance(entry, Mapping) else '?'}] " \
                          f"-> {status}: {entry.get('error') if isinstance(entry, Mapping) else entry!r}"
                out.append(ScorerRequestError(message, status=status) if 400 <= status < 500
                           else ScorerUnavailableError(message))
        return out

    def _one_by_one(self, chunk: Sequence[tuple[np.ndarray, int]]) -> list[ScoreResult | RlmdjError]:
        out: list[ScoreResult | RlmdjError] = []
        for audio, sr in chunk:
            try:
                out.append(self.score(audio, sr=sr))
            except (ScorerRequestError, ScorerResponseError) as exc:
                out.append(exc)
        return out

    def score_batch(self, items: Sequence[tuple[np.ndarray, int]]) -> list[ScoreResult]:
        """Like :meth:`score_batch_outcomes`, raising the first set's error if any set failed."""
        outcomes = self.score_batch_outcomes(items)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return outcomes  # type: ignore[return-value]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
