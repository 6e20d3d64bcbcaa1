"""`dj=rlm` through the real run pipeline and store: tracked set, exact replay, LM outage."""

from __future__ import annotations

from pathlib import Path

import dspy
import pytest
from mlflow.tracking import MlflowClient
from scripted import ScriptedLM

from rlmdj.dj.rlm import lm as lm_module
from rlmdj.experiments.jobs.replay import replay_job
from rlmdj.experiments.jobs.run import run_set

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

SET = [
    "print(add('kick', 0.92, 'four_on_floor'))\nprint(play(4))",
    "print(add('hihat', 0.55, 'offbeat_8ths'))\nprint(add('bassline', 0.65))\nprint(play(4))",
    "print(fader('hihat', 0.5))\nprint(play(8))",
]
OVERRIDES = ("dj=rlm", "model=openai", "prompt=baseline", "bars=16", "model.backoff_s=0",
             "dj.sandbox.timeout_s=60")


def scripted_models(monkeypatch, main: ScriptedLM) -> None:
    """Every model the config asks for becomes a scripted one (no key, no network)."""

    def build(settings, *, replica=0, role="model"):
        if role == "critic model":
            return ScriptedLM([], fallback={"direction": "hold the groove"})
        return main

    monkeypatch.setattr(lm_module, "build_lm", build)


def store(tmp_path: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")


def render_sha(client: MlflowClient, run_id: str) -> str:
    """The float render's digest: replays compare the music, not the container."""
    return client.get_run(run_id).data.tags["rlmdj.render_sha256"]


def test_tracked_rlm_run_replays_byte_identical_without_the_model(tmp_path, monkeypatch, compose_cfg):
    main = ScriptedLM(SET)
    scripted_models(monkeypatch, main)
    outcome = run_set(compose_cfg(*OVERRIDES))
    assert outcome.status == "FINISHED"
    client = store(tmp_path)
    run = client.get_run(outcome.run_id)
    assert run.data.metrics["dj/lm_calls"] == len(SET)
    assert run.data.metrics["dj/realtime_factor"] > 0
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id, "dj")}
    assert {"dj/transcript.json", "dj/tool_trace.json"} <= artifacts
    assert not any("OPENAI_API_KEY=" in v for v in run.data.params.values())

    def no_model(*args, **kwargs):
        raise AssertionError("a replay must not build a model")

    monkeypatch.setattr(lm_module, "build_lm", no_model)
    replay_job(compose_cfg("experiment=replay", f"experiment.replay.run_id={outcome.run_id}"))
    runs = client.search_runs([run.info.experiment_id], filter_string="tags.`rlmdj.replay_of` != ''")
    (replayed,) = runs
    assert replayed.info.status == "FINISHED"
    assert render_sha(client, replayed.info.run_id) == render_sha(client, outcome.run_id)


def test_lm_that_never_recovers_fails_the_run_with_partial_record(tmp_path, monkeypatch, compose_cfg):
    main = ScriptedLM([SET[0]], fallback=dspy.LMRateLimitError("slow down"))
    scripted_models(monkeypatch, main)
    with pytest.raises(dspy.LMRateLimitError):
        run_set(compose_cfg(*OVERRIDES, "model.retries=1"))
    client = store(tmp_path)
    (run,) = client.search_runs([client.get_experiment_by_name("rlmdj").experiment_id])
    assert run.info.status == "FAILED"
    assert {a.path for a in client.list_artifacts(run.info.run_id, "audio")} == {"audio/partial.flac"}
    assert "dj/transcript.json" in {a.path for a in client.list_artifacts(run.info.run_id, "dj")}
    assert run.data.metrics["dj/lm_failed_attempts"] >= 2
