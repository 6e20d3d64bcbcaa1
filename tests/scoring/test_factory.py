"""build_scorer: every configured backend, the cache wrapper, and clear errors for bad configs."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from rlmdj.config.scorer import ScorerConfig
from rlmdj.errors import ParameterError
from rlmdj.scoring.cache import CachedScorer
from rlmdj.scoring.client import HttpScorer
from rlmdj.scoring.factory import CACHE_DIR_ENV, MODAL_URL_ENV, build_scorer


def node(**kwargs):
    return OmegaConf.merge(OmegaConf.structured(ScorerConfig), kwargs)


def test_proxy_is_the_default():
    scorer = build_scorer(ScorerConfig())
    assert scorer.name == "proxy"


def test_http_and_cache(tmp_path):
    scorer = build_scorer(node(name="http", url="http://127.0.0.1:9", cache=True, cache_dir=str(tmp_path)))
    assert isinstance(scorer, CachedScorer) and isinstance(scorer.inner, HttpScorer)
    assert scorer.inner.backend == "http" and scorer.name == "audiobox"
    assert (tmp_path / "scores.sqlite").exists()


def test_modal_url_from_environment_and_secrets_from_named_env_vars(monkeypatch):
    monkeypatch.delenv(MODAL_URL_ENV, raising=False)
    with pytest.raises(ParameterError, match=MODAL_URL_ENV):
        build_scorer(node(name="modal"))
    monkeypatch.setenv(MODAL_URL_ENV, "https://ws--rlmdj-aesthetics.modal.run")
    monkeypatch.setenv("MY_KEY", "wk-1")
    monkeypatch.setenv("MY_SECRET", "ws-1")
    scorer = build_scorer(node(name="modal", modal_key_env="MY_KEY", modal_secret_env="MY_SECRET"))
    assert scorer.url == "https://ws--rlmdj-aesthetics.modal.run" and scorer.backend == "modal"
    assert scorer._client.headers["Modal-Key"] == "wk-1"
    with pytest.raises(ParameterError, match="RLMDJ_NOT_SET"):
        build_scorer(node(name="http", url="http://x:1", token_env="RLMDJ_NOT_SET"))


def test_unknown_scorer_lists_the_choices():
    with pytest.raises(ParameterError, match="proxy, audiobox, http, modal"):
        build_scorer({"name": "audiobx"})


def test_audiobox_without_a_checkpoint_explains_how_to_get_one(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("audiobox_aesthetics.model.aes")
    from rlmdj.scoring.audiobox import CheckpointError

    with pytest.raises(CheckpointError, match="RLMDJ_AUDIOBOX_CHECKPOINT"):
        build_scorer(node(name="audiobox", checkpoint=str(tmp_path / "missing.pt")))


def test_yaml_group_files_compose(tmp_path):
    from pathlib import Path

    conf = Path(__file__).resolve().parents[2] / "conf" / "scorer"
    for name in ("audiobox", "http", "modal", "proxy"):
        merged = OmegaConf.merge(OmegaConf.structured(ScorerConfig), OmegaConf.load(conf / f"{name}.yaml"))
        assert merged.name == name


def test_modal_proxy_auth_needs_both_key_and_secret(monkeypatch):
    """Half the pair would send no auth headers at all and fail later with a bare 401."""
    monkeypatch.setenv("MY_KEY", "wk-1")
    with pytest.raises(ParameterError, match="modal_secret_env"):
        build_scorer(node(name="modal", url="https://ws--x.modal.run", modal_key_env="MY_KEY"))


def test_plain_dict_cache_goes_where_the_config_default_says(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path)
    scorer = build_scorer({"name": "http", "url": "http://127.0.0.1:9", "cache": True})
    assert scorer.cache.path == tmp_path / "scores" / "scores.sqlite"


def test_batch_and_wait_settings_reach_the_client_and_bad_ones_name_the_key():
    scorer = build_scorer(node(name="http", url="http://127.0.0.1:9", max_batch_sets=5, max_wait_s=42.0,
                               timeout_s=7.0))
    assert (scorer.max_batch_sets, scorer.max_wait_s, scorer.timeout_s) == (5, 42.0, 7.0)
    with pytest.raises(ParameterError, match="scorer.max_batch_sets"):
        build_scorer(node(name="http", url="http://127.0.0.1:9", max_batch_sets=0))
    with pytest.raises(ParameterError, match="scorer.max_wait_s"):
        build_scorer(node(name="http", url="http://127.0.0.1:9", max_wait_s=0))
