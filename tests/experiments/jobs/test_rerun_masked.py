"""A rerun never plays back a masked secret: the record's ``***`` must come from the command line."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rlmdj.errors import ParameterError
from rlmdj.experiments.jobs.rerun import Recorded, check_overrides, masked_keys, rerun_config
from rlmdj.tracking.identity import config_hash, scrubbed_config


def _recorded(config: dict) -> Recorded:
    run = SimpleNamespace(info=SimpleNamespace(run_id="0" * 32), data=SimpleNamespace(tags={}, metrics={}),
                          inputs=SimpleNamespace(dataset_inputs=[]))
    return Recorded(run=run, config=config, experiment="recorded-exp")


def _with_secret(compose_cfg, *extra: str):
    return compose_cfg("dj=random", "+model.extra.headers.Authorization=Bearer sk-live-abcdefghijklmnop1234",
                       "model.api_base=https://user:hunter2secretpw@llm.example.org/v1", *extra)


def test_the_record_masks_the_secret_and_names_its_keys(compose_cfg) -> None:
    record = scrubbed_config(_with_secret(compose_cfg))
    assert "sk-live" not in str(record) and "hunter2" not in str(record)
    assert sorted(masked_keys(record)) == ["model.api_base", "model.extra.headers.Authorization"]


def test_a_masked_value_is_refused_naming_the_key(compose_cfg) -> None:
    record = scrubbed_config(_with_secret(compose_cfg))
    now = compose_cfg("experiment=rerun", "experiment.rerun.run_id=x")
    with pytest.raises(ParameterError, match=r"^model\.(api_base|extra\.headers\.Authorization) was recorded "
                                             r"masked \(\*\*\*\)"):
        rerun_config(now, _recorded(record))


def test_secrets_given_again_are_played_and_keep_the_config_hash(compose_cfg) -> None:
    original = _with_secret(compose_cfg)
    record = scrubbed_config(original)
    given = ["model.api_base", "model.extra.headers.Authorization"]
    check_overrides(given, masked=masked_keys(record))  # allowed: only the command line has them
    now = _with_secret(compose_cfg, "experiment=rerun", "experiment.rerun.run_id=x")
    new, _ = rerun_config(now, _recorded(record), given=given)
    assert new.model.extra.headers.Authorization == "Bearer sk-live-abcdefghijklmnop1234"
    assert new.model.api_base == "https://user:hunter2secretpw@llm.example.org/v1"
    assert config_hash(new) == config_hash(original)


def test_keys_that_were_not_masked_stay_refused() -> None:
    with pytest.raises(ParameterError, match="model.api_base would change it"):
        check_overrides(["model.api_base"], masked=["model.extra.headers.Authorization"])


@pytest.mark.slow
def test_through_the_cli_the_secret_is_asked_for_then_played(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from mlflow.tracking import MlflowClient

    rlmdj = str(Path(sys.executable).with_name("rlmdj"))
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    secret = "+model.extra.headers.Authorization=Bearer sk-live-abcdefghijklmnop1234"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([rlmdj, f"tracking.uri={uri}", "progress=false", *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)

    first = run("dj=random", "bars=4", secret)
    assert first.returncode == 0, first.stderr[-2000:]
    client = MlflowClient(uri)
    [original] = client.search_runs([e.experiment_id for e in client.search_experiments()])
    run_id = original.info.run_id

    refused = run("experiment=rerun", f"experiment.rerun.run_id={run_id}")
    assert refused.returncode == 2
    errors = [ln for ln in refused.stderr.splitlines() if ln.startswith("rlmdj: error:")]
    assert len(errors) == 1 and "model.extra.headers.Authorization was recorded masked" in errors[0]
    assert len(client.search_runs([original.info.experiment_id])) == 1  # nothing opened

    played = run("experiment=rerun", f"experiment.rerun.run_id={run_id}", secret)
    assert played.returncode == 0, played.stderr[-2000:]
    [rerun] = client.search_runs([original.info.experiment_id], filter_string=f"tags.`rlmdj.rerun_of` = '{run_id}'")
    assert rerun.data.tags["rlmdj.config_hash"] == original.data.tags["rlmdj.config_hash"]
    assert "sk-live" not in str(rerun.data.params) + str(rerun.data.tags)
