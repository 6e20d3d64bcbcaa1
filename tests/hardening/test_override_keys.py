"""Unknown override keys name the closest real key instead of Hydra's ``+key=`` hint."""

from __future__ import annotations

import pytest

from rlmdj.config import Config, register_configs
from rlmdj.config.override_check import check_override_keys, config_groups, key_table, override_args
from rlmdj.errors import ParameterError
from rlmdj.resources import bundled_dir


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
