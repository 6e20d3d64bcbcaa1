"""The lean scaffold and windowed history in the real sandbox; replicas and DSPy's LM cache.

Request sizes come from a scripted LM that keeps every request; replays from the real run
pipeline and store; the cache from the ``rlmdj`` command against the scripted OpenAI-compatible
server, whose log counts the requests that reached the model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import CRITIC_MARKER, FakeOpenAI
from mlflow.tracking import MlflowClient
from scripted import ScriptedLM

from rlmdj.config.dj import DJConfig, ModelConfig, SandboxConfig
from rlmdj.dj.rlm import lm as lm_module
from rlmdj.dj.rlm.driver import RLMDriver, RLMSettings
from rlmdj.experiments.jobs.replay import replay_job
from rlmdj.experiments.jobs.run import run_set
from rlmdj.resources import bundled_dir

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

RLMDJ = str(Path(sys.executable).parent / "rlmdj")
BASELINE = (bundled_dir("prompts") / "baseline.txt").read_text()
SET_32 = [
    "print(status())",
    "print(add('kick', 0.92, 'four_on_floor'))\nprint(add('hihat', 0.55, 'offbeat_8ths'))\nprint(play(8))",
    "print(add('bassline', 0.65))\nprint(add('perc', 0.42, 'syncopated_a'))\nprint(play(8))",
    "print(fader('hihat', 0.6))\nprint(play(8))",
    "print(remove('perc'))\nprint(play(8))",
]
MOVES = ["print(add('kick', 0.92, 'four_on_floor'))", "print(add('hihat', 0.55, 'offbeat_8ths'))",
         "print(add('bassline', 0.65))", "print(fader('hihat', 0.6))", "print(status())"]
SET_128 = [f"{MOVES[i % len(MOVES)]}\nprint(play(4))" for i in range(32)]


def play(make_session, script, bars, **dj) -> tuple[RLMDriver, list[list[dict]]]:
    lm = ScriptedLM(script)
    settings = RLMSettings(dj=DJConfig(sandbox=SandboxConfig(timeout_s=60), **dj), model=ModelConfig(backoff_s=0.0))
    driver = RLMDriver(prompt_text=BASELINE, lm=lm, settings=settings, sleep=lambda s: None,
                       critic_lm=ScriptedLM([], fallback={"direction": "hold the groove"}))
    session = make_session(bars)
    driver.perform(session)
    assert session.finished and driver.stop_reason == "hard_stop"
    return driver, lm.requests


def chars(request: list[dict]) -> int:
    return sum(len(str(m["content"])) for m in request)


def test_lean_window_requests_are_short_and_bounded_however_long_the_set(make_session):
    before, stock = play(make_session, SET_32, 32, scaffold="dspy", history="full")
    lean, short = play(make_session, SET_32, 32)
    _, long = play(make_session, SET_128, 128)
    assert len(short) == 5 and len(long) == 32
    # What is sent is what is registered.
    assert short[0][0]["content"] == lean.system_text() and stock[0][0]["content"] == before.system_text()
    assert lean.report().tags["dj.system_sha256"] != before.report().tags["dj.system_sha256"]
    assert chars(short[0]) <= 6000 < chars(stock[0])
    assert sum(map(chars, short)) <= 0.65 * sum(map(chars, stock))
    largest = max(map(chars, long))
    assert largest <= 12000 and largest <= 1.4 * max(map(chars, short))
    # Past the window the ledger stands for the earlier steps; the last three are verbatim.
    last = long[-1][1]["content"]
    assert "=== Steps 1-28 in brief (the last 3 follow in full) ===" in last
    assert "=== Step 29 ===" in last and "=== Step 28 ===" not in last
    assert "bars played: 124 of 128" in last
    tags = lean.report().tags
    assert (tags["dj.scaffold"], tags["dj.history"], tags["rlmdj.lm_cache"]) == ("lean", "window 3", "false")


def scripted_models(monkeypatch, main: ScriptedLM) -> None:
    def build(settings, *, replica=0, role="model"):
        if role == "critic model":
            return ScriptedLM([], fallback={"direction": "hold the groove"})
        return main

    monkeypatch.setattr(lm_module, "build_lm", build)


def test_a_windowed_set_replays_byte_identical(tmp_path, monkeypatch, compose_cfg):
    scripted_models(monkeypatch, ScriptedLM(SET_32))
    outcome = run_set(compose_cfg("dj=rlm", "model=openai", "prompt=baseline", "bars=32", "model.backoff_s=0",
                                  "dj.history_window=1"))
    assert outcome.status == "FINISHED"
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    recorded = json.loads(Path(client.download_artifacts(outcome.run_id, "dj/transcript.json")).read_text())
    mains = [c for c in recorded["calls"] if c["lm"] == "main"]
    assert "in brief (the last 1 follow in full)" in json.dumps(mains[-1]["messages"])
    assert recorded["meta"]["history_window"] == 1

    monkeypatch.setattr(lm_module, "build_lm", lambda *a, **k: pytest.fail("a replay builds no model"))
    replay_job(compose_cfg("experiment=replay", f"experiment.replay.run_id={outcome.run_id}"))
    experiment = client.get_run(outcome.run_id).info.experiment_id
    (replayed,) = client.search_runs([experiment], filter_string="tags.`rlmdj.replay_of` != ''")
    assert replayed.info.status == "FINISHED"
    tags = [client.get_run(r).data.tags for r in (outcome.run_id, replayed.info.run_id)]
    assert tags[0]["rlmdj.render_sha256"] == tags[1]["rlmdj.render_sha256"]
    assert tags[0]["dj.history"] == tags[1]["dj.history"] == "window 1"
    assert "dj.replay_divergence" not in tags[1]


def _cli(tmp_path: Path, server: FakeOpenAI, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RLMDJ, "dj=rlm", "model=local", f"model.api_base={server.base_url}", "prompt=baseline", "bars=16",
         "palette=example", "progress=false", "guardrails.critic=false", *overrides],
        cwd=tmp_path, env={**os.environ, "DSPY_CACHEDIR": str(tmp_path / "dspy-cache")},
        capture_output=True, text=True, timeout=300,
    )


def test_replicas_never_share_an_answer_and_the_cache_serves_only_a_rerun(tmp_path):
    script = SET_32[1:3]  # two 8-bar steps

    def sent(*overrides: str) -> int:
        with FakeOpenAI(script) as server:
            proc = _cli(tmp_path, server, *overrides)
            assert proc.returncode == 0, proc.stderr[-2000:]
            return sum(1 for r in server.requests if CRITIC_MARKER not in json.dumps(r["messages"]))

    # With the cache on, replica 1 asks the same questions as replica 0 and still reaches the
    # model (its own rollout_id); re-running replica 0 is served from the cache.
    assert sent("replica=0", "model.cache=true") == 2
    assert sent("replica=1", "model.cache=true") == 2
    assert sent("replica=0", "model.cache=true") == 0
    # With the cache off (the default), a re-run reaches the model again.
    assert sent("replica=0") == 2
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    runs = client.search_runs([client.get_experiment_by_name("rlmdj").experiment_id], order_by=["start_time ASC"])
    assert [r.data.tags["rlmdj.lm_cache"] for r in runs] == ["true", "true", "true", "false"]
    renders = {r.data.tags["rlmdj.render_sha256"] for r in runs}
    assert len(renders) == 1  # the same scripted answers: the same set
