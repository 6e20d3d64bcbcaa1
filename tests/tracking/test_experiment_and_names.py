"""Experiments open on their runs; runs are named for what they are; the last lines work anywhere."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from rlmdj.tracking.record.naming import screen_run_name, set_run_name
from rlmdj.tracking.store import open_store, run_url, ui_command


def _tracking(tmp_path: Path, scorer: str = "proxy"):
    cfg = OmegaConf.create({
        "scorer": {"name": scorer},
        "tracking": {"uri": f"sqlite:///{tmp_path}/mlruns.db", "experiment": "rlmdj",
                     "artifact_location": str(tmp_path / "mlartifacts")},
    })
    return cfg.tracking


def test_created_experiment_opens_on_runs_with_primary_metric(tmp_path):
    client, exp_id = open_store(_tracking(tmp_path, "audiobox"))
    tags = client.get_experiment(exp_id).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert tags["mlflow.experiment.primaryMetric.name"] == "audiobox/OBJ"
    assert "audiobox/OBJ" in tags["mlflow.note.content"]


def test_experiment_made_elsewhere_gets_the_kind_without_losing_its_note(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    plain = MlflowClient(uri)
    exp_id = plain.create_experiment("rlmdj", tags={"mlflow.note.content": "mine"})
    client, found = open_store(_tracking(tmp_path))
    tags = client.get_experiment(found).tags
    assert found == exp_id
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert tags["mlflow.note.content"] == "mine"


def test_set_run_names_follow_dj_palette_bars_replica(compose_cfg):
    cfg = compose_cfg("dj=reference", "bars=16", "replica=3")
    assert set_run_name(cfg, "palette_003") == "reference·palette_003·16b·r3"
    assert set_run_name(compose_cfg("replica=0")) == "reference·random·32b·r0"
    # A palette drawn per replica is named after it; the replica is said once, at the end.
    assert set_run_name(compose_cfg("dj=random", "replica=15"), "random-r15") == "random·random·32b·r15"
    assert set_run_name(compose_cfg("replica=15"), "random-r1") == "reference·random-r1·32b·r15"
    named = compose_cfg("tracking.run_name=my take")
    assert set_run_name(named, "palette_003") == "my take"
    assert screen_run_name(compose_cfg("experiment=screen_palettes")) == "screen n=100"
    assert screen_run_name(compose_cfg("experiment=screen_palettes", "experiment.screen.n=7")) == "screen n=7"


def test_ui_command_names_the_environments_own_mlflow(tmp_path, monkeypatch):
    tracking = _tracking(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    words = shlex.split(ui_command(tracking))
    own = Path(sys.executable).parent / "mlflow"
    assert Path(words[0]) == own and own.exists()
    assert words[1:3] == ["ui", "--backend-store-uri"] and words[3] == str(tracking.uri)
    assert "\n" not in ui_command(tracking)


def test_run_url_points_at_the_run_on_the_printed_port(tmp_path):
    url = run_url(_tracking(tmp_path), "4", "abc123")
    assert url == "http://127.0.0.1:5000/#/experiments/4/runs/abc123?workflowType=machine_learning"
    server = OmegaConf.create({"uri": "http://mlflow.example:8080/"})
    assert run_url(server, "1", "r").startswith("http://mlflow.example:8080/#/experiments/1/runs/r?")
    assert ui_command(server) == "http://mlflow.example:8080/"


def test_code_version_comes_from_the_installed_package_not_the_launch_folder(tmp_path, monkeypatch):
    import re

    from rlmdj.tracking import versions

    monkeypatch.chdir(tmp_path)  # not a git checkout
    versions.package_commit.cache_clear()
    versions.code_tags.cache_clear()
    tags = versions.code_tags()
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", tags["rlmdj.git_commit"])
    assert tags["mlflow.source.git.commit"] == tags["rlmdj.git_commit"].removesuffix("-dirty")
    assert tags["rlmdj.version"] and set(tags) >= {"rlmdj.versions.mlflow", "rlmdj.versions.dspy",
                                                   "rlmdj.versions.torch"}
