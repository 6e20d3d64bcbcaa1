"""Score cache: the same audio is never scored twice by the same scorer.

* :func:`audio_hash` -- content hash of audio as scorers see it (float32 samples, shape, rate).
* :class:`ScoreCache` -- SQLite store keyed by ``(scorer identity, audio hash)``; WAL journal and a
  busy timeout make concurrent writers (sweep workers, threads) safe; hits and misses counted.
* :class:`CachedScorer` -- wraps any Scorer (``inner``) with a cache; same ``name`` and ``identity``.

The identity includes the checkpoint hash and precision, so new model weights never reuse old scores.
The OBJ weights are not part of the key (they do not change the axis scores): a hit is returned
with the wrapped scorer's current weights, so changing ``scorer.weights`` re-weights cached scores.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlmdj.errors import ParameterError, RlmdjError
from rlmdj.scoring.base import (
    BatchScorer,
    CachingScorer,
    Scorer,
    ScoreResult,
    WindowScore,
    WrappingScorer,
)

__all__ = ["CACHE_FILENAME", "audio_hash", "ScoreCache", "CachedScorer"]

CACHE_FILENAME = "scores.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    identity   TEXT NOT NULL,
    audio_hash TEXT NOT NULL,
    result     TEXT NOT NULL,
    created    REAL NOT NULL,
    PRIMARY KEY (identity, audio_hash)
)
"""


def audio_hash(audio: np.ndarray, *, sr: int) -> str:
    """sha256 over the rate, shape and float32 samples (what every scorer actually consumes)."""
    x = np.ascontiguousarray(np.asarray(audio, dtype=np.float32))
    digest = hashlib.sha256(f"sr={int(sr)};shape={x.shape};f32le;".encode())
    digest.update(x.astype("<f4", copy=False).tobytes())
    return digest.hexdigest()


def _result_from_dict(d: dict[str, Any]) -> ScoreResult:
    return ScoreResult(
        scorer=d["scorer"],
        identity=d["identity"],
        scores={k: float(v) for k, v in d["scores"].items()},
        windows=[WindowScore(**w) for w in d.get("windows", [])],
        weights={k: float(v) for k, v in d["weights"].items()},
    )


class ScoreCache:
    """SQLite score store at ``path`` (a file, or a folder that gets ``scores.sqlite``).

    Each operation opens its own short connection, so instances are safe across threads and
    processes; WAL lets readers proceed during writes and ``busy_timeout_s`` queues writers.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        p = Path(path).expanduser()
        if p.suffix not in (".sqlite", ".db", ".sqlite3"):
            p = p / CACHE_FILENAME
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(f"cannot create score cache folder {p.parent}: {exc}") from exc
        self.path = p
        self.busy_timeout_s = float(busy_timeout_s)
        self.hits = 0
        self.misses = 0
        self._count_lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            yield db
        finally:
            db.close()

    def get(self, identity: str, key: str) -> ScoreResult | None:
        """The stored result, counting a hit or a miss."""
        with self._connect() as db:
            row = db.execute(
                "SELECT result FROM scores WHERE identity = ? AND audio_hash = ?", (identity, key)
            ).fetchone()
        with self._count_lock:
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return _result_from_dict(json.loads(row[0]))

    def put(self, identity: str, key: str, result: ScoreResult) -> None:
        """Store ``result``; a concurrent identical write is harmless (last one wins)."""
        payload = json.dumps(result.to_dict(), sort_keys=True)
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO scores (identity, audio_hash, result, created) VALUES (?, ?, ?, ?)",
                (identity, key, payload, time.time()),
            )

    def __len__(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    def stats(self) -> dict[str, int]:
        """Hits and misses of this instance (log as ``cache/hits``, ``cache/misses``)."""
        return {"hits": self.hits, "misses": self.misses}


class CachedScorer(WrappingScorer, CachingScorer, BatchScorer):
    """A Scorer that answers from ``cache`` when ``inner`` has scored the same audio before."""

    def __init__(self, scorer: Scorer, cache: ScoreCache) -> None:
        self.inner = scorer
        self.cache: ScoreCache = cache
        self.name = scorer.name

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def model_identity(self) -> str:
        return str(getattr(self.inner, "model_identity", None) or self.inner.identity)

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        identity = self.identity
        key = audio_hash(audio, sr=sr)
        cached = self.cache.get(identity, key)
        if cached is not None:
            weights = getattr(self.inner, "weights", None)
            return dataclasses.replace(cached, weights=dict(weights)) if weights else cached
        result = self.inner.score(audio, sr=sr)
        self.cache.put(identity, key, result)
        return result

    def score_batch_outcomes(self, items: Sequence[tuple[np.ndarray, int]]) -> list[Any]:
        """Cached sets from the cache; the rest in one batch through the wrapped scorer (its
        ``score_batch_outcomes`` when it has one); each outcome a result or that set's error."""
        identity = self.identity
        weights = getattr(self.inner, "weights", None)
        keys = [audio_hash(audio, sr=sr) for audio, sr in items]
        out: list[Any] = []
        missing: list[int] = []
        for i, key in enumerate(keys):
            cached = self.cache.get(identity, key)
            if cached is not None and weights:
                cached = dataclasses.replace(cached, weights=dict(weights))
            out.append(cached)
            if cached is None:
                missing.append(i)
        if missing and isinstance(self.inner, BatchScorer):
            fresh = self.inner.score_batch_outcomes([items[i] for i in missing])
        else:
            fresh = []
            for i in missing:
                try:
                    fresh.append(self.inner.score(items[i][0], sr=items[i][1]))
                except RlmdjError as exc:
                    fresh.append(exc)
        for i, outcome in zip(missing, fresh, strict=True):
            if isinstance(outcome, ScoreResult):
                self.cache.put(identity, keys[i], outcome)
            out[i] = outcome
        return out
