"""Masking secrets never changes what is not one, and never breaks a document's syntax.

A corpus of ordinary values (launch folders, URLs, run ids, hashes, sample and pattern names,
YAML and JSON documents) goes through every scrubber byte for byte, in an environment like a
user's shell (``PWD`` holds the launch folder). Documents that do hold a secret stay loadable.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from pathlib import Path

import pytest
import yaml

from rlmdj.masked_console import MaskedStream
from rlmdj.secrets import (
    KEY_MASK,
    MASK,
    looks_like_secret_value,
    remember_override_secrets,
    scrub_document,
    scrub_key,
    scrub_text,
    scrub_value,
    secret_env_values,
)

LAUNCH = "/home/dj/Music Projects/techno sets/rlmdj-" + "long-folder-name-" * 8 + "end"
NON_ASCII = "/home/jürgen/Musik/Übungen/σετ/テクノ/outputs"
RUN_ID = uuid.UUID(int=0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0).hex
SHA = hashlib.sha256(b"rlmdj").hexdigest()
HYDRA_YAML = f"""\
hydra:
  run:
    dir: outputs/2026-12-03/09-27-12-5321
  sweep:
    dir: multirun/2026-12-03/09-27-12-5321
  runtime:
    cwd: {LAUNCH}
    output_dir: {LAUNCH}/outputs/2026-12-03/09-27-12-5321
    choices:
      hydra/sweeper: basic
      hydra/launcher: basic
      model: openai
  job:
    override_dirname: bars=4,dj=random
auth:
  mode: none
"""
CONFIG_YAML = f"""\
paths:
  root_dir: {LAUNCH}
  output_dir: '{NON_ASCII}'
model:
  api_key_env: OPENAI_API_KEY
  max_tokens: 4000
  api_base: http://127.0.0.1:8000/v1
scorer:
  token_env: RLMDJ_SCORER_TOKEN
tracking:
  uri: sqlite:///{LAUNCH}/mlruns.db
palette: four_on_floor
"""
SCORES_JSON = json.dumps({"run_id": RUN_ID, "sha256": SHA, "paths": {"root_dir": LAUNCH, "other": NON_ASCII},
                          "usage": {"prompt_tokens": 123, "max_tokens": 4000}, "pattern": "four_on_floor"},
                         indent=2, ensure_ascii=False)

CORPUS = [
    LAUNCH, NON_ASCII, "C:\\Users\\dj\\rlmdj\\outputs", "./outputs/2026-12-03/09-27-12-5321",
    f"sqlite:///{LAUNCH}/mlruns.db", f"cannot write to {LAUNCH} (Read-only file system)",
    "http://127.0.0.1:5000/#/experiments/1/runs/abc?workflowType=machine_learning",
    "https://user@example.com/v1/chat/completions?x=1&y=2", "https://huggingface.co/facebook/audiobox-aesthetics",
    "file:///tmp/mlartifacts", RUN_ID, SHA, SHA.upper(),
    "kick_909_a", "hihat-open-03", "pack0/v12/kick", "sk8_board_loop", "desk-kick-0123456789",
    "four_on_floor", "offbeat_8ths", "a basic four_on_floor pattern", "Basic four_on_floor",
    "hydra/sweeper: basic\nhydra/launcher: basic", "token bucket refill", "Bearer tokens are described in RFC 6750",
    "the bearer of bad news", "spectral hf_energy_ratio_mean", "max_tokens=4096", "api_key_env: OPENAI_API_KEY",
    "compare/random/delta_OBJ", "sequential/four_on_floor/mean", "proxy/OBJ", "time/score_s",
    "2026-12-03 09:27:12", "job 3/8 · dj=random replica=1: proxy/OBJ 5.859 · FINISHED",
    HYDRA_YAML, CONFIG_YAML, SCORES_JSON,
]


@pytest.fixture(autouse=True)
def shell_environment(monkeypatch):
    """A user's shell: the launch folder in PWD, and secret-named variables that hold no secret."""
    monkeypatch.setenv("PWD", LAUNCH)
    monkeypatch.setenv("OLDPWD", NON_ASCII)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/home/dj/.config/gcloud/credentials.json")
    monkeypatch.setenv("RLMDJ_TEST_SERVICE_TOKEN", "disabled")
    monkeypatch.setenv("RLMDJ_TEST_MAX_KEY", "4096")
    monkeypatch.setenv("RLMDJ_TEST_API_KEY", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RLMDJ_TEST_SECRET", "four_on_floor")  # a short word, not a secret
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-abcdefghijklmnopqrstuvwx0123")  # a real one


@pytest.mark.parametrize("text", CORPUS, ids=lambda t: t[:40])
def test_ordinary_values_survive_every_scrubber(text, tmp_path):
    assert scrub_text(text) == text
    assert scrub_value({"k": text, "nested": [text, {"v": text}]}) == {"k": text, "nested": [text, {"v": text}]}
    for name in ("config.yaml", "scores.json", "transcript.jsonl", "comparison.md", "card.html", ""):
        assert scrub_document(text, name) == text, name
    assert scrub_key(text) == text
    out = io.StringIO()
    stream = MaskedStream(out)
    stream.write(text[: len(text) // 2])
    stream.write(text[len(text) // 2:] + "\n")
    stream.flush()
    assert out.getvalue() == text + "\n"
    from rlmdj.experiments.cli.scrub_callback import scrub_files

    path = tmp_path / "hydra.yaml"
    path.write_text(text, encoding="utf-8")
    assert scrub_files([path]) == [] and path.read_text(encoding="utf-8") == text


def test_ordinary_values_reach_the_store_byte_exact(tmp_path):
    from rlmdj.tracking.scrubbing import ScrubbingClient

    client = ScrubbingClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    exp = client.create_experiment("x", artifact_location=(tmp_path / "art").as_uri())
    rid = client.create_run(exp).info.run_id
    for i, text in enumerate(CORPUS):
        client.log_param(rid, f"p{i}", text[:6000])
        client.set_tag(rid, f"rlmdj.path.t{i}", text)
    client.log_text(rid, CONFIG_YAML, "config.yaml")
    client.log_text(rid, SCORES_JSON, "scores.json")
    data = client.get_run(rid).data
    assert [data.params[f"p{i}"] for i in range(len(CORPUS))] == [t[:6000] for t in CORPUS]
    assert [data.tags[f"rlmdj.path.t{i}"] for i in range(len(CORPUS))] == CORPUS
    art = tmp_path / "art" / rid / "artifacts"
    assert (art / "config.yaml").read_text(encoding="utf-8") == CONFIG_YAML
    assert (art / "scores.json").read_text(encoding="utf-8") == SCORES_JSON


def test_environment_secrets_are_judged_by_name_and_value(monkeypatch):
    assert secret_env_values() == ["sk-proj-abcdefghijklmnopqrstuvwx0123"]
    for value in (LAUNCH, "~/keys", "4096", "3.5", "disabled", "localhost", "http://host:5000/v1", "C:\\x\\y"):
        assert not looks_like_secret_value(value), value
    for value in ("hunter2hunter2", "opaque-value-without-a-known-shape", "http://u:pw123456@host",
                  "correcthorsebatterystaple"):
        assert looks_like_secret_value(value), value
    monkeypatch.setenv("RLMDJ_TEST_DB_PASSWORD", "hunter2hunter2")
    assert scrub_text("connect with hunter2hunter2 at " + LAUNCH) == f"connect with {MASK} at {LAUNCH}"


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", f"Authorization: Basic {MASK}"),
    ("Authorization: Token abc123def456", f"Authorization: Token {MASK}"),
    ("curl -H 'Authorization: Bearer abc123def456'", f"curl -H 'Authorization: Bearer {MASK}'"),
    ('{"Authorization": "Bearer abc123def456"}', f'{{"Authorization": "Bearer {MASK}"}}'),
    ("sent Bearer abc123def456ghi", f"sent Bearer {MASK}"),
    ("Bearer\nabc123def456", "Bearer\nabc123def456"),  # a credential sits on its header's line
    ("Authorization: Basic\nfour_on_floor", "Authorization: Basic\nfour_on_floor"),
    ("basic four_on_floor", "basic four_on_floor"),
    ("password:\n  hint: none", "password:\n  hint: none"),
    ("token=abc123456; path=/", f"token={MASK}; path=/"),
])
def test_credentials_match_only_where_they_look_like_credentials(text, expected):
    assert scrub_text(text) == expected


def test_masked_yaml_stays_loadable(monkeypatch):
    secret = "opaque-value-" + uuid.uuid4().hex
    monkeypatch.setenv("RLMDJ_TEST_API_KEY", secret)
    doc = (f"hydra:\n  runtime:\n    cwd: {secret}\n    choices:\n      hydra/sweeper: basic\n"
           f"  overrides:\n    task:\n    - +model.extra.api_key=sk-abc123def456ghi\n    - {secret}\n"
           f"model:\n  extra:\n    api_key: 12345678\n    flags: [{secret}, 2]\npalette: four_on_floor\n")
    clean = scrub_document(doc, "hydra.yaml")
    assert secret not in clean and "sk-abc123def456ghi" not in clean and "12345678" not in clean
    data = yaml.safe_load(clean)
    assert data["hydra"]["runtime"] == {"cwd": MASK, "choices": {"hydra/sweeper": "basic"}}
    assert data["hydra"]["overrides"]["task"] == [f"+model.extra.api_key={MASK}", MASK]
    assert data["model"]["extra"] == {"api_key": MASK, "flags": [MASK, 2]}
    assert data["palette"] == "four_on_floor"
    # A lone mask is quoted in place: the file keeps its layout and comments.
    plain = "model:\n  api_key: sk-abc123def456ghi  # given on the command line\n  key: [a, b]\n"
    assert scrub_document(plain, "config.yaml") == (
        f"model:\n  api_key: '{MASK}'  # given on the command line\n  key: [a, b]\n")


def test_masked_json_stays_parseable(monkeypatch):
    secret = "opaque-value-" + uuid.uuid4().hex
    monkeypatch.setenv("RLMDJ_TEST_TOKEN", secret)
    doc = json.dumps({"token": 12345678, "ok": True, "api_key": f"sk-{uuid.uuid4().hex}",
                      "conditions": [f"x={secret}"], "n": 3}, indent=1)
    clean = scrub_document(doc, "sequential.json")
    assert json.loads(clean) == {"token": MASK, "ok": True, "api_key": MASK, "conditions": [f"x={MASK}"], "n": 3}
    lines = "\n".join(json.dumps({"password": 123456789, "i": i}) for i in range(3))
    assert [json.loads(ln) for ln in scrub_document(lines, "calls.jsonl").splitlines()] == [
        {"password": MASK, "i": i} for i in range(3)]


def test_keys_stay_valid_mlflow_keys(tmp_path):
    from mlflow.entities import Metric

    from rlmdj.tracking.scrubbing import ScrubbingClient

    secret = f"sk-{uuid.uuid4().hex}"
    client = ScrubbingClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    rid = client.create_run(client.create_experiment("x")).info.run_id
    client.log_batch(rid, metrics=[Metric(f"sequential/{secret}/mean", 1.0, 0, 2)])
    client.log_metric(rid, f"compare/model.extra.api_key_{secret}/n", 2.0)
    client.set_tag(rid, "rlmdj.condition.model.extra.api_key", "plain-key-1234")
    client.log_param(rid, f"x.{secret}", "1")
    data = client.get_run(rid).data
    assert set(data.metrics) == {f"sequential/sk-{KEY_MASK}/mean", f"compare/model.extra.api_key_sk-{KEY_MASK}/n"}
    assert all(re.fullmatch(r"[A-Za-z0-9_./ :-]+", k) for k in [*data.metrics, *data.params, *data.tags])
    assert data.tags["rlmdj.condition.model.extra.api_key"] == MASK
    assert data.params == {f"x.sk-{KEY_MASK}": "1"}


def test_values_swept_under_a_secret_key_are_masked_alone():
    a, b = f"local-{uuid.uuid4().hex[:12]}", f"local-{uuid.uuid4().hex[:12]}"
    remember_override_secrets([f"+model.extra.api_key={a},{b}", "dj=reference,random", "bars=4",
                               "+model.extra.password=dummy"])
    assert scrub_text(f"{b} vs {a}: no difference detected") == f"{MASK} vs {MASK}: no difference detected"
    assert scrub_text("dj=random dummy reference") == "dj=random dummy reference"  # not remembered


def test_console_masks_lines_written_in_pieces():
    out = io.StringIO()
    stream = MaskedStream(out)
    for piece in ("#0 : +model.extra.api_key=sk-abc", "123def456ghi", " replica=0\n", "\x1b[1msk-abc123def456ghi"):
        stream.write(piece)
    stream.flush()
    assert out.getvalue() == f"#0 : +model.extra.api_key={MASK} replica=0\n\x1b[1msk-{MASK}"


def test_launch_folder_paths_survive_hydra_files(tmp_path):
    """A Hydra job's files, scrubbed as the callback does, keep the launch folder."""
    from rlmdj.experiments.cli.scrub_callback import scrub_files

    files = [tmp_path / "hydra.yaml", tmp_path / "config.yaml"]
    for path, text in zip(files, (HYDRA_YAML, CONFIG_YAML), strict=True):
        path.write_text(text, encoding="utf-8")
    assert scrub_files(files) == []
    assert yaml.safe_load(Path(files[0]).read_text(encoding="utf-8"))["hydra"]["runtime"]["cwd"] == LAUNCH
