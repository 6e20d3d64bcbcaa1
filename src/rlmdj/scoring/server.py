"""rlmdj's scorer server: the scoring API over HTTP (FastAPI), in front of any Scorer.

* :func:`create_app` -- ``GET /health`` and ``POST /score`` (multipart field ``audio``, or a raw
  ``audio/wav`` body) around a :class:`~rlmdj.scoring.service.ScoringService`; request bodies
  are capped while they stream in, at most ``max_concurrency`` scorings run at once and at most
  ``max_queue`` more are admitted (reading their upload or waiting); beyond that the answer is
  503 with ``Retry-After`` before the body is read, which clients retry.
* :func:`run_server` -- serve it with uvicorn (``rlmdj experiment=serve``).
* :class:`ServerThread` -- serve it from a background thread on a free port (tests, notebooks).

Every refused request gets a 4xx JSON body ``{"error": "..."}``; a failure inside the scorer gets
500 and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from rlmdj.errors import ParameterError
from rlmdj.scoring.service import RequestError, ScoringService

__all__ = ["BUSY_RETRY_AFTER_S", "create_app", "run_server", "ServerThread"]

log = logging.getLogger(__name__)

BUSY_RETRY_AFTER_S = 2
"""``Retry-After`` seconds sent with 503 busy answers."""


class _BodyTooLarge(Exception):
    pass


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
            response = JSONResponse(
                {"error": f"request body is {int(length)} bytes; the limit is {self.max_bytes}"},
                status_code=413,
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge(f"request body exceeds the limit of {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)


def create_app(
    service: ScoringService,
    *,
    max_concurrency: int = 1,
    max_queue: int = 16,
) -> FastAPI:
    """The FastAPI app serving ``service``; bodies beyond the upload limit (+64 KiB form overhead) get 413."""
    if max_concurrency < 1 or max_queue < 0:
        raise ParameterError(
            f"max_concurrency must be >= 1 and max_queue >= 0, got {max_concurrency}, {max_queue}"
        )
    app = FastAPI(title="rlmdj scorer", version="1", docs_url=None, redoc_url=None)
    slots = asyncio.Semaphore(max_concurrency)
    admitted = 0  # requests reading their body, waiting for a slot or scoring

    @app.exception_handler(RequestError)
    async def _refused(_: Request, exc: RequestError) -> JSONResponse:
        headers = {"Retry-After": str(BUSY_RETRY_AFTER_S)} if exc.status == 503 else None
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _routing(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown paths and wrong methods answer in the API's {"error": ...} shape too.
        return JSONResponse(
            {"error": f"{request.method} {request.url.path}: {exc.detail}; use GET /health or POST /score"},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(_BodyTooLarge)
    async def _too_large(_: Request, exc: _BodyTooLarge) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=413)

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("scoring failed for %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return service.health()

    @app.post("/score")
    async def score(request: Request) -> JSONResponse:
        nonlocal admitted
        service.authorize(request.headers.get("authorization"))
        # Admission comes before the body is read, so memory holds at most
        # max_concurrency + max_queue uploads however many clients send at once.
        if admitted >= max_concurrency + max_queue:
            raise RequestError(
                f"server busy ({admitted} requests admitted, at most {max_concurrency} scoring and "
                f"{max_queue} waiting); retry later",
                status=503,
            )
        admitted += 1
        try:
            return await _score_admitted(request)
        finally:
            admitted -= 1

    async def _score_admitted(request: Request) -> JSONResponse:
        data = await _read_upload(request)
        await slots.acquire()
        try:
            t0 = time.perf_counter()
            body = await run_in_threadpool(service.score_upload, data)
            body["elapsed_s"] = time.perf_counter() - t0
        except RequestError:
            raise
        except Exception as exc:  # answered here, so the connection stays usable (keep-alive)
            log.exception("scoring failed")
            return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)
        finally:
            slots.release()
        return JSONResponse(body)

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


def run_server(
    service: ScoringService,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_concurrency: int = 1,
    max_queue: int = 16,
    log_level: str = "info",
) -> None:
    """Serve until interrupted."""
    import uvicorn

    app = create_app(service, max_concurrency=max_concurrency, max_queue=max_queue)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


class ServerThread:
    """Run an ASGI app with uvicorn in a daemon thread; ``port=0`` picks a free port.

    Use as a context manager; :attr:`url` is ``http://host:port`` once entered.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
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
