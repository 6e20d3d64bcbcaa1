"""rlmdj's scorer server: the scoring API over HTTP (FastAPI), in front of any Scorer.

* :func:`create_app` -- ``GET /health``, ``POST /score`` (multipart field ``audio``, or a raw
  ``audio/wav`` body) and ``POST /score_batch`` (one multipart field ``audio`` per set) around a
  :class:`~rlmdj.scoring.serving.service.ScoringService`. Request bodies are capped while they stream in
  and must arrive within ``read_timeout_s`` (408); one client address may upload at most
  ``max_uploads_per_client`` bodies at once (429). Once its body has arrived a request is
  admitted: at most ``max_concurrency`` scorings run at once and ``max_queue`` more wait; beyond
  that the answer is 503. 429 and 503 carry ``Retry-After``, and clients retry them.
* :func:`run_server` -- serve it with uvicorn (``rlmdj experiment=serve``).
* :class:`ServerThread` -- serve it from a background thread on a free port (tests, notebooks).

Every refused request gets a 4xx JSON body ``{"error": "..."}`` (plus ``"limit"`` naming the
``experiment.serve`` key for a 413); a failure inside the scorer gets 500 and the server keeps
serving.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from rlmdj.config.scorer import ServeConfig
from rlmdj.errors import ParameterError
from rlmdj.scoring.serving.service import RequestError, ScoringService
from rlmdj.scoring.serving.uploads import over_limit

__all__ = [
    "BUSY_RETRY_AFTER_S",
    "create_app",
    "run_server",
    "ServerThread",
]

log = logging.getLogger(__name__)

BUSY_RETRY_AFTER_S = 2
"""``Retry-After`` seconds sent with 503 (busy) and 429 (too many uploads from one address)."""


class _BodyTooLarge(Exception):
    """The body streamed past the limit: ``seen`` bytes so far, ``limit`` allowed."""

    def __init__(self, seen: int, limit: int) -> None:
        super().__init__(seen, limit)
        self.seen, self.limit = seen, limit


def _body_over_limit(size: int, limit: int, *, streamed: bool) -> RequestError:
    """413 for a body of ``size`` bytes (so far, when ``streamed``); ``limit`` is ``max_upload_mb``
    plus the form overhead."""
    return over_limit("request body is", key="max_upload_mb", value=size, maximum=limit, unit="bytes",
                      detail=" or more" if streamed else "")


class _BodyLimit:
    """ASGI middleware: 413 for bodies over ``max_bytes``, checked on the header and while streaming."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            refusal = _body_over_limit(int(length), self.max_bytes, streamed=False)
            await JSONResponse(refusal.body(), status_code=413)(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge(seen, self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


def create_app(
    service: ScoringService,
    *,
    max_concurrency: int = ServeConfig.max_concurrency,
    max_queue: int = ServeConfig.max_queue,
    read_timeout_s: float = ServeConfig.read_timeout_s,
    max_uploads_per_client: int = ServeConfig.max_uploads_per_client,
) -> FastAPI:
    """The FastAPI app serving ``service``; bodies beyond the upload limit (+64 KiB form overhead) get 413.

    A request counts against ``max_concurrency + max_queue`` only once its body has arrived, so
    clients that stall mid-upload hold no scoring slot: their upload times out after
    ``read_timeout_s`` (408), and one address may upload ``max_uploads_per_client`` at once
    (429 beyond, with ``Retry-After``).
    """
    if max_concurrency < 1 or max_queue < 0 or max_uploads_per_client < 1 or not read_timeout_s > 0:
        raise ParameterError(
            "need max_concurrency >= 1, max_queue >= 0, max_uploads_per_client >= 1 and "
            f"read_timeout_s > 0; got {max_concurrency}, {max_queue}, {max_uploads_per_client}, {read_timeout_s}"
        )
    app = FastAPI(title="rlmdj scorer", version="1", docs_url=None, redoc_url=None)
    slots = asyncio.Semaphore(max_concurrency)
    admitted = 0  # requests whose body has arrived: waiting for a slot or scoring
    uploading: dict[str, int] = {}  # client address -> uploads still arriving

    @app.exception_handler(RequestError)
    async def _refused(_: Request, exc: RequestError) -> JSONResponse:
        headers = {"Retry-After": str(BUSY_RETRY_AFTER_S)} if exc.status in (429, 503) else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _routing(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown paths and wrong methods answer in the API's {"error": ...} shape too.
        return JSONResponse(
            {"error": f"{request.method} {request.url.path}: {exc.detail}; "
                      "use GET /health, POST /score or POST /score_batch"},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(_BodyTooLarge)
    async def _too_large(_: Request, exc: _BodyTooLarge) -> JSONResponse:
        return JSONResponse(_body_over_limit(exc.seen, exc.limit, streamed=True).body(), status_code=413)

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("scoring failed for %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        body = service.health()
        body["read_timeout_s"] = read_timeout_s
        return body

    async def _receive(request: Request, read: Callable[[Request], Awaitable[Any]]) -> Any:
        """The request's upload, read within ``read_timeout_s`` and the per-address upload cap."""
        host = request.client.host if request.client else "unknown"
        if uploading.get(host, 0) >= max_uploads_per_client:
            raise RequestError(
                f"{uploading[host]} uploads from {host} are still arriving (at most "
                f"{max_uploads_per_client} at once); retry later",
                status=429,
            )
        uploading[host] = uploading.get(host, 0) + 1
        try:
            return await asyncio.wait_for(read(request), timeout=read_timeout_s)
        except TimeoutError:
            raise RequestError(
                f"request body did not arrive within {read_timeout_s:g} s (experiment.serve.read_timeout_s)",
                status=408,
            ) from None
        finally:
            uploading[host] -= 1
            if not uploading[host]:
                del uploading[host]

    async def _admit_and_run(work: Callable[[], dict[str, Any]]) -> JSONResponse:
        """Run ``work`` in a scoring slot; 503 when ``max_concurrency + max_queue`` are taken."""
        nonlocal admitted
        if admitted >= max_concurrency + max_queue:
            raise RequestError(
                f"server busy ({admitted} requests admitted, at most {max_concurrency} scoring and "
                f"{max_queue} waiting); retry later",
                status=503,
            )
        admitted += 1
        try:
            async with slots:
                t0 = time.perf_counter()
                failure = None
                try:
                    body = await run_in_threadpool(work)
                except RequestError:
                    raise
                except Exception as exc:  # answered here, so the connection stays usable (keep-alive)
                    log.exception("scoring failed")
                    failure = f"internal error: {type(exc).__name__}: {exc}"
                if failure is not None:
                    # The failed scoring's frames (and the audio they held) went with the exception;
                    # collect any cycle among them before the next request allocates again.
                    await run_in_threadpool(gc.collect)
                    return JSONResponse({"error": failure}, status_code=500)
                body["elapsed_s"] = time.perf_counter() - t0
                return JSONResponse(body)
        finally:
            admitted -= 1

    @app.post("/score")
    async def score(request: Request) -> JSONResponse:
        service.authorize(request.headers.get("authorization"))
        data = await _receive(request, _read_upload)
        return await _admit_and_run(lambda: service.score_upload(data))

    @app.post("/score_batch")
    async def score_batch(request: Request) -> JSONResponse:
        service.authorize(request.headers.get("authorization"))
        max_sets = service.limits.max_batch_sets
        uploads = await _receive(request, lambda r: _read_batch(r, max_sets))
        return await _admit_and_run(lambda: service.score_batch_uploads(uploads))

    app.add_middleware(_BodyLimit, max_bytes=service.limits.max_bytes + 65536)
    return app


async def _read_upload(request: Request) -> bytes:
    """The uploaded file's bytes: multipart field ``audio`` (or ``file``), else the raw body."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=8)
        except _BodyTooLarge:
            raise
        except Exception as exc:
            raise RequestError(f"malformed multipart body ({exc})") from exc
        try:
            upload = form.get("audio") or form.get("file")
            if upload is None or isinstance(upload, str):
                raise RequestError("multipart body lacks a file in field 'audio'")
            return await upload.read()
        finally:
            await form.close()  # spooled temp files go now, also when the field is missing
    if ctype.startswith(("audio/", "application/octet-stream")):
        return await request.body()
    raise RequestError(
        f"unsupported Content-Type {ctype!r}: send multipart/form-data with a file in field 'audio' "
        "or a raw audio/wav body",
        status=415,
    )


async def _read_batch(request: Request, max_sets: int) -> list[tuple[str, bytes]]:
    """The files of a batch: every multipart field ``audio``, in order, with their file names."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise RequestError(
            f"unsupported Content-Type {ctype!r}: send multipart/form-data with one file per set, "
            "each in a field named 'audio'",
            status=415,
        )
    try:
        form = await request.form(max_files=max_sets, max_fields=max_sets + 8)
    except _BodyTooLarge:
        raise
    except Exception as exc:
        if "too many files" in str(exc).lower():
            raise over_limit("batch holds", key="max_batch_sets", value=max_sets + 1, maximum=max_sets,
                             unit="sets", detail=" or more") from exc
        raise RequestError(f"malformed multipart body ({exc})") from exc
    try:
        files = [f for f in form.getlist("audio") if not isinstance(f, str)]
        if not files:
            raise RequestError("multipart body lacks files in field 'audio'")
        return [(f.filename or f"set{i}", await f.read()) for i, f in enumerate(files)]
    finally:
        await form.close()


def run_server(
    service: ScoringService,
    *,
    host: str = ServeConfig.host,
    port: int = ServeConfig.port,
    max_concurrency: int = ServeConfig.max_concurrency,
    max_queue: int = ServeConfig.max_queue,
    read_timeout_s: float = ServeConfig.read_timeout_s,
    max_uploads_per_client: int = ServeConfig.max_uploads_per_client,
    log_level: str = ServeConfig.log_level,
) -> None:
    """Serve until interrupted."""
    import uvicorn

    app = create_app(service, max_concurrency=max_concurrency, max_queue=max_queue,
                     read_timeout_s=read_timeout_s, max_uploads_per_client=max_uploads_per_client)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


class ServerThread:
    """Run an ASGI app with uvicorn in a daemon thread; ``port=0`` picks a free port.

    Use as a context manager; :attr:`url` is ``http://host:port`` once entered.
    """

    def __init__(self, app: Any, *, host: str = ServeConfig.host, port: int = 0, log_level: str = "warning") -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="rlmdj-scorer-server", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"scorer server on {self.host}:{self.port} failed to start")
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
