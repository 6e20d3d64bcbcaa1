"""Through the ``rlmdj`` CLI as a shell runs it (``PWD`` is the launch folder): the launch folder
is kept byte for byte, and a secret swept on the command line reaches no store entry (params,
tags, metric keys, artifacts), no file of the launch folder and no line of the terminal, under
the basic and sequential sweepers and the joblib launcher."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

RLMDJ = str(Path(sys.executable).parent / "rlmdj")
KEY = re.compile(r"[A-Za-z0-9_./ :-]+")


def run_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """``rlmdj <args>`` launched from ``folder`` by a shell, which sets ``PWD`` to it."""
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "RLMDJ_DEBUG")}
    env["PWD"] = str(folder)
    return subprocess.run([RLMDJ, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def files_with(root: Path, needle: str) -> list[str]:
    data = needle.encode()
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def store(folder: Path) -> tuple[MlflowClient, list]:
    client = MlflowClient(tracking_uri=f"sqlite:///{folder}/mlruns.db")
    return client, client.search_runs([client.get_experiment_by_name("rlmdj").experiment_id])


def assert_documents_load(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.suffix in (".yaml", ".yml"):
            yaml.safe_load(path.read_text(encoding="utf-8"))
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture()
def launch(tmp_path: Path, pack_cache_dir: Path) -> Path:
    folder = tmp_path / "Music Projects ü" / "techno sets"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.slow
def test_the_launch_folder_is_no_secret(launch):
    proc = run_in(launch, "bars=4", "progress=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "***" not in proc.stdout + proc.stderr
    client, (run,) = store(launch)
    tags = run.data.tags
    assert tags["rlmdj.path.paths.root_dir"] == str(launch)
    assert tags["rlmdj.path.tracking.uri"] == f"sqlite:///{launch}/mlruns.db"
    assert tags["rlmdj.path.paths.output_dir"].startswith(f"{launch}/outputs/")
    config = yaml.safe_load(Path(client.download_artifacts(run.info.run_id, "config.yaml", str(launch.parent)))
                            .read_text(encoding="utf-8"))
    assert config["paths"]["root_dir"] == str(launch)
    (hydra_file,) = launch.glob("outputs/*/*/.hydra/hydra.yaml")
    assert yaml.safe_load(hydra_file.read_text(encoding="utf-8"))["hydra"]["runtime"]["cwd"] == str(launch)
    assert_documents_load(launch)
    from rlmdj.tracking.scrubbing import TEXT_SUFFIXES

    masked = [p for p in launch.rglob("*") if p.suffix in TEXT_SUFFIXES and "***" in p.read_text("utf-8")]
    assert masked == []


SWEEPS = {
    "basic": (),
    "sequential": ("hydra/sweeper=sequential", "hydra.sweeper.min_replicas=2", "hydra.sweeper.max_replicas=2"),
    "joblib": ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"),
}


@pytest.mark.slow
@pytest.mark.parametrize("sweep", list(SWEEPS))
def test_a_swept_secret_shows_nowhere(launch, sweep):
    # One value with a provider's shape, one without (masked as a value swept under a secret key).
    shaped, plain = f"sk-{uuid.uuid4().hex}", f"local-{uuid.uuid4().hex[:16]}"
    proc = run_in(launch, "-m", *SWEEPS[sweep], "bars=4", "progress=false",
                  f"+model.extra.api_key={plain},{shaped}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    terminal = proc.stdout + proc.stderr
    for secret in (shaped, plain):
        assert secret not in terminal, sweep
        assert files_with(launch, secret) == [], sweep  # the store, its artifacts, the output folders
    assert "+model.extra.api_key=***" in terminal  # Hydra's echo of each job, masked
    client, runs = store(launch)
    parent = next(r for r in runs if r.data.tags.get("rlmdj.sweep") == "parent")
    for run in runs:
        keys = [*run.data.params, *run.data.tags, *run.data.metrics]
        assert all(KEY.fullmatch(k) for k in keys), keys
        if run is not parent:
            assert run.data.tags["rlmdj.path.paths.root_dir"] == str(launch)
            assert run.data.tags["rlmdj.path.tracking.uri"] == f"sqlite:///{launch}/mlruns.db"
    assert parent.data.tags["rlmdj.sweep_dir"].startswith(f"{launch}/multirun/")
    if sweep == "sequential":
        assert any(k.startswith("sequential/") for k in parent.data.metrics)
        assert re.search(r"\*\*\* vs (sk-)?\*\*\*", parent.data.tags["rlmdj.sequential.verdict"])
        local = client.download_artifacts(parent.info.run_id, "sequential/sequential.json", str(launch.parent))
        json.loads(Path(local).read_text(encoding="utf-8"))
    assert_documents_load(launch)
