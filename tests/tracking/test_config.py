"""Config identity: hashing and flattening used for params, tags and resume."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from rlmdj.tracking.identity import (
    config_hash,
    config_yaml,
    flatten_config,
    resolved_dict,
    scrubbed_config,
)

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


def test_a_resolved_config_hashes_and_flattens_as_the_config_does(tmp_path):
    """A job resolves its config once and hands the plain dict to the hash, the params and the
    logged YAML: each must read it exactly as it reads the config itself."""
    cfg = OmegaConf.create({"bars": 32, "name": "${bars}-bars", "model": {"api_key": "sk-123"},
                            "tracking": {"uri": f"sqlite:///{tmp_path}/m.db"}, "roles": ["kick"]})
    resolved = resolved_dict(cfg)
    assert config_hash(resolved) == config_hash(cfg)
    assert flatten_config(resolved) == flatten_config(cfg)
    assert scrubbed_config(resolved) == scrubbed_config(cfg)
    assert resolved["name"] == "32-bars" and OmegaConf.is_interpolation(cfg, "name")  # cfg untouched


@pytest.mark.parametrize("value", [
    "true", "off", "1", "1.5", "1e3", ".inf", "null", "~", "", " lead", "a: b", "- x", "#x", "${x}",
    "\\${x}", "ünïcödé ♪", "line\nbreak", "'quoted'", '"dq"', "/a path/with spaces", 0, -1.5,
    float("inf"), float("nan"), None, True, [1, "2", None], {"k": "v", "n": {"m": []}}, {},
])
def test_the_logged_config_yaml_is_what_omegaconf_writes(value):
    data = {"value": value, "plain": "kick", "nested": {"value": value}, "list": [value]}
    assert config_yaml(data) == OmegaConf.to_yaml(OmegaConf.create(data))
