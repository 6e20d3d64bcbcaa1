"""No secret reaches the store or the launch folder, whichever route it was given by."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from console_script import run_rlmdj

from rlmdj.secrets import MASK, is_secret_key, scrub_text, scrub_value

pytestmark = pytest.mark.hardening

SET_8 = [
    "print(add('kick', 0.9, 'four_on_floor'))\nprint(play(4))",
    "print(add('hihat', 0.5, 'offbeat_8ths'))\nprint(play(4))",
]


@pytest.mark.parametrize(("text", "secret"), [
    ("+model.extra.api_key=sk-abc123def456ghi", "sk-abc123def456ghi"),
    ("+model.extra.extra_headers.Authorization='Bearer sk-abc123def456'", "abc123def456"),
    ("model.api_base=http://user:hunter2hunter2@host/v1", "hunter2hunter2"),
    (r"override_dirname: model.api_base=http\://user\:hunter2hunter2@host/v1", "hunter2hunter2"),
    ('{"api_key": "plainsecretvalue"}', "plainsecretvalue"),
    ("password: plainsecretvalue", "plainsecretvalue"),
    ("token=ghp_0123456789abcdefghij0123", "ghp_0123456789abcdefghij0123"),
    ("hf_abcdefghijklmnopqrstuv in a log line", "hf_abcdefghijklmnopqrstuv"),
    ("aws AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
])
def test_scrub_text_masks_by_key_and_by_value(text, secret):
    clean = scrub_text(text)
    assert secret not in clean and MASK in clean


@pytest.mark.parametrize("text", [
    "max_tokens=4000", "api_key_env: OPENAI_API_KEY", "scorer.token_env=RLMDJ_SCORER_TOKEN",
    "http://127.0.0.1:8000/v1", "sqlite:////tmp/x/mlruns.db", "dj/input_tokens: 123",
    "critic_max_tokens: 400",
])
def test_scrub_text_keeps_what_is_not_secret(text):
    assert scrub_text(text) == text


def test_values_of_secret_environment_variables_are_masked(monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_API_KEY", "opaque-value-without-a-known-shape")
    assert scrub_text("sent opaque-value-without-a-known-shape") == f"sent {MASK}"


def test_a_secret_set_or_changed_after_scrubbing_began_is_masked_too(monkeypatch):
    """The environment's judgement is cached: a key exported later, or replaced, must not slip by."""
    first, second = "k3y-" + uuid.uuid4().hex, "k3y-" + uuid.uuid4().hex
    assert scrub_text(f"x {first}") == f"x {first}"  # judged without it
    monkeypatch.setenv("LATE_API_KEY", first)
    assert scrub_text(f"x {first}") == f"x {MASK}"
    monkeypatch.setenv("LATE_API_KEY", second)
    assert scrub_text(f"{first} {second}") == f"{first} {MASK}"
    monkeypatch.delenv("LATE_API_KEY")
    assert scrub_text(second) == second


def test_the_working_directory_variable_is_not_a_secret(monkeypatch, tmp_path):
    """``PWD`` ends in a secret-looking word; masking it erased the launch folder from records."""
    folder = str(tmp_path / "launch-folder")
    monkeypatch.setenv("PWD", folder)
    monkeypatch.setenv("MY_PWD", "opaque-value-without-a-known-shape")
    assert scrub_text(f"root_dir: {folder}") == f"root_dir: {folder}"
    assert scrub_text("sent opaque-value-without-a-known-shape") == f"sent {MASK}"


def test_scrub_value_masks_secret_keys_whole():
    data = {"model": {"extra": {"api_key": "x", "extra_headers": {"Authorization": "Bearer y"}},
                      "max_tokens": 10, "api_key_env": "OPENAI_API_KEY"}}
    out = scrub_value(data)
    assert out["model"]["extra"] == {"api_key": MASK, "extra_headers": {"Authorization": MASK}}
    assert out["model"]["max_tokens"] == 10 and out["model"]["api_key_env"] == "OPENAI_API_KEY"
    assert is_secret_key("hf_token") and not is_secret_key("max_tokens")


def test_scrubbing_client_masks_params_tags_and_text_artifacts(tmp_path):
    from rlmdj.tracking.scrubbing import ScrubbingClient

    secret = f"sk-unit-{uuid.uuid4().hex}"
    client = ScrubbingClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    exp = client.create_experiment("x", artifact_location=(tmp_path / "art").as_uri())
    run = client.create_run(exp, tags={"note": f"key {secret}"}, run_name=f"run {secret}")
    rid = run.info.run_id
    client.log_param(rid, "sweep.overrides", f"+model.extra.api_key={secret}")
    client.set_tag(rid, "mlflow.note.content", f"`rlmdj -m +model.extra.api_key={secret}`")
    client.log_text(rid, f"api_key: {secret}\n", "config.yaml")
    card = tmp_path / "card.html"
    card.write_text(f"<p>Authorization: Bearer {secret}</p>")
    client.log_artifact(rid, str(card))
    client.set_terminated(rid)
    assert files_with(tmp_path, secret) == ["card.html"]  # the source file only, not the store


def files_with(root: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
def test_secret_planted_by_every_route_reaches_no_file(tmp_path, pack_cache_dir):
    from fake_openai import FakeOpenAI

    token = uuid.uuid4().hex
    key, header, userinfo = f"sk-key{token}", f"sk-hdr{token}", f"sk-url{token}"
    planted = [f"+model.extra.api_key={key}",
               f"+model.extra.extra_headers.Authorization='Bearer {header}'",
               f"model.api_base=http://user:{userinfo}@127.0.0.1:9/v1"]
    single = run_rlmdj(tmp_path, "bars=4", "progress=false", *planted)
    assert single.returncode == 0, single.stderr[-2000:]
    sweep = run_rlmdj(tmp_path, "-m", "bars=4", "replica=0,1", "progress=false", *planted)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    with FakeOpenAI(SET_8) as server:
        base = server.base_url.replace("http://", f"http://user:{userinfo}@")
        rlm = run_rlmdj(tmp_path, "dj=rlm", "model=local", f"model.api_base={base}",
                        f"model.extra.api_key={key}",
                        f"+model.extra.extra_headers.Authorization='Bearer {header}'",
                        "prompt=baseline", "bars=8", "progress=false")
    assert rlm.returncode == 0, rlm.stderr[-2000:]
    assert server.requests, "the scripted model was never asked"
    for secret in (key, header, userinfo):
        assert files_with(tmp_path, secret) == [], secret
    # The secrets really were planted: the masked values are where they would have been.
    hydra_files = [p.read_text() for p in tmp_path.rglob("*.yaml") if ".hydra" in p.parts
                   or p.name == "multirun.yaml"]
    assert any("sk-***" in text for text in hydra_files)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    exp = client.get_experiment_by_name("rlmdj").experiment_id
    runs = client.search_runs([exp])
    assert len(runs) == 5  # single, sweep parent + 2 jobs, RLM
    parent = next(r for r in runs if r.data.tags.get("rlmdj.sweep") == "parent")
    assert "+model.extra.api_key=***" in parent.data.params["sweep.overrides"]
    assert json.dumps(parent.data.tags).count(key) == 0
