"""The writer opens a store once for all the runs it records, and opens it afresh when it changed."""

from __future__ import annotations

import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from rlmdj.tracking import store
from rlmdj.tracking.writer import recorder as recorder_module
from rlmdj.tracking.writer.journal import Journal
from rlmdj.tracking.writer.recorder import Recorder


def _record(tmp_path, uri: str, name: str, views: tuple[dict, ...] = ()) -> Recorder:
    rec = Recorder(Journal.create(tmp_path / name))
    ops = [{"op": "open", "uri": uri, "experiment": "rlmdj", "scorer": "proxy",
            "artifact_location": str(tmp_path / "artifacts"), "run_name": name, "tags": {"t": name},
            "parent_run_id": None},
           {"op": "batch", "params": {"p": name}, "tags": {}, "metrics": [["m", 1.0, 0, 0]]},
           *views,
           {"op": "end", "status": "FINISHED"}]
    answers = [rec.apply(op) for op in ops]
    assert rec.error is None, rec.error
    assert answers[-1] == {"done": "FINISHED", "error": None}
    return rec


@pytest.fixture
def opens(monkeypatch):
    monkeypatch.setattr(recorder_module, "_OPENED", {})
    calls = []
    real = store.open_store

    def counting(tracking, **kwargs):
        calls.append(str(tracking.uri))
        return real(tracking, **kwargs)

    monkeypatch.setattr(store, "open_store", counting)
    return calls


def test_runs_of_one_store_open_it_once(tmp_path, opens):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    runs = [_record(tmp_path, uri, f"job{i}") for i in range(3)]
    assert len(opens) == 1
    client = MlflowClient(uri)
    for rec in runs:
        run = client.get_run(rec.run.run_id)
        assert run.info.status == "FINISHED" and run.data.params == {"p": rec.run.run_name}
    other = f"sqlite:///{tmp_path / 'other.db'}"
    _record(tmp_path, other, "elsewhere")
    assert opens == [uri, other]


def test_a_kept_store_that_fails_is_opened_again_once(tmp_path, opens):
    """A kept client whose store stopped taking runs (a server restarted) is replaced by a fresh
    open; a store that still fails then is the run's error, as without keeping it."""
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    _record(tmp_path, uri, "first")

    class Refusing:
        def create_run(self, *args, **kwargs):
            raise RuntimeError("the store went away")

    key = next(iter(recorder_module._OPENED))
    _, experiment_id, command = recorder_module._OPENED[key]
    recorder_module._OPENED[key] = (Refusing(), experiment_id, command)
    second = _record(tmp_path, uri, "second")
    assert len(opens) == 2
    assert MlflowClient(uri).get_run(second.run.run_id).info.status == "FINISHED"


@pytest.fixture
def fluent_uri():
    """The process's tracking URI, as it was before the test."""
    before = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(before)


def test_traces_and_prompts_land_in_their_run_s_store_which_alone_moves_the_fluent_apis(tmp_path, fluent_uri):
    """The writer opens a store without pointing MLflow's fluent APIs at it (that imports
    OpenTelemetry's SDK); a run with a trace or a prompt points them at its own store first."""
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    mlflow.set_tracking_uri(elsewhere)
    plain = f"sqlite:///{tmp_path / 'plain.db'}"
    _record(tmp_path, plain, "plain")
    assert mlflow.get_tracking_uri() == elsewhere  # a run with neither leaves them alone

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    t = time.time() - 10
    record = {"calls": [{"lm": "main", "outputs": ["play(4)"], "usage": {}, "wall_s": 0.5,
                         "ended_at": t + 1}],
              "tool_calls": [{"tool": "play", "args": [4], "bar": 0, "result": {"ok": True},
                              "t0": t + 1.1, "t1": t + 1.3}]}
    rec = _record(tmp_path, uri, "rlm", views=(
        {"op": "prompt", "name": "baseline", "text": "Play techno."},
        {"op": "trace", "record": record, "prompt": True},
    ))
    client = MlflowClient(uri)
    tags = client.get_run(rec.run.run_id).data.tags
    assert not any(k.endswith("_error") for k in tags), tags
    assert tags["rlmdj.prompt_version"] == "rlmdj-baseline v1"
    assert client.search_traces(locations=[rec.run.experiment_id], run_id=rec.run.run_id)
    assert [v.version for v in client.search_prompt_versions("rlmdj-baseline")] == [1]

    mlflow.set_tracking_uri(elsewhere)
    traced = f"sqlite:///{tmp_path / 'traced.db'}"
    rec = _record(tmp_path, traced, "traced", views=({"op": "trace", "record": record, "prompt": False},))
    assert MlflowClient(traced).search_traces(locations=[rec.run.experiment_id], run_id=rec.run.run_id)
