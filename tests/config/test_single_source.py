"""A setting is defined once, in the schema: components built from a composed config carry the
schema's values, with no second set of defaults in between."""

from __future__ import annotations

import dataclasses

import pytest

from rlmdj.config.dj import DJConfig, GuardrailsConfig, ModelConfig, SandboxConfig
from rlmdj.config.scorer import ScorerConfig
from rlmdj.dj.rlm.driver import RLMSettings
from rlmdj.dj.tools.feedback import CritiqueSettings
from rlmdj.dj.tools.guardrails import critique_from_config, guardrails_from_config
from rlmdj.errors import ParameterError
from rlmdj.scoring.factory import scorer_config


def test_rlm_settings_are_the_schema_defaults(compose_cfg):
    s = RLMSettings.from_config(compose_cfg("dj=rlm", "model=openai", "prompt=baseline"))
    assert s.sandbox == dataclasses.replace(SandboxConfig(), deno_dir=s.sandbox.deno_dir)
    assert (s.max_iters, s.max_llm_calls, s.max_output_chars) == (
        DJConfig.max_iters, DJConfig.max_llm_calls, DJConfig.max_output_chars)
    assert (s.retries, s.backoff_max_s) == (ModelConfig.retries, ModelConfig.backoff_max_s)
    assert s.guardrails == GuardrailsConfig() and s.critique == CritiqueSettings()


def test_overrides_reach_the_components(compose_cfg):
    cfg = compose_cfg("dj=rlm", "model=ollama", "prompt=baseline", "dj.sandbox.max_restarts=2",
                      "guardrails.critique_every=4", "guardrails.gain_caps={texture: 0.4}")
    s = RLMSettings.from_config(cfg)
    assert s.sandbox.max_restarts == 2 and s.critique.every == 4
    assert guardrails_from_config(cfg.guardrails).cap("texture") == 0.4
    assert critique_from_config(compose_cfg("guardrails=off").guardrails) is None


def test_scorer_config_from_any_shape_takes_schema_defaults():
    c = scorer_config({"name": "http", "url": "http://x:1"})
    assert c.timeout_s == ScorerConfig.timeout_s and c.retries == ScorerConfig.retries
    with pytest.raises(ParameterError, match="timeout"):
        scorer_config({"name": "http", "timeoutt_s": 3})
