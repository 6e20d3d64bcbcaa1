"""The greedy DJ: seeded and deterministic, logged, and better than the random DJ it draws from."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlmdj.audio.palette import random_palette
from rlmdj.audio.wavio import normalize_peak
from rlmdj.dj.drivers.greedy import GreedyDriver
from rlmdj.dj.drivers.random import RandomDriver
from rlmdj.dj.drivers.registry import build_driver
from rlmdj.dj.tools.guardrails import Guardrails
from rlmdj.experiments.assemble import make_driver


def _obj(session, scorer) -> float:
    return scorer.score(normalize_peak(session.audio()), sr=session.grid.sr).obj


def test_same_seed_same_set_and_moves_log(make_session, proxy) -> None:
    runs = []
    for _ in range(2):
        session = make_session(16)
        driver = GreedyDriver(seed=3, scorer=proxy, guardrails=Guardrails())
        driver.perform(session)
        runs.append((session.audio().tobytes(), driver.report()))
    assert runs[0][0] == runs[1][0]
    report = runs[0][1]
    assert report.artifacts == runs[1][1].artifacts
    phrases = json.loads(report.artifacts["dj/moves.json"])
    assert [p["bar"] for p in phrases] == [0, 8]
    for p in phrases:
        assert p["candidates"][0]["moves"] == []  # hold is always a candidate
        assert 2 <= len(p["candidates"]) <= 7
        best = max(c["OBJ"] for c in p["candidates"])
        assert p["candidates"][p["chosen"]]["OBJ"] == best
    assert report.metrics["dj/ears_calls"] == sum(len(p["candidates"]) for p in phrases)
    assert report.metrics["time/ears_s"] > 0


def test_the_set_plays_the_candidate_that_was_heard(make_session, proxy) -> None:
    """Auditions and the committed phrase go through the same tools and render, so each chosen
    candidate's score is the score of the bars the set then played, also across phase edges."""
    from rlmdj.dj.ears import score_stretch

    session = make_session(32)  # the last phrase crosses the edges at bars 26 and 29
    driver = GreedyDriver(seed=0, scorer=proxy, guardrails=Guardrails(), candidates=3)
    driver.perform(session)
    assert driver.guardrails.counts["density"] > 0  # a lower layer ceiling bit inside a phrase
    for p in json.loads(driver.report().artifacts["dj/moves.json"]):
        obj, _ = score_stretch(session.segment(p["bar"], p["bar"] + p["bars"]), sr=session.grid.sr,
                               scorer=proxy, normalize_dbfs=driver.normalize_dbfs)
        assert round(obj, 4) == p["candidates"][p["chosen"]]["OBJ"]
    assert driver.report().tags["dj.ears_scorer"] == "proxy-v1"


def test_greedy_beats_random_on_fixed_seeds(sample_index, make_session, proxy) -> None:
    greedy, rand = [], []
    for seed in range(4):
        palette = random_palette(sample_index, seed=100 + seed)
        for driver, out in ((GreedyDriver(seed=seed, scorer=proxy), greedy),
                            (RandomDriver(seed=seed, guardrails=Guardrails()), rand)):
            session = make_session(16, palette)
            driver.perform(session)
            out.append(_obj(session, proxy))
    diffs = np.array(greedy) - np.array(rand)
    assert diffs.mean() > 0.3 and (diffs > 0).sum() >= 3, diffs


def test_dj_greedy_is_built_from_config(compose_cfg) -> None:
    cfg = compose_cfg("dj=greedy", "dj.candidates=3", "replica=2")
    driver = make_driver(cfg)
    assert isinstance(driver, GreedyDriver)
    assert driver.candidates == 3 and driver.phrase_bars == 8 and driver.scorer.name == "proxy"
    other = make_driver(compose_cfg("dj=greedy", "replica=3"))
    assert other.seed != driver.seed
    # The dj layer builds no scorer: a greedy DJ built without one says what is missing.
    with pytest.raises(TypeError, match="dj=greedy needs ears"):
        build_driver(cfg)


def test_the_injected_ear_scorer_is_the_one_that_hears(compose_cfg, proxy) -> None:
    calls: list[int] = []

    def source():
        calls.append(1)
        return proxy

    assert build_driver(compose_cfg("dj=greedy"), ear_scorer=source).scorer is proxy
    assert calls == [1]
    build_driver(compose_cfg("dj=random"), ear_scorer=source)  # a deaf DJ builds no scorer
    assert calls == [1]


def test_ears_scorer_follows_the_run_and_bad_names_name_the_key(compose_cfg) -> None:
    from rlmdj.errors import ParameterError
    from rlmdj.experiments.assemble import ears_scorer

    cfg = compose_cfg("dj=greedy", "scorer.weights.CE=1.0", "scorer.weights.PQ=0.0")
    assert ears_scorer(cfg).weights["CE"] == 1.0  # the run's OBJ weights
    with pytest.raises(ParameterError, match="ears.scorer=nope"):
        ears_scorer(compose_cfg("dj=greedy", "ears.scorer=nope"))
    with pytest.raises(ParameterError, match="ears.scorer=nope"):
        make_driver(compose_cfg("dj=greedy", "ears.scorer=nope"))
    # Deaf drivers never build the ears scorer, so a bad name only matters where it is used.
    assert make_driver(compose_cfg("dj=reference", "ears.scorer=nope")).name == "reference"


def test_listening_prompt_needs_ears(compose_cfg) -> None:
    from rlmdj.dj.rlm.driver import rlm_driver_from_config
    from rlmdj.errors import ParameterError

    with pytest.raises(ParameterError, match="ears=on"):
        rlm_driver_from_config(compose_cfg("dj=rlm", "model=ollama", "prompt=listening"))
    driver = make_driver(compose_cfg("dj=rlm", "model=ollama", "prompt=listening", "ears=on"))
    assert driver.ears is not None and driver.ears.settings.max_auditions == 8
    assert driver.ears.scorer.name == "proxy"
    with pytest.raises(TypeError, match="ears=on needs ears"):
        rlm_driver_from_config(compose_cfg("dj=rlm", "model=ollama", "prompt=listening", "ears=on"))
