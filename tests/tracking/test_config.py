"""Config identity: hashing and flattening used for params, tags and resume."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from rlmdj.tracking.identity import config_hash, flatten_config

pytestmark = pytest.mark.pipeline


def test_hash_ignores_where_results_go_but_not_what_is_played():
    a = OmegaConf.create({"bars": 32, "tracking": {"uri": "sqlite:///a.db"}, "paths": {"x": 1}})
    b = OmegaConf.create({"bars": 32, "tracking": {"uri": "http://h:5000"}, "paths": {"x": 2}})
    c = OmegaConf.create({"bars": 64, "tracking": {"uri": "sqlite:///a.db"}, "paths": {"x": 1}})
    assert config_hash(a) == config_hash(b) != config_hash(c)


def test_flattened_params_mask_secrets():
    cfg = OmegaConf.create({"model": {"api_key": "sk-123", "api_key_env": "OPENAI_API_KEY",
                                      "hf_token": "hf-1", "max_tokens": 4000},
                            "palette": {"roles": ["kick", "hihat"]}})
    flat = flatten_config(cfg)
    assert flat["model.api_key"] == "***"
    assert flat["model.api_key_env"] == "OPENAI_API_KEY"
    assert flat["model.hf_token"] == "***"
    assert flat["model.max_tokens"] == "4000"
    assert flat["palette.roles"] == '["kick", "hihat"]'
