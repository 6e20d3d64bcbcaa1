"""rlmdj's scorer server on 127.0.0.1: uploads, validation, auth, bounded concurrency, failures.

A cheap deterministic scorer stands in for the model, so these tests need no torch.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf

from rlmdj.scoring.base import AXES, ScoreResult, WindowScore, plan_windows, weighted_average
from rlmdj.scoring.serving.server import ServerThread, create_app
from rlmdj.scoring.serving.service import RequestError, ScoringService, UploadLimits, decode_audio

pytestmark = pytest.mark.slow  # servers on 127.0.0.1


class LevelScorer:
    """Scores from window RMS; records how many calls run at once."""

    name = "audiobox"
    identity = "audiobox/test/level-v1"
    model_identity = "level-v1"

    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.delay_s = delay_s
        self.fail = fail
        self.active = 0
        self.peak = 0
        self.calls = 0
        self._lock = threading.Lock()

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        with self._lock:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay_s)
            if self.fail:
                raise RuntimeError("model exploded")
            mono = np.asarray(audio, dtype=np.float64).reshape(len(audio), -1).mean(axis=1)
            windows = plan_windows(len(mono), sr=sr)
            rows = []
            for w in windows:
                rms = float(np.sqrt(np.mean(mono[w.start : w.start + w.valid] ** 2)))
                rows.append({a: 5.0 + i + rms for i, a in enumerate(AXES)})
            return ScoreResult(
                scorer=self.name,
                identity=self.identity,
                scores=weighted_average(rows, [w.weight for w in windows]),
                windows=[
                    WindowScore(w.start / sr, w.valid / sr, w.weight, r)
                    for w, r in zip(windows, rows, strict=True)
                ],
            )
        finally:
            with self._lock:
                self.active -= 1


def wav_bytes(seconds: float = 3.0, *, sr: int = 44_100, channels: int = 2, subtype: str = "PCM_16") -> bytes:
    n = int(seconds * sr)
    x = 0.25 * np.sin(2 * np.pi * 440 * np.arange(n) / sr)
    buf = io.BytesIO()
    sf.write(buf, np.repeat(x[:, None], channels, axis=1), sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def upload(client: httpx.Client, url: str, data: bytes, **kwargs) -> httpx.Response:
    return client.post(f"{url}/score", files={"audio": ("set.wav", data, "audio/wav")}, **kwargs)


@pytest.fixture(scope="module")
def server():
    scorer = LevelScorer()
    limits = UploadLimits(max_bytes=3_000_000, max_duration_s=20.0, max_channels=8)
    with ServerThread(create_app(ScoringService(scorer, limits=limits))) as srv:
        yield srv, scorer


def test_health_and_score(server):
    srv, _ = server
    with httpx.Client(timeout=10) as client:
        health = client.get(f"{srv.url}/health").json()
        assert health["status"] == "ok" and health["model"] == "level-v1" and health["scorer"] == "audiobox"
        body = upload(client, srv.url, wav_bytes(12.0)).json()
    assert set(body["scores"]) == set(AXES)
    assert [w["weight"] for w in body["windows"]] == pytest.approx([1.0, 0.2])
    assert body["model"] == "level-v1" and body["sample_rate"] == 44_100
    assert body["duration_s"] == pytest.approx(12.0)


def test_raw_wav_body_is_accepted(server):
    srv, _ = server
    r = httpx.post(f"{srv.url}/score", content=wav_bytes(1.0), headers={"content-type": "audio/wav"}, timeout=10)
    assert r.status_code == 200, r.text


def _nan_wav() -> bytes:
    x = np.zeros((8000, 1), dtype=np.float32)
    x[100] = np.nan
    buf = io.BytesIO()
    sf.write(buf, x, 16_000, format="WAV", subtype="FLOAT")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("make", "status", "needle"),
    [
        (lambda: b"this is not audio at all, just text" * 10, 415, "not a readable audio"),
        (lambda: wav_bytes(2.0)[: len(wav_bytes(2.0)) // 2], 400, "truncated"),
        (lambda: wav_bytes(2.0)[:30], 400, "truncated"),
        (lambda: b"", 400, "empty"),
        (_nan_wav, 400, "NaN"),
        (lambda: wav_bytes(1.0, sr=500), 400, "sample rate"),
        (lambda: wav_bytes(0.01, sr=2_000_000), 400, "sample rate"),
        (lambda: wav_bytes(0.1, channels=12), 400, "channels"),
        (lambda: wav_bytes(0.0), 400, "no samples"),
        (lambda: wav_bytes(25.0, sr=8_000, channels=1), 413, "limit"),
        (lambda: b"\0" * 4_000_000, 413, "limit"),
    ],
    ids=["text", "half", "header-only", "empty", "nan", "low-sr", "absurd-sr", "channels", "no-frames", "too-long", "too-big"],
)
def test_bad_uploads_get_4xx_and_server_keeps_serving(server, make, status, needle):
    srv, _ = server
    with httpx.Client(timeout=10) as client:
        r = upload(client, srv.url, make())
        assert r.status_code == status, r.text
        assert needle.lower() in r.json()["error"].lower()
        assert upload(client, srv.url, wav_bytes(1.0)).status_code == 200


def test_malformed_requests_get_4xx(server):
    srv, _ = server
    with httpx.Client(timeout=10) as client:
        r = client.post(f"{srv.url}/score", files={"other": ("x.wav", wav_bytes(1.0), "audio/wav")})
        assert r.status_code == 400 and "audio" in r.json()["error"]
        r = client.post(f"{srv.url}/score", json={"audio": [0.0, 1.0]})
        assert r.status_code == 415
        assert client.get(f"{srv.url}/health").status_code == 200


def test_bearer_token_is_required_when_configured():
    service = ScoringService(LevelScorer(), token="s3cret")
    with ServerThread(create_app(service)) as srv, httpx.Client(timeout=10) as client:
        assert upload(client, srv.url, wav_bytes(1.0)).status_code == 401
        wrong = upload(client, srv.url, wav_bytes(1.0), headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "bearer" in wrong.json()["error"]
        ok = upload(client, srv.url, wav_bytes(1.0), headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert client.get(f"{srv.url}/health").json()["auth"] == "bearer"


def test_concurrency_is_bounded_and_overflow_gets_503():
    scorer = LevelScorer(delay_s=0.3)
    app = create_app(ScoringService(scorer), max_concurrency=2, max_queue=1, max_uploads_per_client=8)
    data = wav_bytes(1.0)
    with ServerThread(app) as srv, httpx.Client(timeout=20) as client, ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: upload(client, srv.url, data).status_code, range(6)))
    assert scorer.peak <= 2
    assert codes.count(200) >= 3 and set(codes) <= {200, 503}
    assert 503 in codes


def test_busy_answer_says_when_to_retry():
    scorer = LevelScorer(delay_s=0.5)
    app = create_app(ScoringService(scorer), max_concurrency=1, max_queue=0)
    data = wav_bytes(1.0)
    with ServerThread(app) as srv, httpx.Client(timeout=20) as client, ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: upload(client, srv.url, data), range(3)))
    busy = [r for r in answers if r.status_code == 503]
    assert busy and all(r.headers["Retry-After"].isdigit() and "busy" in r.json()["error"] for r in busy)


def test_slow_upload_holds_no_scoring_slot():
    """A request is admitted only once its body has arrived: a slow upload does not lock out a
    second client while it streams in."""
    scorer = LevelScorer()
    app = create_app(ScoringService(scorer), max_concurrency=1, max_queue=0)
    data = wav_bytes(1.0)
    started = threading.Event()

    def slow_body():
        for i in range(0, len(data), 16_384):
            yield data[i : i + 16_384]
            started.set()
            time.sleep(0.05)

    with ServerThread(app) as srv, httpx.Client(timeout=20) as client, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(
            client.post, f"{srv.url}/score", content=slow_body(), headers={"Content-Type": "audio/wav"}
        )
        assert started.wait(5)
        time.sleep(0.1)
        second = upload(client, srv.url, data)
        assert second.status_code == 200, second.text
        assert not slow.done()
        assert slow.result().status_code == 200
    assert scorer.calls == 2


def _stalled(port: int, path: str = "/score") -> socket.socket:
    """POST with Content-Length 100000, send 4 bytes of body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n"
        "Content-Length: 100000\r\n\r\nRIFF".encode()
    )
    return sock


@pytest.mark.parametrize("per_client", [8, 3], ids=["under-cap", "over-cap"])
def test_stalled_uploads_time_out_and_lock_nobody_out(per_client):
    """2 x max_concurrency stalled uploads: a good request still gets 200 within read_timeout_s
    + 5 s (at once under the per-address cap; over it, after 429s the client retries), and the
    stalled ones get 408."""
    from rlmdj.scoring.client import HttpScorer

    read_timeout_s, concurrency = 3.0, 2
    app = create_app(ScoringService(LevelScorer()), max_concurrency=concurrency, max_queue=0,
                     read_timeout_s=read_timeout_s, max_uploads_per_client=per_client)
    with ServerThread(app) as srv:
        socks = [_stalled(srv.port) for _ in range(2 * concurrency)]
        try:
            time.sleep(0.3)
            t0 = time.monotonic()
            with HttpScorer(srv.url, retries=6, backoff_s=0.5, timeout_s=10, max_wait_s=30) as client:
                result = client.score_wav(wav_bytes(1.0))
            elapsed = time.monotonic() - t0
            assert result.scores and elapsed < read_timeout_s + 5
            if per_client > 2 * concurrency:
                assert elapsed < read_timeout_s  # admitted at once: stalled uploads hold no slot
            answers = []
            for sock in socks:
                sock.settimeout(read_timeout_s + 5)
                got = b""
                while chunk := sock.recv(4096):  # the server closes the connection after answering
                    got += chunk
                answers.append(got.decode(errors="replace"))
        finally:
            for sock in socks:
                sock.close()
    over = 2 * concurrency - per_client
    assert sum(a.startswith("HTTP/1.1 408") for a in answers) == 2 * concurrency - max(over, 0)
    assert sum(a.startswith("HTTP/1.1 429") for a in answers) == max(over, 0)
    assert all("(experiment.serve.read_timeout_s)" in a for a in answers if " 408 " in a)


class BatchLevelScorer(LevelScorer):
    """LevelScorer with a pooled batch path; a set of exactly 2.5 s breaks the model."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        if len(audio) == int(2.5 * sr):
            raise RuntimeError("model exploded on this set")
        return super().score(audio, sr=sr)

    def score_batch(self, items):
        self.batches.append(len(items))
        return [self.score(a, sr=sr) for a, sr in items]


def _batch(client: httpx.Client, url: str, sets: list[bytes], **kwargs) -> httpx.Response:
    files = [("audio", (f"set{i}.wav", data, "audio/wav")) for i, data in enumerate(sets)]
    return client.post(f"{url}/score_batch", files=files, **kwargs)


def test_score_batch_matches_single_scores_and_bad_sets_fail_alone():
    scorer = BatchLevelScorer()
    limits = UploadLimits(max_bytes=6_000_000, max_duration_s=20.0, max_batch_sets=6)
    good = [wav_bytes(s) for s in (1.0, 12.0, 3.0)]
    sets = [good[0], b"not audio at all" * 10, good[1], wav_bytes(25.0, sr=8_000, channels=1),
            wav_bytes(2.5), good[2]]
    with ServerThread(create_app(ScoringService(scorer, limits=limits))) as srv, \
            httpx.Client(timeout=20) as client:
        r = _batch(client, srv.url, sets)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "level-v1" and body["scorer"] == "audiobox"
        res = body["results"]
        assert [x["status"] for x in res] == [200, 415, 200, 413, 500, 200]
        assert [x["name"] for x in res] == [f"set{i}.wav" for i in range(6)]
        assert "not a readable audio" in res[1]["error"] and "limit" in res[3]["error"]
        assert "model exploded on this set" in res[4]["error"]
        for got, data in zip([res[0], res[2], res[5]], good, strict=True):
            alone = upload(client, srv.url, data).json()
            assert got["scores"] == alone["scores"] and got["windows"] == alone["windows"]
        # Limits, auth and content type apply to the batch as a whole.
        too_many = _batch(client, srv.url, [good[0]] * 7)
        assert too_many.status_code == 413 and "6" in too_many.json()["error"]
        assert client.post(f"{srv.url}/score_batch", content=good[0],
                           headers={"content-type": "audio/wav"}).status_code == 415
        assert _batch(client, srv.url, [b"\0" * 6_100_000]).status_code == 413
    assert scorer.batches[0] == 4  # the four decodable sets went to the pooled path together


def test_score_batch_needs_the_token_and_is_admitted_like_one_request():
    scorer = BatchLevelScorer()
    scorer.delay_s = 0.5
    app = create_app(ScoringService(scorer, token="s3cret"), max_concurrency=1, max_queue=0)
    auth = {"Authorization": "Bearer s3cret"}
    with ServerThread(app) as srv, httpx.Client(timeout=20) as client, ThreadPoolExecutor(3) as pool:
        assert _batch(client, srv.url, [wav_bytes(1.0)]).status_code == 401
        answers = list(pool.map(lambda _: _batch(client, srv.url, [wav_bytes(1.0)] * 2, headers=auth),
                                range(3)))
    codes = sorted(r.status_code for r in answers)
    assert 200 in codes and 503 in codes
    assert all(r.headers["Retry-After"].isdigit() for r in answers if r.status_code == 503)


def test_unknown_paths_and_methods_answer_with_an_error_body(server):
    srv, _ = server
    with httpx.Client(timeout=10) as client:
        missing = client.get(f"{srv.url}/nope")
        wrong = client.get(f"{srv.url}/score")
    assert missing.status_code == 404 and "/nope" in missing.json()["error"]
    assert wrong.status_code == 405 and "POST /score_batch" in wrong.json()["error"]


def test_serve_job_fails_fast_when_the_port_is_taken(tmp_path):
    """No model load (seconds to minutes) before finding out the port is busy."""
    import socket

    from omegaconf import OmegaConf

    from rlmdj.errors import ParameterError
    from rlmdj.experiments.jobs.serve import serve

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        from rlmdj.config.scorer import ServeConfig

        serve_cfg = OmegaConf.merge(OmegaConf.structured(ServeConfig), {
            "host": "127.0.0.1", "port": port, "max_upload_mb": 1, "max_duration_s": 10,
            "max_channels": 2, "max_concurrency": 1, "max_queue": 1, "log_level": "warning"})
        cfg = OmegaConf.create({"scorer": {"name": "no-such-scorer"}, "experiment": {"serve": serve_cfg}})
        with pytest.raises(ParameterError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve(cfg)


def test_scorer_failure_is_500_and_server_keeps_serving():
    scorer = LevelScorer(fail=True)
    with ServerThread(create_app(ScoringService(scorer))) as srv, httpx.Client(timeout=10) as client:
        r = upload(client, srv.url, wav_bytes(1.0))
        assert r.status_code == 500 and "model exploded" in r.json()["error"]
        scorer.fail = False
        assert upload(client, srv.url, wav_bytes(1.0)).status_code == 200


def test_decode_audio_reads_int_and_float_wavs():
    audio, sr = decode_audio(wav_bytes(0.5, sr=22_050, channels=2))
    assert sr == 22_050 and audio.shape == (11_025, 2) and audio.dtype == np.float32
    assert np.abs(audio).max() == pytest.approx(0.25, abs=1e-3)
    with pytest.raises(RequestError) as info:
        decode_audio(wav_bytes(1.0), UploadLimits(max_bytes=100))
    assert info.value.status == 413


def test_serve_job_serves_the_configured_scorer(tmp_path, process_group):
    """``rlmdj experiment=serve`` end to end, in a subprocess on a free port."""
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable, "-m", "rlmdj.cli", "experiment=serve", "scorer=proxy",
        f"experiment.serve.port={port}", "experiment.serve.log_level=warning", f"hydra.run.dir={tmp_path / 'out'}",
    ]
    # Its own process group: teardown ends the server (SIGTERM, then SIGKILL).
    proc = process_group(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            health = httpx.get(f"{url}/health", timeout=1).json()
            break
        except httpx.TransportError:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "serve job did not start"
            time.sleep(0.2)
    assert health["scorer"] == "proxy"
    with httpx.Client(timeout=10) as client:
        assert upload(client, url, wav_bytes(2.0)).status_code == 200
        assert upload(client, url, b"nope").status_code == 415
