"""Optional capabilities of drivers and scorers are declared protocols, checked with isinstance.

A driver or scorer that lacks one is simply not asked for it (no AttributeError); one that has
it, by subclassing the protocol or only by having its members, is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scripted import ScriptedLM

from rlmdj.dj.drivers.base import DriverReport, PromptedDriver, SandboxDriver, TranscriptDriver
from rlmdj.dj.drivers.reference import ReferenceDriver
from rlmdj.dj.rlm.driver import RLMDriver
from rlmdj.scoring.base import ScoreResult
from rlmdj.scoring.factory import SCORERS
from rlmdj.tracking.record import set_record
from rlmdj.tracking.traces import set_trace_from_driver

CALL = {"lm": "main", "model": "m", "outputs": ["[[ ## code ## ]]\nprint(play(4))"], "ended_at": 2.0,
        "wall_s": 1.0}
TOOL = {"tool": "play", "args": [4], "bar": 0, "t0": 1.5, "t1": 1.6, "result": {"ok": True}}
RESTART = {"t": 1.7, "reason": "timeout"}


class _Members:
    """What a transcript-keeping, sandboxed, prompted driver has; no protocol in its bases."""

    name = "members"
    prompt_name = "house"
    prompt_text = "Play a house set."

    def __init__(self) -> None:
        self.transcript = type("T", (), {"meta": {"prompt_name": "house"}, "calls": [dict(CALL)]})()
        self.tools = type("Tools", (), {"trace": [dict(TOOL)]})()
        self.replay = None
        self.stop_reason, self.summary, self.autopilot_bars = "submit", "done", 2

    @property
    def restart_log(self) -> list[dict[str, Any]]:
        return [dict(RESTART)]

    def system_text(self) -> str:
        return f"Fields and tools.\n{self.prompt_text}"

    def perform(self, session: Any) -> None:
        session.play(session.max_bars)

    def report(self) -> DriverReport:
        return DriverReport()


class _Declared(_Members, PromptedDriver, TranscriptDriver, SandboxDriver):
    """The same driver, declaring its capabilities by subclassing the protocols."""


class _FakeRun:
    """A tracked run whose store must not be touched (any client call fails the test)."""

    run_id, experiment_id, run_name = "r1", "1", "run"
    tracked = True

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}
        self.client = None

    def set_tags(self, tags: dict[str, str]) -> None:
        self.tags.update(tags)

    def register_prompt(self, name: str, text: str):
        from rlmdj.tracking import prompts  # as TrackedRun does: through the registry module

        return prompts.register_prompt(self, name=name, text=text)


@pytest.mark.parametrize("driver_class", [_Members, _Declared], ids=["conforms", "subclasses"])
def test_a_driver_with_the_capabilities_is_traced_and_its_prompt_registered(driver_class, monkeypatch):
    driver = driver_class()
    assert isinstance(driver, PromptedDriver | TranscriptDriver)
    assert isinstance(driver, SandboxDriver)
    record = set_trace_from_driver(driver)
    assert record is not None
    assert record.calls == [CALL] and record.tool_calls == [TOOL] and record.restarts == [RESTART]
    assert record.outputs == {"stop_reason": "submit", "summary": "done", "autopilot_bars": 2}
    assert record.tags["rlmdj.replay"] == "false" and record.tags["rlmdj.prompt"] == "house"

    registered = []
    monkeypatch.setattr("rlmdj.tracking.prompts.register_prompt",
                        lambda run, *, name, text: registered.append((name, text)) or "v1")
    assert set_record._register_prompt(_FakeRun(), driver) == "v1"
    assert registered == [("house", "Fields and tools.\nPlay a house set.")]  # the text the model is sent


def test_a_driver_without_them_is_not_asked(monkeypatch):
    monkeypatch.setattr("rlmdj.tracking.prompts.register_prompt",
                        lambda *a, **k: pytest.fail("a driver without a prompt registers none"))
    driver = ReferenceDriver()
    assert not isinstance(driver, PromptedDriver | TranscriptDriver | SandboxDriver)
    assert set_trace_from_driver(driver) is None
    assert set_record._register_prompt(_FakeRun(), driver) is None


def test_a_transcript_without_a_sandbox_has_no_restarts():
    class Plain:
        transcript = _Members().transcript
        tools = replay = None
        stop_reason, summary, autopilot_bars = "submit", "", 0

    assert isinstance(Plain(), TranscriptDriver) and not isinstance(Plain(), SandboxDriver)
    record = set_trace_from_driver(Plain())
    assert record is not None and record.restarts == [] and record.tool_calls == []


def test_the_rlm_driver_declares_its_capabilities():
    driver = RLMDriver(prompt_text="You are a techno DJ.", lm=ScriptedLM([]), prompt_name="baseline")
    assert {PromptedDriver, TranscriptDriver, SandboxDriver} <= set(type(driver).__mro__)
    assert driver.restart_log == []  # no sandbox started yet


# ---------------------------------------------------------------- scorers through the run
class _Counts:
    def stats(self) -> dict[str, int]:
        return {"hits": 2, "misses": 1}


class _WindowedCachingScorer:
    """A scorer with a cache and window progress, declaring neither protocol."""

    name = "flat"
    identity = "flat-v1"

    def __init__(self) -> None:
        self.cache = _Counts()
        self.on_windows: Any = None
        self.seen_progress = False

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        if self.on_windows is not None:
            self.on_windows(1, 1)
            self.seen_progress = True
        return ScoreResult(self.name, self.identity, {a: 5.0 for a in ("CE", "CU", "PC", "PQ")})


class _PlainScorer:
    """A scorer with neither: no cache, no window progress."""

    name = "flat"
    identity = "flat-v1"
    seen_progress = False

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        return ScoreResult(self.name, self.identity, {a: 5.0 for a in ("CE", "CU", "PC", "PQ")})


@pytest.mark.slow  # plays, renders and scores a set
@pytest.mark.parametrize("scorer_class", [_WindowedCachingScorer, _PlainScorer])
def test_the_run_uses_a_scorers_cache_and_window_progress_only_when_it_has_them(compose_cfg, scorer_class):
    from rlmdj.experiments.jobs.run import run_set

    scorer = scorer_class()
    with SCORERS.registered("flat", lambda c: scorer):
        outcome = run_set(compose_cfg("scorer.name=flat", "bars=4", "tracking.enabled=false", "progress=true"))
    assert outcome.status == "FINISHED" and outcome.score is not None
    has = scorer_class is _WindowedCachingScorer
    assert scorer.seen_progress is has and getattr(scorer, "on_windows", None) is None
    cache = {k: v for k, v in outcome.metrics.items() if k.startswith("cache/")}
    assert cache == ({"cache/hits": 2.0, "cache/misses": 1.0} if has else {})
