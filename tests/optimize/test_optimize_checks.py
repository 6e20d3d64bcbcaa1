"""``experiment=optimize_prompt``'s preflight: every bad setting is one line naming its key, exit
2, before any LM call and before any run opens, in-process (fast) and through the CLI (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_script import error_lines, run_rlmdj

from rlmdj.errors import ParameterError

BASE = ("experiment=optimize_prompt", "model=local", "model.api_base=http://127.0.0.1:9/v1", "prompt=baseline",
        "dj.sandbox.kind=local", "experiment.optimize.palettes=[opt0,opt1,opt2]", "experiment.optimize.n_train=1",
        "experiment.optimize.n_val=1", "experiment.optimize.n_heldout=1", "experiment.optimize.minibatch=1")

BAD = {
    "reflection key": (("experiment.optimize.reflection_model=openai/gpt-4.1",
                        "experiment.optimize.reflection_api_key_env=RLMDJ_TEST_NO_SUCH_KEY"),
                       "experiment.optimize.reflection_api_key_env"),
    "reflection key by provider": (("experiment.optimize.reflection_model=anthropic/claude-sonnet-4-5",),
                                   "ANTHROPIC_API_KEY"),
    "reflection model refused by DSPy": (("experiment.optimize.reflection_model=openai/gpt-5",
                                          "experiment.optimize.reflection_api_base=http://127.0.0.1:9/v1",
                                          "experiment.optimize.reflection_temperature=0.5"),
                                         "experiment.optimize.reflection_model"),
    "too few palettes": (("experiment.optimize.palettes=[opt0,opt1]",), "experiment.optimize.palettes"),
    "unknown palette": (("experiment.optimize.palettes=[opt0,opt1,nope]",), "experiment.optimize.palettes"),
    "below one iteration": (("experiment.optimize.max_metric_calls=5",), "experiment.optimize.max_metric_calls"),
    "missing prompt file": (("prompt.path=no_such_prompt.txt",), "prompt.path"),
    "no prompt": (("prompt=none",), "prompt"),
    "alpha zero": (("experiment.optimize.alpha=0",), "experiment.optimize.alpha"),
    "alpha half": (("experiment.optimize.alpha=0.5",), "experiment.optimize.alpha"),
    "minibatch above train": (("experiment.optimize.minibatch=2",), "experiment.optimize.minibatch"),
    "replica cap too small to accept": (("experiment.optimize.max_replicas=3",), "experiment.optimize.max_replicas"),
    "confirmation cap too small": (("experiment.optimize.confirm_max_pairs=4",),
                                   "experiment.optimize.confirm_max_pairs"),
}


@pytest.fixture()
def palettes(tmp_path: Path, sample_index) -> Path:
    """Three palette files ``opt0..opt2`` in the launch folder's ``palettes/``."""
    from rlmdj.audio.palette import random_palette

    folder = tmp_path / "palettes"
    for i in range(3):
        random_palette(sample_index, seed=100 + i, name=f"opt{i}").save(folder / f"opt{i}.json")
    return folder


def _check(cfg) -> None:
    from rlmdj.experiments.cli.preflight import preflight

    preflight(cfg)


def test_a_good_config_passes(compose_cfg, palettes, monkeypatch):
    _check(compose_cfg(*BASE))


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_bad_setting_is_one_line_naming_its_key(case, compose_cfg, palettes, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    overrides, key = BAD[case]
    with pytest.raises(ParameterError) as err:
        _check(compose_cfg(*BASE, *overrides))
    assert key in str(err.value) and "\n" not in str(err.value)


def test_no_palettes_means_a_screening_big_enough(compose_cfg, palettes):
    cfg = compose_cfg(*BASE[:5], "experiment.optimize.palettes=[]", "experiment.screen.n=2",
                      "experiment.screen.curated_dir=" + str(palettes.parent / "empty"))
    with pytest.raises(ParameterError, match="experiment.screen.n"):
        _check(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["reflection key", "too few palettes", "below one iteration", "missing prompt file",
                                  "alpha half"])
def test_the_cli_refuses_with_exit_2_and_leaves_no_run(case, tmp_path, palettes, pack_cache_dir):
    overrides, key = BAD[case]
    proc = run_rlmdj(tmp_path, *BASE, *overrides, "progress=false", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = error_lines(proc)
    assert len(lines) == 1 and key in lines[0], lines
    db = tmp_path / "mlruns.db"
    if db.exists():
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{db}")
        exps = [e.experiment_id for e in client.search_experiments()]
        assert not client.search_runs(exps)


@pytest.mark.slow
def test_the_cli_refuses_an_unknown_prompt_name(tmp_path, palettes, pack_cache_dir):
    proc = run_rlmdj(tmp_path, *[a for a in BASE if not a.startswith("prompt=")], "prompt=no_such_prompt",
                     timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert any("no_such_prompt" in ln for ln in error_lines(proc))
