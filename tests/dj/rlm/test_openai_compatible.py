"""`dj=rlm model=local` end to end against an OpenAI-compatible server on 127.0.0.1.

No scripted DSPy LM here: requests go through DSPy's real LM client (its native engine, and
LiteLLM where asked) over HTTP to a tiny
chat-completions server (:mod:`fake_openai`) that answers in DSPy's chat format. Checked: the
run finishes and records requests, responses and usage; the key reaches the server and
nothing else; rate limits are retried and recorded; a server that is down fails the run fast
with one clear line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from hydra.core.global_hydra import GlobalHydra
from mlflow.tracking import MlflowClient

from rlmdj.experiments.jobs.replay import replay_job
from rlmdj.experiments.jobs.run import run_set

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

RLMDJ = str(Path(sys.executable).parent / "rlmdj")
KEY_VAR = "RLMDJ_TEST_LOCAL_KEY"  # deliberately not a name the transcript's scrubber knows

SET_16 = [
    "print(add('kick', 0.92, 'four_on_floor'))\nprint(play(4))",
    "print(add('hihat', 0.55, 'offbeat_8ths'))\nprint(add('bassline', 0.65))\nprint(play(4))",
    "print(fader('hihat', 0.5))\nprint(play(8))",
]
SET_32 = [
    SET_16[0],
    SET_16[1],
    "print(add('perc', 0.42, 'syncopated_a'))\nprint(play(8))",
    "print(play(8))",
    "print(remove('perc'))\nprint(play(8))",
]


def store(cwd: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{cwd}/mlruns.db")


def only_run(client: MlflowClient):
    (run,) = client.search_runs([client.get_experiment_by_name("rlmdj").experiment_id])
    return run


def transcript(client: MlflowClient, run_id: str) -> dict:
    return json.loads(Path(client.download_artifacts(run_id, "dj/transcript.json")).read_text())


def files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_plays_a_set_through_the_server_and_leaks_no_key(tmp_path, pack_cache_dir):
    secret = f"sk-rlmdj-{uuid.uuid4().hex}"
    with FakeOpenAI(SET_32, critic_says="raise the hihat to 0.6") as server:
        proc = subprocess.run(
            [RLMDJ, "dj=rlm", "model=local", f"model.api_base={server.base_url}",
             f"model.api_key_env={KEY_VAR}", "prompt=baseline", "bars=32", "progress=false"],
            cwd=tmp_path, env={**os.environ, KEY_VAR: secret}, capture_output=True, text=True,
            timeout=180,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The key went where it belongs: the server, as a bearer token.
    assert {h.get("Authorization") for h in server.headers} == {f"Bearer {secret}"}
    assert {r["model"] for r in server.requests} == {"local-model"}

    client = store(tmp_path)
    run = only_run(client)
    assert run.info.status == "FINISHED"
    m = run.data.metrics
    assert m["dj/lm_calls"] == len(SET_32) and m["dj/critic_lm_calls"] == 1
    assert m["dj/input_tokens"] > 0 and m["dj/output_tokens"] > 0
    assert m["dj/lm_failed_attempts"] == 0 and m["dj/hard_stop"] == 1
    assert run.data.tags["dj.model"] == "openai/local-model"

    calls = transcript(client, run.info.run_id)["calls"]
    assert [c["lm"] for c in calls].count("main") == len(SET_32)
    assert all(c["usage"]["prompt_tokens"] > 0 and c["error"] is None for c in calls)
    assert all(c["options"].get("max_tokens") for c in calls)  # a limit, not a secret
    last_main = [c for c in calls if c["lm"] == "main"][-1]
    assert "remove('perc')" in json.dumps(last_main["outputs"])
    assert any(c["lm"] == "critic" and "hihat" in json.dumps(c["outputs"]) for c in calls)

    # No secret anywhere the run wrote: params, tags, artifacts, the store, the output folder.
    assert not any(secret in v for v in run.data.params.values())
    assert not any(secret in v for v in run.data.tags.values())
    assert files_containing(tmp_path, secret.encode()) == []
    assert secret not in proc.stdout + proc.stderr


# DSPy's own client picks its native engine for this model; LiteLLM is one option away.
@pytest.mark.parametrize("engine", [(), ("+model.extra.engine=litellm",)], ids=["native", "litellm"])
def test_rate_limits_are_retried_recorded_and_replay_exactly(engine, tmp_path, compose_cfg):
    with FakeOpenAI(SET_16, fail_first=2) as server:
        outcome = run_set(compose_cfg("dj=rlm", "model=local", f"model.api_base={server.base_url}",
                                      "model.backoff_s=0", "prompt=baseline", "bars=16", *engine))
    assert outcome.status == "FINISHED"
    assert len(server.requests) == len(SET_16) + 2
    client = store(tmp_path)
    run = client.get_run(outcome.run_id)
    assert run.data.metrics["dj/lm_failed_attempts"] == 2
    assert run.data.metrics["dj/lm_calls"] == len(SET_16)
    calls = transcript(client, outcome.run_id)["calls"]
    assert [(c["attempt"], c["error"] is None) for c in calls[:3]] == [(0, False), (1, False), (2, True)]
    assert "RateLimit" in calls[0]["error"]

    # The recorded responses replay to the same audio, with the server gone.
    replay_job(compose_cfg("experiment=replay", f"experiment.replay.run_id={outcome.run_id}"))
    replayed = client.search_runs([run.info.experiment_id], filter_string="tags.`rlmdj.replay_of` != ''")
    (again,) = replayed
    assert again.info.status == "FINISHED"
    renders = [client.get_run(r).data.tags["rlmdj.render_sha256"] for r in (outcome.run_id, again.info.run_id)]
    assert renders[0] == renders[1]


def test_server_down_fails_the_run_fast_with_one_line(tmp_path, pack_cache_dir, monkeypatch, capsys):
    from rlmdj.cli import main

    port = closed_port()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [
        "rlmdj", "dj=rlm", "model=local", f"model.api_base=http://127.0.0.1:{port}/v1",
        "model.backoff_s=0.05", "model.retries=2", "prompt=baseline", "bars=16", "progress=false",
    ])
    GlobalHydra.instance().clear()
    started = time.perf_counter()
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        GlobalHydra.instance().clear()
    assert time.perf_counter() - started < 45
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if ln.startswith("rlmdj: error:"))
    assert f"127.0.0.1:{port}" in line and "gave up after 3 attempt(s)" in line
    assert "Traceback" not in err
    run = only_run(store(tmp_path))
    assert run.info.status == "FAILED"
    assert run.data.metrics["dj/lm_failed_attempts"] == 3
