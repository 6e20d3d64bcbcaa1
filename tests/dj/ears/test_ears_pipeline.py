"""`dj=rlm ears=on` through the run pipeline and store: accounting as metrics, and
`experiment=replay` (composed with ears off) hears through the recorded ears and reproduces the
set byte for byte."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient
from scripted import ScriptedLM

from rlmdj.dj.rlm import lm as lm_module
from rlmdj.experiments.jobs.replay import replay_job
from rlmdj.experiments.jobs.run import run_set

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

SET = [
    "print(add('kick', 0.92, 'four_on_floor'))\nprint(add('hihat', 0.55, 'offbeat_8ths'))\nprint(play(4))",
    "import json\nr = json.loads(audition([['add', 'bassline', 0.65]], 4))\n"
    "if r['delta']['OBJ'] > 0:\n    print(add('bassline', 0.65))\nelse:\n    print(fader('hihat', 0.5))\n"
    "print(play(4))\nprint(listen(8))",
    "print(play(8))",
]


def test_hearing_run_is_accounted_and_replays_byte_identical(tmp_path, monkeypatch, compose_cfg):
    main = ScriptedLM(SET)

    def build(settings, *, replica=0, role="model"):
        return ScriptedLM([], fallback={"direction": "hold"}) if role == "critic model" else main

    monkeypatch.setattr(lm_module, "build_lm", build)
    outcome = run_set(compose_cfg("dj=rlm", "model=openai", "prompt=listening", "ears=on", "bars=16",
                                  "model.backoff_s=0", "dj.sandbox.timeout_s=60"))
    assert outcome.status == "FINISHED"
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    run = client.get_run(outcome.run_id)
    m = run.data.metrics
    assert m["dj/ears_calls"] == 2 and m["dj/ears_auditions"] == 1 and m["time/ears_s"] > 0
    assert run.data.params["ears.enabled"] == "True" and run.data.tags["dj.ears_scorer"] == "proxy-v1"
    assert "dj/ears.json" in {a.path for a in client.list_artifacts(outcome.run_id, "dj")}
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlruns.db")
    traces = mlflow.search_traces(locations=[run.info.experiment_id], run_id=outcome.run_id, return_type="list")
    names = [span.name for t in traces for span in t.data.spans]
    assert "audition" in names and "listen" in names  # tool spans of the set's trace

    monkeypatch.setattr(lm_module, "build_lm", lambda *a, **k: pytest.fail("a replay builds no model"))
    replay_job(compose_cfg("experiment=replay", f"experiment.replay.run_id={outcome.run_id}"))
    (replayed,) = client.search_runs([run.info.experiment_id], filter_string="tags.`rlmdj.replay_of` != ''")
    assert replayed.info.status == "FINISHED"
    assert replayed.data.tags["rlmdj.render_sha256"] == run.data.tags["rlmdj.render_sha256"]
    assert replayed.data.metrics["dj/ears_calls"] == 2
