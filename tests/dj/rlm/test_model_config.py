"""Choosing a model, prompt and guardrails for `dj=rlm`: what composes, what fails, and how.

A missing key must stop the run before anything plays, name the variable, exit non-zero and
leave no MLflow run RUNNING; a missing model or prompt says what to choose.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException
from mlflow.tracking import MlflowClient

from rlmdj.dj.rlm.driver import rlm_driver_from_config
from rlmdj.dj.tools.guardrails import guardrails_from_config
from rlmdj.errors import ParameterError
from rlmdj.resources import bundled_dir

KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY")


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


def run_cli(monkeypatch, *args: str) -> int:
    """``rlmdj <args>`` in this process; returns the exit code."""
    from rlmdj.cli import main

    monkeypatch.setattr(sys, "argv", ["rlmdj", *args])
    GlobalHydra.instance().clear()
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        GlobalHydra.instance().clear()
    return 0


@pytest.mark.slow  # the CLI end to end
@pytest.mark.parametrize("model,var", [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")])
def test_missing_key_fails_before_playing_naming_the_variable(model, var, tmp_path, pack_cache_dir,
                                                              monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(var, "   ")  # blank counts as missing
    code = run_cli(monkeypatch, "dj=rlm", f"model={model}", "prompt=baseline", "bars=16", "progress=false")
    assert code == 2
    err = capsys.readouterr().err
    assert f"rlmdj: error: model '{model}/" in err and var in err and "Traceback" not in err
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    experiment = client.get_experiment_by_name("rlmdj")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    assert [r.info.status for r in runs] in ([], ["FAILED"])
    for run in runs:
        assert client.list_artifacts(run.info.run_id, "audio") == []
        assert not any(k.startswith("dj/lm") for k in run.data.metrics)


def test_a_critic_on_another_provider_needs_its_own_key(compose_cfg, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-main-only-0000")
    cfg = compose_cfg("dj=rlm", "model=openai", "prompt=baseline",
                      "model.critic_model=anthropic/claude-haiku-4-5",
                      "model.critic_api_key_env=ANTHROPIC_API_KEY")
    with pytest.raises(ParameterError, match="ANTHROPIC_API_KEY"):
        rlm_driver_from_config(cfg)
    assert rlm_driver_from_config(compose_cfg("dj=rlm", "model=openai", "prompt=baseline",
                                              "guardrails.critic=false"))


def test_no_model_or_no_prompt_says_what_to_choose(compose_cfg, monkeypatch):
    with pytest.raises(ParameterError, match=r"needs a model, e\.g\. model=openai"):
        rlm_driver_from_config(compose_cfg("dj=rlm", "prompt=baseline"))
    with pytest.raises(ParameterError, match=r"needs a prompt.*prompt=baseline"):
        rlm_driver_from_config(compose_cfg("dj=rlm", "model=ollama"))
    with pytest.raises(MissingConfigException) as info:
        compose_cfg("dj=rlm", "model=ollama", "prompt=nonexistent")
    assert {"baseline", "hypnotic_peak", "prescriptive"} <= set(info.value.options or [])


@pytest.mark.parametrize("model", ["ollama", "local"])
def test_keyless_models_build_without_any_key(model, compose_cfg):
    driver = rlm_driver_from_config(compose_cfg("dj=rlm", f"model={model}", "prompt=hypnotic_peak"))
    assert driver.prompt_name == "hypnotic_peak" and "HOLD" in driver.prompt_text
    assert driver.transcript.meta["model_name"] == model


def test_guardrail_ablations_compose(compose_cfg):
    off = compose_cfg("dj=rlm", "model=ollama", "prompt=baseline", "guardrails=off")
    g = guardrails_from_config(off.guardrails).settings
    assert not (g.gain_cap or g.density or g.loop_type)
    d = rlm_driver_from_config(off)
    assert d.settings.critique is None and not d.settings.critic and not d.settings.hard_stop
    one = compose_cfg("dj=rlm", "model=ollama", "prompt=baseline", "guardrails.density=false")
    g = guardrails_from_config(one.guardrails).settings
    assert not g.density and g.gain_cap and g.loop_type


@pytest.mark.parametrize("path", sorted(bundled_dir("prompts").glob("*.txt")), ids=lambda p: p.stem)
def test_prompts_are_short_and_read_bars_from_the_set_plan(path: Path):
    text = path.read_text()
    assert len(text) / 4 < 2000  # rough token count
    assert "set_plan" in text  # bars of THIS set come from the plan, not from the prompt
    assert "SUBMIT" in text  # the set ends by itself
