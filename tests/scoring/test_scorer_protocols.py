"""What a scorer can do beyond scoring is a declared protocol: the cache declares its own, the
backends just have the members, and a scorer without one is scored the plain way."""

from __future__ import annotations

import numpy as np
import pytest

from rlmdj.errors import RlmdjError
from rlmdj.scoring.base import (
    BatchScorer,
    CachingScorer,
    ScoreResult,
    WindowedScorer,
    WrappingScorer,
    windowed,
)
from rlmdj.scoring.cache import CachedScorer, ScoreCache
from rlmdj.scoring.proxy import ProxyScorer

AXES = ("CE", "CU", "PC", "PQ")


class OneByOne:
    """A scorer with none of the optional capabilities; refuses silent audio."""

    name = "flat"
    identity = "flat-v1"

    def __init__(self) -> None:
        self.calls = 0

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        self.calls += 1
        if not np.any(audio):
            raise RlmdjError("silence")
        return ScoreResult(self.name, self.identity, {a: float(audio[0]) for a in AXES})


class Batched(OneByOne):
    """The same scorer with a batch path (by its members only; no protocol in its bases)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def score_batch_outcomes(self, items):
        self.batches.append(len(items))
        return [ScoreResult(self.name, self.identity, {a: float(x[0]) for a in AXES}) for x, _ in items]


def test_the_cache_declares_what_it_is_and_the_backends_conform(tmp_path):
    cached = CachedScorer(ProxyScorer(), ScoreCache(tmp_path))
    assert {WrappingScorer, CachingScorer, BatchScorer} <= set(type(cached).__mro__)
    assert isinstance(cached.inner, ProxyScorer) and cached.cache.stats() == {"hits": 0, "misses": 0}
    proxy = ProxyScorer()
    assert not isinstance(proxy, WindowedScorer | CachingScorer | WrappingScorer | BatchScorer)
    assert isinstance(Batched(), BatchScorer) and not isinstance(OneByOne(), BatchScorer)


def test_the_cache_batches_through_an_inner_batch_scorer_and_scores_others_one_by_one(tmp_path):
    items = [(np.full(100, 3.0, dtype=np.float32), 16_000), (np.full(100, 4.0, dtype=np.float32), 16_000)]
    batched = Batched()
    out = CachedScorer(batched, ScoreCache(tmp_path / "a")).score_batch_outcomes(items)
    assert batched.batches == [2] and batched.calls == 0 and [o.scores["CE"] for o in out] == [3.0, 4.0]

    plain = OneByOne()
    silent = (np.zeros(100, dtype=np.float32), 16_000)
    out = CachedScorer(plain, ScoreCache(tmp_path / "b")).score_batch_outcomes([*items, silent])
    assert plain.calls == 3 and isinstance(out[2], RlmdjError) and out[0].scores["CE"] == 3.0


@pytest.mark.parametrize("scorer_class", [Batched, OneByOne])
def test_screening_uses_a_batch_path_only_where_there_is_one(compose_cfg, scorer_class):
    from rlmdj.experiments.jobs.screen import score_in_batches

    scorer = scorer_class()
    renders = [(i, f"p{i}", np.full(10, float(i + 1), dtype=np.float32), {}) for i in range(3)]
    done: list[tuple] = []
    score_in_batches(compose_cfg("scorer.max_batch_sets=2"), iter(renders), done.append, scorer=scorer)
    assert [row[2] for row in done] == pytest.approx([1.0, 2.0, 3.0])
    if scorer_class is Batched:
        assert scorer.batches == [2, 1] and scorer.calls == 0
    else:
        assert scorer.calls == 3


class Windows(OneByOne):
    """A scorer that reports windows as the audiobox scorer does."""

    def __init__(self) -> None:
        super().__init__()
        self.on_windows = None

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        for done in (1, 2, 3):
            if self.on_windows is not None:
                self.on_windows(done, 3)
        return super().score(audio, sr=sr)


def test_window_progress_is_found_through_the_cache(tmp_path):
    inner = Windows()
    cached = CachedScorer(inner, ScoreCache(tmp_path))
    assert not isinstance(cached, WindowedScorer) and windowed(cached) is inner
    assert windowed(CachedScorer(OneByOne(), ScoreCache(tmp_path / "b"))) is None and windowed(OneByOne()) is None
    seen: list[tuple[int, int]] = []
    windowed(cached).on_windows = lambda done, total: seen.append((done, total))
    cached.score(np.full(100, 2.0, dtype=np.float32), sr=16_000)
    assert seen == [(1, 3), (2, 3), (3, 3)]
