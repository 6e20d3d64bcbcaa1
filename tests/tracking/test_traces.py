"""An RLM set's trace: one per set, linked to its run, with iterations, LM calls, tools, critics."""

from __future__ import annotations

import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from rlmdj.tracking.run import TrackedRun
from rlmdj.tracking.traces import SetTrace, log_set_trace, trace_summary


def _call(lm: str, t_end: float, *, wall: float = 0.5, code: str = "print(status())",
          error: str | None = None, tokens: tuple[int, int] = (100, 20), cost: float | None = 0.001):
    text = f"[[ ## reasoning ## ]]\nthink\n\n[[ ## code ## ]]\n```python\n{code}\n```\n\n[[ ## completed ## ]]"
    return {"lm": lm, "model": "openai/gpt-test", "attempt": 0, "messages": [{"role": "user", "content": "go"}],
            "options": {"temperature": 1.0}, "outputs": None if error else [text],
            "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]}, "cost": cost,
            "error": error, "wall_s": wall, "ended_at": t_end}


def _tool(name: str, t0: float, bar: int, *, ok: bool = True):
    return {"seq": 0, "tool": name, "args": [4] if name == "play" else ["kick", 0.9], "bar": bar,
            "result": {"ok": ok, **({} if ok else {"error": "bad gain"})}, "t0": t0, "t1": t0 + 0.2}


@pytest.fixture()
def experiment(store_uri):
    mlflow.set_tracking_uri(store_uri)
    client = MlflowClient(store_uri)
    exp = client.create_experiment("rlmdj")
    run = client.create_run(exp)
    return client, exp, run.info.run_id


def _spans(client, exp, run_id):
    (trace,) = mlflow.search_traces(locations=[exp], run_id=run_id, return_type="list")
    return trace, trace.data.spans


def test_iterations_hold_their_lm_call_code_tools_and_critic(experiment):
    client, exp, run_id = experiment
    t = time.time() - 100
    record = SetTrace(
        calls=[
            _call("main", t + 1.0, error="RateLimitError: slow down", cost=None, tokens=(0, 0)),  # failed attempt
            _call("main", t + 3.0, code="add('kick', 0.9, 'four_on_floor')\nplay(4)"),
            _call("critic", t + 4.5, wall=0.3, tokens=(50, 10)),  # asked inside play
            _call("main", t + 6.0, code="play(4)"),
        ],
        tool_calls=[_tool("add", t + 3.1, 0), _tool("play", t + 4.0, 0), _tool("fader", t + 4.3, 4, ok=False),
                    _tool("play", t + 6.1, 4)],
        restarts=[{"t": t + 5.0, "reason": "execution exceeded 120 s"}],
        inputs={"palette": "p1", "bars": 8}, outputs={"stop_reason": "hard_stop"},
        tags={"rlmdj.replay": "false"},
    )
    record.tool_calls[1]["t1"] = t + 4.9  # play renders while the critic is asked
    trace_id = log_set_trace(record, experiment_id=exp, run_id=run_id)
    trace, spans = _spans(client, exp, run_id)
    assert trace.info.trace_id == trace_id and trace.info.tags["rlmdj.replay"] == "false"
    counts = trace_summary(spans)
    assert counts == {"rlm set": 1, "iteration": 2, "main LM": 3, "run code": 2, "add": 1, "play": 2,
                      "fader": 1, "critic LM": 1, "sandbox restart": 1}
    by_id = {s.span_id: s for s in spans}
    kinds = {s.name: s.span_type for s in spans}
    assert kinds["rlm set"] == "AGENT" and kinds["iteration 1"] == "CHAIN"
    assert kinds["main LM"] == kinds["critic LM"] == "CHAT_MODEL" and kinds["play"] == "TOOL"
    critic = next(s for s in spans if s.name == "critic LM")
    assert by_id[critic.parent_id].name == "play"
    first = next(s for s in spans if s.name == "iteration 1")
    assert "add('kick'" in first.outputs["code"]
    lm_spans = [s for s in spans if s.name == "main LM"]
    assert sum(1 for s in lm_spans if s.status.status_code == "ERROR") == 1
    assert all(by_id[s.parent_id].name == "iteration 1" for s in lm_spans[:2])
    ok = next(s for s in lm_spans if s.status.status_code != "ERROR")
    assert ok.get_attribute("mlflow.chat.tokenUsage") == {"input_tokens": 100, "output_tokens": 20,
                                                          "total_tokens": 120}
    assert ok.get_attribute("mlflow.llm.cost")["total_cost"] == pytest.approx(0.001)
    fader = next(s for s in spans if s.name == "fader")
    assert fader.status.status_code == "ERROR" and fader.inputs["bar"] == 4
    assert trace.info.token_usage["total_tokens"] == 120 + 120 + 60


@pytest.mark.slow
@pytest.mark.sandbox
def test_scripted_rlm_run_and_its_replay_are_traced(tmp_path, monkeypatch, compose_cfg):
    from scripted import ScriptedLM

    from rlmdj.dj.rlm import lm as lm_module
    from rlmdj.experiments.jobs.replay import replay_job
    from rlmdj.experiments.jobs.run import run_set

    script = [
        "print(add('kick', 0.92, 'four_on_floor'))\nprint(play(4))",
        "print(add('hihat', 0.55, 'offbeat_8ths'))\nprint(add('bassline', 0.65))\nprint(play(4))",
        "print(fader('hihat', 0.5))\nprint(play(8))",
    ]
    main = ScriptedLM(script)

    def build(settings, *, replica=0, role="model"):
        return ScriptedLM([], fallback={"direction": "hold"}) if role == "critic model" else main

    monkeypatch.setattr(lm_module, "build_lm", build)
    outcome = run_set(compose_cfg("dj=rlm", "model=openai", "prompt=baseline", "bars=16",
                                  "model.backoff_s=0", "dj.sandbox.timeout_s=60"))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns.db")
    mlflow.set_tracking_uri(client.tracking_uri)  # the run was recorded by the writer process
    run = client.get_run(outcome.run_id)
    exp = run.info.experiment_id
    trace, spans = _spans(client, exp, outcome.run_id)
    assert run.data.tags["rlmdj.trace_id"] == trace.info.trace_id
    assert trace.info.request_metadata["mlflow.sourceRun"] == outcome.run_id
    counts = trace_summary(spans)
    assert counts["rlm set"] == 1 and counts["iteration"] == 3 and counts["main LM"] == 3
    assert counts["add"] == 3 and counts["play"] == 3 and counts["fader"] == 1
    assert trace.info.tags["rlmdj.replay"] == "false"
    assert trace.info.token_usage["total_tokens"] > 0
    assert "sk-" not in trace.to_json()
    # The trace names the prompt version the set played with.
    assert run.data.tags["rlmdj.prompt_version"] == "rlmdj-baseline v1"

    monkeypatch.setattr(lm_module, "build_lm", lambda *a, **k: pytest.fail("replays build no model"))
    replay_job(compose_cfg("experiment=replay", f"experiment.replay.run_id={outcome.run_id}"))
    (again,) = client.search_runs([exp], filter_string="tags.`rlmdj.replay` = 'true'")
    replayed, rspans = _spans(client, exp, again.info.run_id)
    assert replayed.info.tags["rlmdj.replay"] == "true"
    assert trace_summary(rspans) == counts


class Recorded:
    """A driver that keeps a transcript without subclassing the protocol (it just has the members)."""

    name = "recorded"
    transcript = type("T", (), {"meta": {}, "calls": []})()
    tools = None
    replay = None
    stop_reason, summary, autopilot_bars = "submit", "", 0


def test_traces_off_leaves_no_trace(tmp_path, compose_cfg, monkeypatch):
    """tracking.traces=false: a run logs no trace (checked on a driver that would have one)."""
    from rlmdj.tracking.record.set_record import log_trace

    logged = []
    monkeypatch.setattr("rlmdj.tracking.traces.log_set_trace", lambda *a, **k: logged.append(a) or "tr-x")

    cfg = compose_cfg("tracking.traces=false")
    store = type("C", (), {"tracking_uri": mlflow.get_tracking_uri()})()  # the fluent APIs' own
    fake = type("R", (), {"run_id": "r", "experiment_id": "1", "run_name": "n", "tracked": True,
                          "client": store, "set_tags": lambda self, t: None,
                          "log_trace": lambda self, record, prompt: TrackedRun.log_trace(self, record, prompt)})()
    log_trace(cfg, fake, Recorded(), None, None)
    assert logged == []
    log_trace(compose_cfg(), fake, Recorded(), None, None)
    assert len(logged) == 1
