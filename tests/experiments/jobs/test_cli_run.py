"""End to end: the `rlmdj` console script in a temp dir, checked through the MLflow client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]  # end to end: the console script in a subprocess

RLMDJ = str(Path(sys.executable).parent / "rlmdj")


def run_cli(cwd: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    proc = subprocess.run([RLMDJ, *overrides], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlmdj failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def only_run(cwd: Path):
    client = MlflowClient(tracking_uri=f"sqlite:///{cwd}/mlruns.db")
    experiment = client.get_experiment_by_name("rlmdj")
    runs = client.search_runs([experiment.experiment_id])
    return client, runs


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, pack_cache_dir):
    cwd = tmp_path_factory.mktemp("cli")
    proc = run_cli(cwd, "bars=16", "progress=false")
    client, runs = only_run(cwd)
    assert len(runs) == 1
    return cwd, client, runs[0], proc


def test_run_records_params_tags_metrics(default_run):
    _, _, run, proc = default_run
    assert run.info.status == "FINISHED"
    assert run.data.params["bars"] == "16"
    assert run.data.params["dj.driver"] == "reference"
    assert run.data.params["scorer.name"] == "proxy"
    tags = run.data.tags
    for key in ("rlmdj.config_hash", "rlmdj.palette", "rlmdj.palette_hash", "rlmdj.scorer_identity",
                "rlmdj.dj"):
        assert tags.get(key), key
    metrics = run.data.metrics
    for key in ("proxy/CE", "proxy/CU", "proxy/PC", "proxy/PQ", "proxy/OBJ", "signal/lufs",
                "signal/peak_dbfs", "signal/clipped_fraction", "signal/silence_fraction",
                "signal/crest_factor_db"):
        assert key in metrics, key
    expected = (0.6 * metrics["proxy/CE"] + 0.05 * metrics["proxy/CU"]
                + 0.05 * metrics["proxy/PC"] + 0.3 * metrics["proxy/PQ"])
    assert metrics["proxy/OBJ"] == pytest.approx(expected, abs=1e-6)
    assert metrics["signal/peak_dbfs"] == pytest.approx(-1.0, abs=0.05)
    assert run.info.run_id in proc.stdout and "mlflow ui" in proc.stdout


def test_run_logs_artifacts_and_step_metrics(default_run):
    _, client, run, _ = default_run
    run_id = run.info.run_id
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "palette.json", "arrangement.json", "arrangement.png", "scores.json",
            "audio"} <= names
    audio = {a.path for a in client.list_artifacts(run_id, "audio")}
    assert {"audio/set.flac", "audio/preview.ogg"} <= audio
    history = client.get_metric_history(run_id, "proxy/window/CE")
    assert len(history) == 3  # 16 bars = 30 s -> three 10 s windows
    layers = client.get_metric_history(run_id, "dj/layers")
    assert len(layers) == 16
    local = client.download_artifacts(run_id, "arrangement.json")
    bars = json.loads(Path(local).read_text())["bars"]
    assert len(bars) == 16 and bars[0]["layers"]["kick"]["pattern"] == "four_on_floor"


def test_same_config_same_audio_bytes(default_run, tmp_path):
    cwd, client, run, _ = default_run
    run_cli(tmp_path, "bars=16", "progress=false")
    client2, runs2 = only_run(tmp_path)
    assert runs2[0].data.tags["rlmdj.render_sha256"] == run.data.tags["rlmdj.render_sha256"]
    a = Path(client.download_artifacts(run.info.run_id, "audio/set.flac")).read_bytes()
    b = Path(client2.download_artifacts(runs2[0].info.run_id, "audio/set.flac")).read_bytes()
    assert a == b
    assert runs2[0].data.tags["rlmdj.config_hash"] == run.data.tags["rlmdj.config_hash"]


def test_bad_palette_fails_clearly_and_leaves_no_running_run(tmp_path, pack_cache_dir):
    palettes = tmp_path / "palettes"
    palettes.mkdir()
    (palettes / "broken.json").write_text(json.dumps(
        {"name": "broken", "samples": {"kick": "kick-999", "bassline": "kick-01"}}))
    proc = run_cli(tmp_path, "palette=broken", "progress=false", check=False)
    assert proc.returncode != 0
    assert "kick-999" in proc.stderr
    # Checked before the run is opened: the store holds no run at all.
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    experiment = client.get_experiment_by_name("rlmdj")
    assert experiment is None or client.search_runs([experiment.experiment_id]) == []


def test_typo_in_override_fails_at_composition(tmp_path):
    proc = run_cli(tmp_path, "scorer.wieghts=1", check=False)
    assert proc.returncode != 0 and "wieghts" in proc.stderr
    proc = run_cli(tmp_path, "palette=no_such_palette", check=False)
    assert proc.returncode != 0 and "random" in proc.stderr
