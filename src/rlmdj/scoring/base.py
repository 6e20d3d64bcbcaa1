"""The Scorer interface every backend implements, and the audiobox-style windowing it shares.

audiobox-aesthetics scores 10 s windows with a 10 s hop, zero-pads the last window, and averages
window scores weighted by each window's real length. Every backend (the offline proxy and the
real model, in-process or over HTTP) reports per-window scores *and* that weighted average, so a
run can show where in the set the scores drop.

What some scorers can do beyond :class:`Scorer` is declared by a protocol, checked with
``isinstance``: :class:`WindowedScorer` reports its progress through a long set's windows,
:class:`CachingScorer` answers from a cache and counts hits, :class:`WrappingScorer` adds
something around another scorer, :class:`BatchScorer` scores several sets in one request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from rlmdj.axes import AXES
from rlmdj.config.scorer import ScorerConfig
from rlmdj.errors import ParameterError

__all__ = [
    "AXES",
    "DEFAULT_WEIGHTS",
    "MIN_SCORE_S",
    "Window",
    "WindowScore",
    "windowed",
    "BatchScorer",
    "CachingScorer",
    "ScoreCounts",
    "ScoreResult",
    "Scorer",
    "WindowedScorer",
    "WrappingScorer",
    "min_score_frames",
    "objective",
    "plan_windows",
    "weighted_average",
]

DEFAULT_WEIGHTS: Mapping[str, float] = ScorerConfig().weights
"""OBJ's weights unless a scorer is given others: the schema's ``scorer.weights``."""
MIN_SCORE_S = 0.1
"""The shortest audio a scoring window scores: shorter audio is refused, not scored.

Each window is 10 s, zero-padded past the audio's end, so a 1-sample file would still get a
score -- of padding. 0.1 s fills the scorers' smallest analysis frames with real audio: the
proxy's 100 ms activity frames and 46 ms STFT frames, and five of audiobox's WavLM frames (20 ms
hop, 25 ms receptive field at 16 kHz).
"""


@dataclass(frozen=True)
class Window:
    """One scoring window: ``[start, start + length)`` in samples; ``valid`` samples are real audio."""

    start: int
    length: int
    valid: int

    @property
    def weight(self) -> float:
        """Fraction of the window that holds real (not zero-padded) audio."""
        return self.valid / self.length


def min_score_frames(sr: int) -> int:
    """Frames of :data:`MIN_SCORE_S` at ``sr`` Hz, rounded up: the fewest a scorer accepts."""
    return math.ceil(round(MIN_SCORE_S * sr, 6))


def plan_windows(n_samples: int, *, sr: int, window_s: float = 10.0, hop_s: float = 10.0) -> list[Window]:
    """Windows covering ``n_samples`` as audiobox does: fixed length, fixed hop, last one padded."""
    if n_samples <= 0:
        raise ParameterError(f"cannot score empty audio (n_samples={n_samples})")
    length = int(round(window_s * sr))
    hop = int(round(hop_s * sr))
    if length <= 0 or hop <= 0:
        raise ParameterError(f"window_s and hop_s must be positive, got {window_s}, {hop_s}")
    windows = []
    start = 0
    while start < n_samples:
        windows.append(Window(start=start, length=length, valid=min(length, n_samples - start)))
        start += hop
    return windows


def weighted_average(rows: Sequence[Mapping[str, float]], weights: Sequence[float]) -> dict[str, float]:
    """Per-axis average of window scores weighted by each window's real length."""
    w = np.asarray(weights, dtype=np.float64)
    if len(rows) != len(w) or len(rows) == 0 or w.sum() <= 0:
        raise ParameterError("weighted_average needs one positive weight per window score")
    return {
        axis: float(np.dot([r[axis] for r in rows], w) / w.sum()) for axis in rows[0]
    }


def objective(scores: Mapping[str, float], weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> float:
    """OBJ = sum of weight x axis score (default 0.60 CE + 0.05 CU + 0.05 PC + 0.30 PQ)."""
    missing = [a for a in weights if a not in scores]
    if missing:
        raise ParameterError(f"scores lack axes {missing}; have {sorted(scores)}")
    return float(sum(float(w) * float(scores[a]) for a, w in weights.items()))


@dataclass(frozen=True)
class WindowScore:
    """Scores of one window; ``start_s``/``duration_s`` in seconds of real audio."""

    start_s: float
    duration_s: float
    weight: float
    scores: dict[str, float]


@dataclass(frozen=True)
class ScoreResult:
    """Overall and per-window scores from one scorer.

    ``scorer`` is the metric prefix (``proxy``, ``audiobox``...); ``identity`` names the exact
    scorer (backend, version, checkpoint hash) so runs scored differently are never pooled.
    """

    scorer: str
    identity: str
    scores: dict[str, float]
    windows: list[WindowScore] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @property
    def obj(self) -> float:
        return objective(self.scores, self.weights)

    def metrics(self) -> dict[str, float]:
        """Flat ``<scorer>/<axis>`` metrics including ``<scorer>/OBJ``."""
        out = {f"{self.scorer}/{k}": float(v) for k, v in self.scores.items()}
        out[f"{self.scorer}/OBJ"] = self.obj
        return out

    def to_dict(self) -> dict:
        return {
            "scorer": self.scorer,
            "identity": self.identity,
            "scores": dict(self.scores),
            "obj": self.obj,
            "weights": dict(self.weights),
            "windows": [
                {"start_s": w.start_s, "duration_s": w.duration_s, "weight": w.weight, "scores": w.scores}
                for w in self.windows
            ],
        }


@runtime_checkable
class Scorer(Protocol):
    """Anything that turns audio into CE/CU/PC/PQ scores on the audiobox scale."""

    name: str
    """Metric prefix, e.g. ``proxy`` or ``audiobox``."""

    @property
    def identity(self) -> str:
        """Exact identity (backend, version, checkpoint hash) recorded as a run tag."""
        ...

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        """Score float audio shaped ``(frames,)`` or ``(frames, channels)`` at ``sr`` Hz."""
        ...


@runtime_checkable
class WindowedScorer(Protocol):
    """A scorer that reports its progress through a long set: ``on_windows(done, total)``
    after each batch of windows, when the caller sets it (``None``: nobody listens)."""

    on_windows: Callable[[int, int], None] | None


class ScoreCounts(Protocol):
    """A score cache's counters for this process: ``{"hits": n, "misses": m}``."""

    def stats(self) -> dict[str, int]: ...


@runtime_checkable
class CachingScorer(Protocol):
    """A scorer that answers from a score cache when it has scored the same audio before."""

    cache: ScoreCounts


@runtime_checkable
class WrappingScorer(Protocol):
    """A scorer that adds something (a cache) around ``inner``, which does the scoring."""

    inner: Scorer


@runtime_checkable
class BatchScorer(Protocol):
    """A scorer that scores several sets at once (one request for a server's batch)."""

    def score_batch_outcomes(self, items: Sequence[tuple[np.ndarray, int]]) -> list[ScoreResult | Exception]:
        """Each set's result, or that set's own error, in the order given."""
        ...


def windowed(scorer: Scorer) -> WindowedScorer | None:
    """The scorer that reports windows, found through any wrappers (a cache) around it."""
    while not isinstance(scorer, WindowedScorer):
        if not isinstance(scorer, WrappingScorer):
            return None
        scorer = scorer.inner
    return scorer
