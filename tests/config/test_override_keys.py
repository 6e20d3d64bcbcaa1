"""Unknown override keys name the closest real key instead of Hydra's ``+key=`` hint."""

from __future__ import annotations

import pytest

from rlmdj.config import Config, register_configs
from rlmdj.config.override_check import check_override_keys, config_groups, key_table, override_args
from rlmdj.errors import ParameterError
from rlmdj.resources import bundled_dir

pytestmark = pytest.mark.hardening


@pytest.fixture(scope="module")
def table():
    register_configs()  # the palette files as options of `palette`, as the CLI registers them
    return key_table(Config, config_groups(bundled_dir("conf")))


@pytest.mark.parametrize(("override", "suggestion"), [
    ("barz=3", "bars"),
    ("+barz=3", "bars"),
    ("render.normalise_dbfs=-1", "render.normalize_dbfs"),
    ("rendr.wav_subtype=PCM_24", "render.wav_subtype"),
    ("scorer.wieghts.CE=1", "scorer.weights"),
    ("dj.sandbox.timeout=30", "dj.sandbox.timeout_s"),
])
def test_unknown_key_names_the_closest_one(table, override, suggestion):
    with pytest.raises(ParameterError) as info:
        check_override_keys([override], table)
    message = str(info.value)
    assert f"did you mean `{suggestion}`?" in message
    assert "+barz" not in message and "\n" not in message


@pytest.mark.parametrize("overrides", [
    ["bars=4", "replica=0,1", "dj=rlm", "model=openai", "prompt=baseline"],
    ["+model.extra.api_key=sk-x", "+model.extra.extra_headers.Authorization=Bearer x"],
    ["scorer.weights.CE=0.5", "guardrails.gain_caps.texture=0.4", "hydra.verbose=true"],
    ["experiment=serve", "experiment.serve.port=8001", "hydra/launcher=joblib_local", "~tracking.run_name"],
    ["palette=example", "'replica=range(3)'", "palette=random,example_synth"],
])
def test_real_keys_groups_and_free_tables_pass(table, overrides):
    check_override_keys(overrides, table)


def test_flags_and_their_values_are_not_overrides():
    argv = ["-m", "--cfg", "job", "bars=4", "-cn", "config", "--info=all", "dj=rlm"]
    assert override_args(argv) == ["bars=4", "dj=rlm"]


@pytest.mark.parametrize(("overrides", "expected"), [
    (["palette=nope"], "palette=nope: no such palette; `rlmdj experiment=samples` lists the palettes"),
    (["palette=é"], "palette=é: no such palette"),
    (["palette=exampel"], "did you mean `palette=example`?"),
    (["palette=random,nope"], "palette=nope: no such palette"),
    (["dj=refrence"], "dj=refrence: no such option of `dj`; did you mean `dj=reference`?"),
    (["experiment=null"], "experiment=null: no such option of `experiment`"),
])
def test_group_choice_must_name_an_option(table, overrides, expected):
    with pytest.raises(ParameterError) as info:
        check_override_keys(overrides, table)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_option_names_come_from_the_config_and_the_palette_files(tmp_path):
    from rlmdj.config.override_check import check_group_choices, group_choices

    choices = group_choices(bundled_dir("conf"))
    assert {"reference", "random", "greedy", "rlm"} <= choices["dj"]
    assert "launcher" not in choices and "hydra" not in choices  # Hydra's groups are Hydra's
    check_group_choices(["palette='café'", "~palette", "dj=${oc.env:X}"], {"palette": frozenset({"café"})})
    with pytest.raises(ParameterError, match="needs quotes"):
        check_group_choices(["palette=café"], {"palette": frozenset({"café"})})
