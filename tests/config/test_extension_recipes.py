"""The extension recipes of docs/architecture.md, each exercised with a toy extension.

Each test registers its toy the way the recipe says (one registry entry plus the code), runs it
through the same path a user's command takes, and leaves the registry as it found it. The DJ
tool recipe is tests/dj/test_tool_registry.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rlmdj.dj.drivers.base import DriverReport
from rlmdj.dj.drivers.registry import DRIVERS, build_driver
from rlmdj.errors import ParameterError
from rlmdj.experiments.registry import ANALYSES, JOBS, get_job
from rlmdj.scoring.base import ScoreResult
from rlmdj.scoring.factory import SCORERS, build_scorer


# ---------------------------------------------------------------- a scorer
class LoudnessScorer:
    """Toy scorer: every axis is the audio's RMS level on the 1-10 scale."""

    name = "loudness"
    identity = "loudness-v1"

    def __init__(self, weights: dict[str, float] | None = None) -> None:
        self.weights = weights

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        level = float(np.sqrt(np.mean(np.square(audio)))) if audio.size else 0.0
        value = 1.0 + 9.0 * min(1.0, level)
        kwargs = {"weights": self.weights} if self.weights else {}
        return ScoreResult(self.name, self.identity, {k: value for k in ("CE", "CU", "PC", "PQ")}, **kwargs)


def loudness_scorer(c: Any) -> LoudnessScorer:
    return LoudnessScorer(weights=dict(c.weights))


# ---------------------------------------------------------------- a driver
class FourOnTheFloorDriver:
    """Toy driver: the kick alone, the whole set."""

    name = "kick_only"

    def perform(self, session: Any) -> None:
        session.add("kick", 0.9, "four_on_floor")
        session.play(session.max_bars)

    def report(self) -> DriverReport:
        return DriverReport(metrics={"dj/operations": 1.0})


def kick_only_from_config(cfg: Any, *, ear_scorer: Any = None) -> FourOnTheFloorDriver:
    return FourOnTheFloorDriver()


def test_add_a_scorer(compose_cfg, tmp_path):
    with SCORERS.registered("loudness", loudness_scorer):
        cfg = compose_cfg("scorer.name=loudness")
        scorer = build_scorer(cfg.scorer)
        result = scorer.score(np.full(1000, 0.5, dtype=np.float32), sr=44_100)
        assert scorer.name == "loudness" and result.scores["CE"] == pytest.approx(5.5)
        # scorer.cache=true wraps any registered scorer, keyed by its identity.
        cached = build_scorer(compose_cfg("scorer.name=loudness", "scorer.cache=true",
                                          f"scorer.cache_dir={tmp_path}").scorer)
        assert cached.identity == "loudness-v1"
    with pytest.raises(ParameterError, match="unknown scorer 'loudness' for scorer.name"):
        build_scorer(compose_cfg("scorer.name=loudness").scorer)


@pytest.mark.slow  # plays, renders and scores a set end to end
def test_add_a_driver_and_play_a_run_with_it_and_the_toy_scorer(compose_cfg):
    from rlmdj.experiments.jobs.run import run_set

    with DRIVERS.registered("kick_only", kick_only_from_config), \
            SCORERS.registered("loudness", loudness_scorer):
        cfg = compose_cfg("dj.name=kick_only", "dj.driver=kick_only", "scorer.name=loudness",
                          "bars=4", "tracking.enabled=false")
        assert isinstance(build_driver(cfg), FourOnTheFloorDriver)
        outcome = run_set(cfg, quiet=True)
    assert outcome.status == "FINISHED"
    assert outcome.score is not None and outcome.score.scorer == "loudness"
    assert "kick_only" not in DRIVERS
    with pytest.raises(ParameterError, match="unknown dj driver 'kick_only' for dj.driver"):
        build_driver(cfg)


def test_add_a_job_and_an_analysis(compose_cfg):
    calls: list[str] = []

    def hello_job(cfg: Any) -> float:
        calls.append(str(cfg.bars))
        return 1.5

    def count_analysis(client: Any, experiment_id: str, parent: str, config: Any, *, out_dir: Any) -> int:
        return 7

    with JOBS.registered("hello", hello_job), ANALYSES.registered("count", count_analysis):
        cfg = compose_cfg("experiment.name=hello", "experiment.analysis=count", "bars=8")
        # The entry point runs exactly this: the job experiment.name names.
        assert get_job(str(cfg.experiment.name))(cfg) == 1.5 and calls == ["8"]
        from rlmdj.experiments.registry import run_analysis

        assert run_analysis("count", None, "0", "p", cfg, out_dir=None) == 7
    with pytest.raises(ParameterError, match="unknown experiment job 'hello' for experiment.name"):
        get_job("hello")
