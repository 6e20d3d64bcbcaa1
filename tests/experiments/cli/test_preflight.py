"""Everything checkable is checked before a run is opened: messages name the config key."""

from __future__ import annotations

import json

import pytest

from rlmdj.errors import ParameterError
from rlmdj.experiments.cli.preflight import check_folder_writable, preflight

pytestmark = pytest.mark.hardening


@pytest.mark.parametrize(("overrides", "key"), [
    (["render.normalize_dbfs=3"], "render.normalize_dbfs"),
    (["render.wav_subtype=PCM_99"], "render.wav_subtype"),
    (["render.preview_format=wma"], "render.preview_format"),
    (["render.gain_ramp_ms=-5"], "render.gain_ramp_ms"),
    (["render.sample_rate=100"], "render.sample_rate"),
    (["bars=0"], "bars"),
    (["bars=5000"], "bars"),
    (["bpm=1000"], "bpm"),
    (["scorer.name=audiobx"], "scorer.name"),
    (["+scorer.weights.XX=1"], "scorer.weights.XX"),
    (["scorer.timeout_s=0"], "scorer.timeout_s"),
    (["scorer=http", "scorer.url=null"], "scorer.url"),
    (["scorer=http", "scorer.url=ftp://host"], "scorer.url"),
    (["scorer=http", "scorer.url=http://127.0.0.1:1", "scorer.token_env=RLMDJ_TEST_UNSET_TOKEN"],
     "scorer.token_env"),
    (["tracking.uri=garbage://x"], "tracking.uri"),
    (["guardrails.kick_min_share=2"], "guardrails.kick_min_share"),
    (["dj=rlm", "model=openai", "prompt=baseline"], "OPENAI_API_KEY"),
    (["dj=rlm", "model=none"], "model"),
    (["dj=rlm", "model=openai", "prompt=none"], "prompt"),
    (["dj=rlm", "model=openai", "prompt=baseline", "prompt.path=no_such_prompt.txt"], "prompt.path"),
    (["dj=rlm", "model=openai", "prompt=baseline", "model.temperature=7"], "model.temperature"),
    (["dj=rlm", "model=openai", "prompt=baseline", "model.api_base=localhost:8000"], "model.api_base"),
    (["dj=rlm", "model=openai", "prompt=baseline", "dj.sandbox.kind=docker"], "dj.sandbox.kind"),
])
def test_bad_value_is_refused_naming_its_key(compose_cfg, monkeypatch, overrides, key):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    if key != "OPENAI_API_KEY" and "model=openai" in overrides:
        monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-used")
    with pytest.raises(ParameterError) as info:
        preflight(compose_cfg(*overrides))
    message = str(info.value)
    assert key in message and "\n" not in message
    for internal in ("target_dbfs", " ramp_ms", " subtype", " fmt"):  # internal argument names
        assert internal not in message


def test_default_config_passes(compose_cfg):
    preflight(compose_cfg())


def test_empty_palette_is_refused_before_playing_silence(compose_cfg, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"name": "empty", "samples": {}}))
    with pytest.raises(ParameterError, match="has no samples"):
        preflight(compose_cfg("palette.source=file", f"palette.path={empty}", "palette.name=empty"))


def test_non_utf8_palette_is_one_clear_error(compose_cfg, tmp_path):
    bad = tmp_path / "latin1.json"
    bad.write_bytes('{"name": "caf\xe9", "samples": {"kick": "kick-00"}}'.encode("latin-1"))
    with pytest.raises(ParameterError, match="not UTF-8") as info:
        preflight(compose_cfg("palette.source=file", f"palette.path={bad}", "palette.name=latin1"))
    assert str(bad) in str(info.value)


def test_folder_that_cannot_be_written_names_the_key(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ParameterError, match="samples.cache_dir: cannot write"):
        check_folder_writable(blocker / "cache", "samples.cache_dir")


def test_unwritable_cache_folder_is_found_before_the_run(compose_cfg, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ParameterError, match="scorer.cache_dir"):
        preflight(compose_cfg("scorer.cache=true", f"scorer.cache_dir={blocker}/scores"))


def test_serve_port_is_checked_before_the_model_is_loaded(compose_cfg):
    with pytest.raises(ParameterError, match=r"experiment\.serve\.port must be between 0 and 65535"):
        preflight(compose_cfg("experiment=serve", "experiment.serve.port=70000",
                              "scorer=audiobox", "scorer.checkpoint=/no/such/checkpoint"))


def test_folder_check_creates_nothing(tmp_path):
    check_folder_writable(tmp_path / "a" / "b", "paths.output_dir")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("uri", ["file://{tmp}/fs", "{tmp}/fs", "file:{tmp}/fs"])
def test_file_store_is_refused_with_the_sqlite_uri_to_use(compose_cfg, tmp_path, uri):
    with pytest.raises(ParameterError, match="MLflow no longer takes file stores") as info:
        preflight(compose_cfg(f"tracking.uri={uri.format(tmp=tmp_path)}"))
    assert f"tracking.uri=sqlite:///{tmp_path}/fs/mlruns.db" in str(info.value)
    assert not (tmp_path / "fs").exists()


@pytest.mark.parametrize(("override", "key"), [
    ("dj.candidates=0", "dj.candidates"), ("dj.phrase_bars=0", "dj.phrase_bars"),
    ("ears.max_auditions=-1", "ears.max_auditions"), ("ears.scorer=nope", "ears.scorer"),
])
def test_greedy_settings_are_refused_before_the_run(compose_cfg, override, key):
    with pytest.raises(ParameterError, match=key):
        preflight(compose_cfg("dj=greedy", override))
