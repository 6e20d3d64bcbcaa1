"""HTTP scorer client: retries, timeouts, refusals and garbage, with mock transports and real servers."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from rlmdj.scoring.client import (
    HttpScorer,
    ScorerRequestError,
    ScorerResponseError,
    ScorerUnavailableError,
)
from rlmdj.scoring.serving.server import ServerThread

URL = "http://scorer.test"
HEALTH = {"status": "ok", "scorer": "audiobox", "model": "m-1"}
WINDOW = {"start_s": 0.0, "duration_s": 1.0, "weight": 0.1, "scores": {"CE": 6.0, "CU": 8.0, "PC": 3.0, "PQ": 7.5}}
BODY = {"scorer": "audiobox", "model": "m-1", "scores": dict(WINDOW["scores"]), "windows": [WINDOW]}
AUDIO = (0.1 * np.sin(np.arange(16_000) / 10)).astype(np.float32)


def mock_client(handler, **kwargs) -> tuple[HttpScorer, list[float]]:
    sleeps: list[float] = []
    client = HttpScorer(URL, transport=httpx.MockTransport(handler), sleep=sleeps.append, **kwargs)
    return client, sleeps


def test_retries_5xx_with_backoff_then_succeeds():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500, json={"error": "boom"}) if len(calls) <= 2 else httpx.Response(200, json=BODY)

    client, sleeps = mock_client(handler, retries=3, backoff_s=1.0)
    result = client.score(AUDIO, sr=16_000)
    assert len(calls) == 3 and result.scores["CE"] == 6.0
    assert len(sleeps) == 2 and 0.75 <= sleeps[0] <= 1.25 and 1.5 <= sleeps[1] <= 2.5
    assert result.identity == "audiobox/http/m-1" and result.windows[0].weight == 0.1


def test_4xx_is_never_retried_and_names_url_and_status():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(400, json={"error": "audio contains NaN or infinite samples"})

    client, sleeps = mock_client(handler, retries=5)
    with pytest.raises(ScorerRequestError) as info:
        client.score(AUDIO, sr=16_000)
    assert len(calls) == 1 and not sleeps and info.value.status == 400
    assert f"POST {URL}/score -> HTTP 400" in str(info.value) and "NaN" in str(info.value)


def test_retry_after_is_honoured_but_capped():
    answers = iter([
        httpx.Response(503, headers={"Retry-After": "7"}, json={"error": "server busy"}),
        httpx.Response(503, headers={"Retry-After": "86400"}, json={"error": "server busy"}),
        httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, json={"error": "busy"}),
        httpx.Response(200, json=BODY),
    ])
    client, sleeps = mock_client(lambda r: next(answers), retries=3, backoff_s=0.1)
    assert client.score(AUDIO, sr=16_000).scores["CE"] == 6.0
    assert sleeps[0] == 7.0 and sleeps[1] == 60.0 and sleeps[2] < 1.0


def test_persistent_5xx_and_timeouts_give_up_after_retries():
    client, sleeps = mock_client(lambda r: httpx.Response(503, text="busy"), retries=2)
    with pytest.raises(ScorerUnavailableError, match=rf"POST {URL}/score: no answer after 3 attempt\(s\) .*; last: HTTP 503"):
        client.score(AUDIO, sr=16_000)
    assert len(sleeps) == 2

    def timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    client, _ = mock_client(timeout, retries=1)
    with pytest.raises(ScorerUnavailableError, match="no complete answer within"):
        client.score(AUDIO, sr=16_000)


def test_garbage_answers_are_response_errors():
    client, _ = mock_client(lambda r: httpx.Response(200, text="<html>gateway</html>"))
    with pytest.raises(ScorerResponseError, match="not JSON"):
        client.score(AUDIO, sr=16_000)
    client, _ = mock_client(lambda r: httpx.Response(200, json={"scorer": "audiobox", "scores": {"CE": 1}}))
    with pytest.raises(ScorerResponseError, match="malformed"):
        client.score(AUDIO, sr=16_000)
    client, _ = mock_client(lambda r: httpx.Response(200, json={**BODY, "scorer": "proxy"}))
    with pytest.raises(ScorerResponseError, match="expected 'audiobox'"):
        client.score(AUDIO, sr=16_000)


def test_identity_comes_from_health_and_headers_are_sent():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json=HEALTH if request.url.path == "/health" else BODY)

    client, _ = mock_client(handler, backend="modal", token="tok", headers={"Modal-Key": "k", "Modal-Secret": "s"})
    assert client.identity == "audiobox/modal/m-1"
    client.score(AUDIO, sr=16_000)
    assert all(r.headers["authorization"] == "Bearer tok" and r.headers["modal-key"] == "k" for r in seen)
    assert len([r for r in seen if r.url.path == "/health"]) == 1  # fetched once


def test_uploads_16k_mono_float_wav():
    import io

    import soundfile as sf

    got = {}

    def handler(request):
        body = request.read()
        start = body.index(b"RIFF")
        got["info"] = sf.info(io.BytesIO(body[start:]))
        return httpx.Response(200, json=BODY)

    client, _ = mock_client(handler)
    client.score(np.zeros((44_100, 2), dtype=np.float32), sr=44_100)
    assert got["info"].samplerate == 16_000 and got["info"].channels == 1 and got["info"].subtype == "FLOAT"


def test_score_many_bounds_concurrency_and_keeps_order():
    lock = threading.Lock()
    state = {"active": 0, "peak": 0}

    def handler(request):
        with lock:
            state["active"] += 1
            state["peak"] = max(state["peak"], state["active"])
        time.sleep(0.05)
        with lock:
            state["active"] -= 1
        n = len(request.read())
        return httpx.Response(200, json={**BODY, "scores": {**BODY["scores"], "CE": float(n)}})

    client, _ = mock_client(handler, max_concurrency=2)
    items = [(np.zeros(16_000 * (i + 1), dtype=np.float32), 16_000) for i in range(6)]
    results = client.score_many(items)
    assert state["peak"] <= 2
    sizes = [r.scores["CE"] for r in results]
    assert sizes == sorted(sizes)  # longer audio, bigger upload: order preserved


def test_bad_settings_are_parameter_errors():
    from rlmdj.errors import ParameterError

    with pytest.raises(ParameterError, match="http"):
        HttpScorer("scorer.local:8000")
    with pytest.raises(ParameterError):
        HttpScorer(URL, timeout_s=0)


# -- real servers on 127.0.0.1 ---------------------------------------------------------------


def flaky_app(failures: int) -> FastAPI:
    app = FastAPI()
    count = {"n": 0}

    @app.get("/health")
    def health():
        return HEALTH

    @app.post("/score")
    def score():
        count["n"] += 1
        if count["n"] <= failures:
            return JSONResponse({"error": "warming up"}, status_code=500)
        return BODY

    return app


def test_real_server_500_twice_then_200():
    with ServerThread(flaky_app(failures=2)) as srv, HttpScorer(srv.url, retries=3, backoff_s=0.01) as client:
        assert client.score(AUDIO, sr=16_000).scores["PQ"] == 7.5


def test_real_server_returning_garbage():
    app = FastAPI()

    @app.post("/score")
    def score():
        return PlainTextResponse("\x00\x01 definitely not json")

    with (
        ServerThread(app) as srv,
        HttpScorer(srv.url, retries=3, backoff_s=0.01) as client,
        pytest.raises(ScorerResponseError, match=srv.url),
    ):
        client.score(AUDIO, sr=16_000)


def test_hanging_server_times_out():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)  # accepts connections (via the backlog) and never answers
    port = sock.getsockname()[1]
    try:
        with HttpScorer(f"http://127.0.0.1:{port}", timeout_s=0.3, retries=1, backoff_s=0.01) as client:
            t0 = time.monotonic()
            with pytest.raises(ScorerUnavailableError, match=rf"127.0.0.1:{port}/score: no answer after 2 attempt\(s\).*last: no complete answer"):
                client.score(AUDIO, sr=16_000)
            assert time.monotonic() - t0 < 5
    finally:
        sock.close()


def test_nobody_listening_is_a_connection_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with (
        HttpScorer(f"http://127.0.0.1:{port}", retries=1, backoff_s=0.01) as client,
        pytest.raises(ScorerUnavailableError, match="connection failed"),
    ):
        client.health()


def test_concurrent_clients_against_real_server():
    with (
        ServerThread(flaky_app(failures=0)) as srv,
        HttpScorer(srv.url, max_concurrency=3) as client,
        ThreadPoolExecutor(3) as pool,
    ):
        results = list(pool.map(lambda _: client.score(AUDIO, sr=16_000), range(6)))
    assert all(r.scores == BODY["scores"] for r in results)


def _trickling_server(*, headers_too: bool) -> tuple[socket.socket, threading.Event]:
    """A server that answers one byte every 0.5 s (the status line too, with ``headers_too``)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(1 << 20)
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
                    if not headers_too:
                        conn.sendall(head)
                        head = b""
                    for byte in (head + b" " * 500):
                        if stop.is_set():
                            return
                        conn.sendall(bytes([byte]))
                        time.sleep(0.5)
                except OSError:
                    continue

    threading.Thread(target=serve, daemon=True).start()
    return srv, stop


@pytest.mark.slow
@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "status-line"])
def test_timeout_is_a_deadline_for_the_whole_request(headers_too):
    """A server trickling one byte every 0.5 s never trips a per-read timeout; the request still
    ends at scorer.timeout_s."""
    srv, stop = _trickling_server(headers_too=headers_too)
    try:
        url = f"http://127.0.0.1:{srv.getsockname()[1]}"
        with HttpScorer(url, timeout_s=2.0, retries=0) as client:
            t0 = time.monotonic()
            with pytest.raises(ScorerUnavailableError, match="no complete answer within 2 s"):
                client.score(AUDIO, sr=16_000)
            assert time.monotonic() - t0 < 3.5
    finally:
        stop.set()
        srv.close()


@pytest.mark.slow
def test_total_wait_is_bounded_and_each_retry_is_reported(caplog):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # never answers
    port = sock.getsockname()[1]
    try:
        with HttpScorer(f"http://127.0.0.1:{port}", timeout_s=1.0, retries=10, backoff_s=0.05,
                        max_wait_s=2.5) as client:
            t0 = time.monotonic()
            with caplog.at_level("WARNING", logger="rlmdj.scoring.client"), \
                    pytest.raises(ScorerUnavailableError, match=r"scorer.max_wait_s=2.5 in all"):
                client.score(AUDIO, sr=16_000)
            assert time.monotonic() - t0 < 3.5
    finally:
        sock.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines and all("not answering" in m for m in lines)
    assert "retry 1/10" in lines[0] and "retry 2/10" in lines[1]
    assert len(lines) < 10  # the wait budget ended it before the retries ran out


def test_429_and_408_are_retried():
    answers = iter([httpx.Response(429, headers={"Retry-After": "1"}, json={"error": "too many"}),
                    httpx.Response(408, json={"error": "slow body"}), httpx.Response(200, json=BODY)])
    client, sleeps = mock_client(lambda r: next(answers), retries=3, backoff_s=0.01)
    assert client.score(AUDIO, sr=16_000).scores["PQ"] == 7.5
    assert len(sleeps) == 2 and sleeps[0] >= 1.0
