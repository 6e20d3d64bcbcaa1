"""The scorer server's memory follows the decoded audio, so what a request may decode is bounded.

A few hundred KB of FLAC can hold 30 minutes of silence: 691 MB as float32, gigabytes inside a
scorer. Sets are checked on their headers (frames x channels, per set and per request) before
anything is decoded, no decoded audio outlives its request, and audio too short to fill a
scoring window's analysis frames is refused rather than scored as padding.
"""

from __future__ import annotations

import gc
import io
import socket
import subprocess
import sys
import time
import weakref
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from omegaconf import OmegaConf

from rlmdj.config.scorer import ServeConfig
from rlmdj.errors import ParameterError
from rlmdj.scoring.base import MIN_SCORE_S, ScoreResult, WindowScore, min_score_frames, plan_windows
from rlmdj.scoring.proxy import ProxyScorer
from rlmdj.scoring.resample import to_model_input
from rlmdj.scoring.serving.server import ServerThread, create_app
from rlmdj.scoring.serving.service import ScoringService
from rlmdj.scoring.serving.uploads import (
    AudioHeader,
    RequestError,
    UploadLimits,
    check_request_samples,
    decode_audio,
    read_header,
)

LIMITS = UploadLimits()
PER_SET = "experiment.serve.max_decoded_samples"
PER_REQUEST = "experiment.serve.max_request_decoded_samples"


def silent_flac(seconds: float, *, sr: int = 48_000, channels: int = 2) -> bytes:
    """A silent FLAC: long sets compress to almost nothing (30 min of 48 kHz stereo: ~330 KB)."""
    buf = io.BytesIO()
    block = np.zeros((sr * 10, channels), dtype=np.int16)
    with sf.SoundFile(buf, "w", sr, channels, format="FLAC", subtype="PCM_16") as f:
        whole, rest = divmod(int(seconds * sr), len(block))
        for _ in range(whole):
            f.write(block)
        f.write(block[:rest])
    return buf.getvalue()


def tone_wav(seconds: float = 2.0, sr: int = 44_100) -> bytes:
    x = 0.25 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * sr)) / sr)
    buf = io.BytesIO()
    sf.write(buf, np.stack([x, x], axis=1), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def thirty_minutes() -> bytes:
    """30 minutes of 48 kHz stereo (172.8 M samples): within max_duration_s, 3x max_decoded_samples."""
    data = silent_flac(1800)
    assert len(data) < 400_000
    return data


@pytest.fixture(scope="module")
def nine_minutes() -> bytes:
    """9 minutes of 48 kHz stereo (51.8 M samples): one fits the per-set limit, five exceed the request's."""
    return silent_flac(540)


class FlatScorer:
    """Constant scores per audiobox window; remembers (weakly) every array it was given."""

    name = "audiobox"
    identity = "audiobox/test/flat-v1"

    def __init__(self, fail: BaseException | None = None) -> None:
        self.fail = fail
        self.seen: list[weakref.ref] = []

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        self.seen.append(weakref.ref(audio))
        if self.fail is not None:  # a fresh exception: a raised one keeps its last traceback
            raise type(self.fail)(*self.fail.args)
        windows = plan_windows(len(audio), sr=sr)
        rows = [{"CE": 5.0, "CU": 5.0, "PC": 5.0, "PQ": 5.0} for _ in windows]
        return ScoreResult(self.name, self.identity, dict(rows[0]),
                           [WindowScore(w.start / sr, w.valid / sr, w.weight, r) for w, r in zip(windows, rows, strict=True)])

    def alive(self) -> int:
        return sum(ref() is not None for ref in self.seen)


# -- in process ------------------------------------------------------------------------------


def test_defaults_match_the_schema_and_limits_name_their_key():
    assert UploadLimits() == UploadLimits.from_serve(OmegaConf.structured(ServeConfig))
    assert LIMITS.max_decoded_samples == 10 * 60 * 48_000 * 2
    with pytest.raises(ParameterError, match=f"{PER_REQUEST} must be positive, got 0"):
        UploadLimits(max_request_decoded_samples=0)


def test_huge_decode_is_refused_from_the_header_alone(thirty_minutes, monkeypatch):
    header = AudioHeader(sr=48_000, channels=2, frames=86_400_000)
    with pytest.raises(RequestError) as info:
        read_header(thirty_minutes)
    assert info.value.status == 413
    assert info.value.limit == {"key": PER_SET, "value": header.samples, "max": LIMITS.max_decoded_samples,
                                "unit": "samples"}
    assert PER_SET in str(info.value) and "86400000 frames x 2 channels" in str(info.value)
    # Nothing was decoded: decoding is not even possible here.
    monkeypatch.setattr(sf.SoundFile, "read", lambda *a, **k: pytest.fail("decoded a refused set"))
    with pytest.raises(RequestError, match=PER_SET):
        decode_audio(thirty_minutes)


def test_request_total_is_bounded():
    nine = AudioHeader(sr=48_000, channels=2, frames=540 * 48_000)
    check_request_samples([nine] * 4, LIMITS)  # 207 M samples: fits
    with pytest.raises(RequestError) as info:
        check_request_samples([nine] * 5, LIMITS)
    assert info.value.status == 413 and info.value.limit["key"] == PER_REQUEST
    assert info.value.limit["value"] == 5 * nine.samples
    assert "5 sets decode to 259200000 samples together" in str(info.value)


def test_decode_reads_float32_and_no_more_frames_than_declared():
    audio, sr = decode_audio(tone_wav(1.0))
    assert audio.dtype == np.float32 and audio.shape == (44_100, 2) and sr == 44_100


@pytest.mark.parametrize("entry", [
    lambda a, sr: ProxyScorer().score(a, sr=sr),
    lambda a, sr: to_model_input(a, sr=sr),
], ids=["proxy", "model_input"])
def test_audio_shorter_than_a_window_minimum_is_refused_in_process(entry):
    with pytest.raises(ParameterError, match=r"too short: 1 frame \(.* at 44100 Hz\); at least 0.1 s \(4410 frames\)"):
        entry(np.zeros((1, 2)), 44_100)
    entry(np.zeros((min_score_frames(44_100), 2)), 44_100)  # exactly the minimum scores


def test_too_short_upload_is_a_400_naming_the_minimum():
    buf = io.BytesIO()
    sf.write(buf, np.zeros((1, 1)), 44_100, format="WAV")
    with pytest.raises(RequestError) as info:
        read_header(buf.getvalue())
    assert info.value.status == 400 and f"at least {MIN_SCORE_S:g} s" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("fail", [MemoryError("out of memory"), ParameterError("no good")], ids=["crash", "refusal"])
def test_no_decoded_audio_outlives_its_request(fail):
    """Failures are kept as messages: an exception kept in a list made a reference cycle through
    its traceback that held a whole batch's decoded audio until the collector happened to run."""
    scorer = FlatScorer(fail=fail)
    service = ScoringService(scorer)
    sets = [(f"s{i}.wav", tone_wav(1.0)) for i in range(3)]
    gc.disable()
    try:
        body = service.score_batch_uploads(sets)
        assert [r["status"] for r in body["results"]] == [500 if isinstance(fail, MemoryError) else 400] * 3
        assert scorer.seen and scorer.alive() == 0
        if isinstance(fail, ParameterError):
            with pytest.raises(RequestError, match="no good"):
                service.score_upload(sets[0][1])
            assert scorer.alive() == 0
    finally:
        gc.enable()


# -- over HTTP -------------------------------------------------------------------------------


def _batch(client: httpx.Client, url: str, sets: list[bytes]) -> httpx.Response:
    return client.post(f"{url}/score_batch", files=[("audio", (f"s{i}.flac", d, "audio/flac")) for i, d in enumerate(sets)])


def _score(client: httpx.Client, url: str, data: bytes) -> httpx.Response:
    return client.post(f"{url}/score", files={"audio": ("set.flac", data, "audio/flac")})


@pytest.mark.slow
def test_huge_decodes_get_413_on_both_endpoints_and_normal_sets_still_score(thirty_minutes, nine_minutes):
    scorer = FlatScorer()
    with ServerThread(create_app(ScoringService(scorer))) as srv, httpx.Client(timeout=30) as client:
        one = _score(client, srv.url, thirty_minutes)
        assert one.status_code == 413, one.text
        assert one.json()["limit"] == {"key": PER_SET, "value": 172_800_000, "max": 57_600_000, "unit": "samples"}
        assert PER_SET in one.json()["error"] and "172800000" in one.json()["error"]

        eight = _batch(client, srv.url, [thirty_minutes] * 8)
        assert eight.status_code == 200, eight.text
        assert all(r["status"] == 413 and r["limit"]["key"] == PER_SET for r in eight.json()["results"])

        five = _batch(client, srv.url, [nine_minutes] * 5)
        assert five.status_code == 413, five.text
        assert five.json()["limit"] == {"key": PER_REQUEST, "value": 5 * 25_920_000 * 2,
                                        "max": 230_400_000, "unit": "samples"}
        assert scorer.seen == []  # nothing reached the scorer

        assert _score(client, srv.url, tone_wav()).status_code == 200
        mixed = _batch(client, srv.url, [tone_wav(), thirty_minutes, tone_wav(3.0)])
        assert [r["status"] for r in mixed.json()["results"]] == [200, 413, 200]


@pytest.mark.slow
def test_one_sample_wav_is_refused_over_http():
    buf = io.BytesIO()
    sf.write(buf, np.zeros((1, 1)), 44_100, format="WAV")
    with ServerThread(create_app(ScoringService(FlatScorer()))) as srv, httpx.Client(timeout=30) as client:
        r = client.post(f"{srv.url}/score", files={"audio": ("one.wav", buf.getvalue(), "audio/wav")})
        assert r.status_code == 400 and r.json()["error"].startswith("audio is too short to score: 1 frame")
        batch = client.post(f"{srv.url}/score_batch", files=[("audio", ("one.wav", buf.getvalue(), "audio/wav")),
                                                             ("audio", ("ok.wav", tone_wav(), "audio/wav"))])
        assert [x["status"] for x in batch.json()["results"]] == [400, 200]


def _memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of ``pid`` in kB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_serve_job_memory_stays_bounded(tmp_path, process_group, thirty_minutes):
    """``rlmdj experiment=serve``: refused huge sets cost no memory; a large accepted one is
    given back after its request."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = process_group([sys.executable, "-m", "rlmdj.cli", "experiment=serve", "scorer=proxy",
                          f"experiment.serve.port={port}", "experiment.serve.log_level=warning",
                          f"hydra.run.dir={tmp_path / 'out'}"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/health", timeout=1)
            break
        except httpx.TransportError:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "serve job did not start"
            time.sleep(0.2)
    with httpx.Client(timeout=120) as client:
        assert _score(client, url, tone_wav()).status_code == 200  # warm: imports, first allocations
        idle = _memory_kb(proc.pid)
        assert _score(client, url, thirty_minutes).status_code == 413
        assert _batch(client, url, [thirty_minutes] * 8).status_code == 200
        refused = _memory_kb(proc.pid)
        large = silent_flac(300)  # 5 min of 48 kHz stereo: 28.8 M samples, 115 MB as float32
        assert _score(client, url, large).status_code == 200
        accepted = _memory_kb(proc.pid)
        assert _score(client, url, tone_wav()).status_code == 200
    mb = {k: {f: v // 1024 for f, v in m.items()} for k, m in
          {"idle": idle, "after refused": refused, "after accepted": accepted}.items()}
    print(f"serve job memory (MB): {mb}")
    # Refused: not one sample decoded (unbounded, the 30 min set alone took the peak to 3.5 GB).
    assert refused["VmHWM"] - idle["VmHWM"] < 64 * 1024, mb
    # Accepted: the peak is bounded by the set, and its memory is given back after the request.
    assert accepted["VmRSS"] - idle["VmRSS"] < 96 * 1024, mb
    assert accepted["VmHWM"] < idle["VmRSS"] + 1024 * 1024, mb
