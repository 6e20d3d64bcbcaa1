"""A deterministic stand-in for audiobox behind the real scoring API, shared by the screening,
rescore and compare tests."""

from __future__ import annotations

import threading

import numpy as np

from rlmdj.scoring.base import AXES, ScoreResult, WindowScore, plan_windows, weighted_average


class RmsScorer:
    """Deterministic stand-in for audiobox: scores from window RMS; records each batch's size."""

    name = "audiobox"
    identity = "audiobox/test/rms"
    model_identity = "rms-v1"

    def __init__(self, fail_ce_above: float = np.inf) -> None:
        self.batches: list[int] = []
        self.fail_ce_above = fail_ce_above
        self._lock = threading.Lock()

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        mono = np.asarray(audio, dtype=np.float64).reshape(len(audio), -1).mean(axis=1)
        windows = plan_windows(len(mono), sr=sr)
        rows = [{a: 4.0 + i + 10 * float(np.sqrt(np.mean(mono[w.start: w.start + w.valid] ** 2)))
                 for i, a in enumerate(AXES)} for w in windows]
        scores = weighted_average(rows, [w.weight for w in windows])
        if scores["CE"] > self.fail_ce_above:
            raise RuntimeError("this set breaks the model")
        return ScoreResult(self.name, self.identity, scores,
                           [WindowScore(w.start / sr, w.valid / sr, w.weight, r) for w, r in zip(windows, rows, strict=True)])

    def score_batch(self, items):
        with self._lock:
            self.batches.append(len(items))
        return [self.score(a, sr=sr) for a, sr in items]
