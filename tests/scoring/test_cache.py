"""Score cache: hits and misses, keys, persistence and concurrent writers (threads and processes)."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from rlmdj.scoring.base import ScoreResult, WindowScore
from rlmdj.scoring.cache import CachedScorer, ScoreCache, audio_hash


class CountingScorer:
    name = "audiobox"

    def __init__(self, identity: str = "audiobox/test/v1") -> None:
        self.identity = identity
        self.calls = 0

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        self.calls += 1
        level = float(np.abs(audio).mean())
        scores = {"CE": 5 + level, "CU": 8.0, "PC": 3.0, "PQ": 7.0}
        return ScoreResult(
            scorer=self.name,
            identity=self.identity,
            scores=scores,
            windows=[WindowScore(0.0, len(audio) / sr, 1.0, dict(scores))],
        )


def tone(seconds: float = 1.0, *, sr: int = 16_000, freq: float = 440.0) -> np.ndarray:
    return (0.2 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_hits_and_misses_are_counted_and_results_round_trip(tmp_path):
    inner = CountingScorer()
    scorer = CachedScorer(inner, ScoreCache(tmp_path))
    first = scorer.score(tone(), sr=16_000)
    second = scorer.score(tone(), sr=16_000)
    assert inner.calls == 1 and scorer.cache.stats() == {"hits": 1, "misses": 1}
    assert second == first and second.obj == first.obj
    scorer.score(tone(freq=880.0), sr=16_000)  # different audio
    scorer.score(tone(), sr=22_050)  # same samples, different rate
    assert inner.calls == 3 and scorer.cache.stats() == {"hits": 1, "misses": 3}
    assert scorer.identity == inner.identity and scorer.name == "audiobox"


def test_identity_is_part_of_the_key(tmp_path):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    a, b = CountingScorer("audiobox/inprocess/sha256:aaaa/fp32"), CountingScorer("audiobox/inprocess/sha256:bbbb/fp32")
    CachedScorer(a, cache).score(tone(), sr=16_000)
    CachedScorer(b, cache).score(tone(), sr=16_000)
    assert a.calls == b.calls == 1 and len(cache) == 2


def test_cache_persists_across_instances(tmp_path):
    CachedScorer(CountingScorer(), ScoreCache(tmp_path)).score(tone(), sr=16_000)
    inner = CountingScorer()
    again = CachedScorer(inner, ScoreCache(tmp_path))
    again.score(tone(), sr=16_000)
    assert inner.calls == 0 and again.cache.hits == 1


def test_audio_hash_sees_float32_content_shape_and_rate():
    x = tone()
    assert audio_hash(x, sr=16_000) == audio_hash(x.astype(np.float64), sr=16_000)
    assert audio_hash(x, sr=16_000) != audio_hash(x, sr=16_001)
    assert audio_hash(x, sr=16_000) != audio_hash(x[:, None].repeat(2, axis=1), sr=16_000)
    y = x.copy()
    y[5] += 1e-3
    assert audio_hash(x, sr=16_000) != audio_hash(y, sr=16_000)


def _writer(path: str, worker: int, n: int) -> int:
    cache = ScoreCache(path)
    scorer = CachedScorer(CountingScorer(), cache)
    for i in range(n):
        scorer.score(np.full(100, worker * 1000 + i, dtype=np.float32), sr=16_000)
        scorer.score(np.full(100, -1.0, dtype=np.float32), sr=16_000)  # all workers share this one
    return cache.misses


def test_concurrent_writers_threads_and_processes(tmp_path):
    path = str(tmp_path / "scores.sqlite")
    ScoreCache(path)
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        procs = pool.starmap_async(_writer, [(path, 1, 40), (path, 2, 40)])
        with ThreadPoolExecutor(3) as threads:
            thread_misses = list(threads.map(lambda w: _writer(path, w, 40), [3, 4, 5]))
        proc_misses = procs.get(timeout=120)
    assert len(ScoreCache(path)) == 5 * 40 + 1
    assert all(m >= 40 for m in proc_misses + thread_misses)


def test_unwritable_cache_folder_is_a_parameter_error(tmp_path):
    from rlmdj.errors import ParameterError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ParameterError, match="cannot create score cache"):
        ScoreCache(blocker / "scores")


class WeightedScorer(CountingScorer):
    """CountingScorer whose results carry its (changeable) OBJ weights, as real scorers' do."""

    def __init__(self, weights: dict[str, float]) -> None:
        super().__init__()
        self.weights = dict(weights)

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        r = super().score(audio, sr=sr)
        return ScoreResult(r.scorer, r.identity, r.scores, r.windows, dict(self.weights))


def test_cache_hit_uses_the_current_obj_weights_not_the_stored_ones(tmp_path):
    """Weights are not part of the key, so a hit must be re-weighted with today's scorer.weights."""
    audio = tone()
    first = CachedScorer(WeightedScorer({"CE": 1.0, "CU": 0.0, "PC": 0.0, "PQ": 0.0}), ScoreCache(tmp_path))
    assert first.score(audio, sr=16_000).obj == pytest.approx(first.score(audio, sr=16_000).scores["CE"])
    inner = WeightedScorer({"CE": 0.0, "CU": 0.0, "PC": 0.0, "PQ": 1.0})
    again = CachedScorer(inner, ScoreCache(tmp_path))
    hit = again.score(audio, sr=16_000)
    assert again.cache.hits == 1 and inner.calls == 0
    assert hit.weights == inner.weights and hit.obj == pytest.approx(7.0)
