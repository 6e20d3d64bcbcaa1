"""Every setting is checked before a run opens, through the `rlmdj` console script: the sweeper's
and launcher's settings, every job of a sweep, a sweep without jobs, the greedy DJ's settings,
file stores, palette names. Each refusal is exit 2 and one line naming the key, and leaves
nothing in the launch folder (no store, no parent run, no artifact folder)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from console_script import error_lines, run_rlmdj
from mlflow.tracking import MlflowClient

pytestmark = [pytest.mark.slow, pytest.mark.hardening]

SEQUENTIAL = ["-m", "hydra/sweeper=sequential", "dj=reference,random", "bars=1", "progress=false"]


def refusal(proc: subprocess.CompletedProcess) -> str:
    """The one error line of a refused command (exit 2, no traceback, no resume advice)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in error_lines(proc) if ln.startswith("rlmdj: error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert "resume" not in proc.stderr and "interrupted" not in proc.stderr
    assert "Error in call to target" not in lines[0] and "full_key" not in lines[0]
    return lines[0]


def runs_in(folder: Path) -> list:
    store = folder / "mlruns.db"
    if not store.exists():
        return []
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("rlmdj")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def assert_nothing_left(folder: Path) -> None:
    """No store, no artifact folder, no run or sweep folder: a refused command creates nothing."""
    left = sorted(p.name for p in folder.iterdir())
    assert left == [], left


# ------------------------------------------------------------------ sweeper and launcher
@pytest.mark.parametrize(("args", "expected"), [
    (["hydra.sweeper.alpha=0"], "hydra.sweeper.alpha must be in (0, 1), got 0"),
    (["hydra.sweeper.alpha=1"], "hydra.sweeper.alpha must be in (0, 1)"),
    (["hydra.sweeper.alpha=nan"], "hydra.sweeper.alpha must be a finite number"),
    (["hydra.sweeper.delta=0"], "hydra.sweeper.delta must be > 0"),
    (["hydra.sweeper.prior_effect=-1"], "hydra.sweeper.prior_effect must be in (0, 10]"),
    (["hydra.sweeper.prior_effect=1e4"], "hydra.sweeper.prior_effect must be in (0, 10]"),
    (["hydra.sweeper.max_replicas=0"], "hydra.sweeper.max_replicas (0) must be >= min_replicas"),
    (["hydra.sweeper.max_replicas=1"], "hydra.sweeper.max_replicas (1) must be >= min_replicas"),
    (["hydra.sweeper.min_replicas=1"], "hydra.sweeper.min_replicas must be >= 2"),
    (["hydra.sweeper.round_size=0"], "hydra.sweeper.round_size must be >= 1"),
])
def test_bad_sequential_setting_is_refused_before_the_parent_run(tmp_path, pack_cache_dir, args, expected):
    line = refusal(run_rlmdj(tmp_path, *SEQUENTIAL, *args, timeout=120))
    assert expected in line
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize(("args", "expected"), [
    (["hydra/launcher=joblib_local", "hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs must not be 0"),
    (["hydra/launcher=ray", "hydra.launcher.num_cpus=0"], "hydra.launcher.num_cpus must be between 1"),
    (["hydra/launcher=ray", "hydra.launcher.cancel_grace_s=-1"], "hydra.launcher.cancel_grace_s"),
    (["hydra.sweeper.max_batch_size=0"], "hydra.sweeper.max_batch_size must be between 1"),
])
def test_bad_launcher_setting_is_refused_before_the_parent_run(tmp_path, pack_cache_dir, args, expected):
    line = refusal(run_rlmdj(tmp_path, "-m", "replica=0,1", "bars=1", "progress=false", *args, timeout=120))
    assert expected in line
    assert_nothing_left(tmp_path)


# ------------------------------------------------------------------------ each job
@pytest.mark.parametrize(("args", "expected"), [
    (["bars=8,0"], "job #1 (bars=0): bars must be between 1 and 4096, got 0"),
    (["render.wav_subtype=FLOAT,PCM_99"], "render.wav_subtype must be one of FLOAT"),
    (["bars=1,abc"], "bars: Value 'abc'"),
    (["dj=random,greedy", "dj.candidates=0"], "(dj=greedy): dj.candidates must be between 1"),
    (["bpm=120,900"], "bpm must be between 20 and 400, got 900"),
    (["palette=random,nope"], "palette=nope: no such palette"),
    (["replica=range(0)"], "the sweep has no jobs: replica=range(0)"),
])
def test_every_job_is_checked_before_the_first_one_runs(tmp_path, pack_cache_dir, args, expected):
    proc = run_rlmdj(tmp_path, "-m", "bars=1", "progress=false", *args, timeout=120)
    line = refusal(proc)
    assert expected in line
    assert "job 1/" not in proc.stdout  # no job ran
    assert_nothing_left(tmp_path)


def test_sequential_condition_is_checked_before_the_first_round(tmp_path, pack_cache_dir):
    proc = run_rlmdj(tmp_path, "-m", "hydra/sweeper=sequential", "dj=random,greedy", "dj.phrase_bars=0",
                     "bars=1", "progress=false", timeout=120)
    assert "condition dj=greedy: dj.phrase_bars must be between 1" in refusal(proc)
    assert_nothing_left(tmp_path)


def test_a_good_sweep_still_runs(tmp_path, pack_cache_dir):
    proc = run_rlmdj(tmp_path, "-m", "dj=reference,greedy", "bars=1,2", "progress=false", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = runs_in(tmp_path)
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 5  # 4 jobs and the parent


# ------------------------------------------------------------------------ single runs
@pytest.mark.parametrize(("args", "expected"), [
    (["dj=greedy", "dj.candidates=0"], "dj.candidates must be between 1 and 1000, got 0"),
    (["dj=greedy", "dj.phrase_bars=0"], "dj.phrase_bars must be between 1 and 4096, got 0"),
    (["dj=greedy", "ears.max_chars=10"], "ears.max_chars must be between 200"),
    (["bpm=19"], "bpm must be between 20 and 400"),
    (["palette=nope"], "`rlmdj experiment=samples` lists the palettes"),
    (["palette=é"], "palette=é: no such palette; `rlmdj experiment=samples`"),
    (["dj=refrence"], "dj=refrence: no such option of `dj`; did you mean `dj=reference`?"),
    (["experiment=null"], "experiment=null: no such option of `experiment`"),
])
def test_bad_setting_of_a_run_is_refused_before_it_opens(tmp_path, pack_cache_dir, args, expected):
    line = refusal(run_rlmdj(tmp_path, "bars=1", "progress=false", *args, timeout=120))
    assert expected in line
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("uri", ["file://{tmp}/fs", "{tmp}/fs", "fs"])
def test_file_store_is_refused_for_what_it_is_and_creates_nothing(tmp_path, pack_cache_dir, uri):
    line = refusal(run_rlmdj(tmp_path, f"tracking.uri={uri.format(tmp=tmp_path)}", "progress=false",
                             timeout=120))
    assert "MLflow no longer takes file stores" in line
    assert f"tracking.uri=sqlite:///{tmp_path / 'fs' / 'mlruns.db'}" in line
    assert_nothing_left(tmp_path)  # neither the folder nor ./mlartifacts


def test_refused_run_creates_no_artifact_folder(tmp_path, pack_cache_dir):
    """The folder checks probe, they do not create, and the preflight runs before Hydra makes
    the run's output folder: a run refused by its last check leaves no folder at all."""
    refusal(run_rlmdj(tmp_path, "palette.roles=[]", "bars=1", "progress=false", timeout=120))
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("bpm", ["20", "60", "256.5", "400"])
def test_every_documented_tempo_plays_with_the_builtin_loops(tmp_path, pack_cache_dir, bpm):
    proc = run_rlmdj(tmp_path, f"bpm={bpm}", "bars=2", "progress=false", timeout=300)  # 128 BPM loops
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r.info.status for r in runs_in(tmp_path)] == ["FINISHED"]


def test_a_joblib_sweep_whose_store_cannot_open_leaves_no_writer_behind(tmp_path, pack_cache_dir):
    """Its run writer lives in its own threads, still importing MLflow when the store is refused:
    the command exits with the one line, no traceback from that thread, and no socket left."""
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("rlmdj-writer-*"))
    proc = run_rlmdj(tmp_path, "-m", "replica=0,1", "bars=1", "progress=false", "hydra/launcher=joblib",
                     "hydra.launcher.n_jobs=2", "tracking.uri=sqlite:////proc/rlmdj-nowhere/mlruns.db",
                     timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in error_lines(proc) if ln.startswith("rlmdj: error:")]
    assert len(lines) == 1 and "tracking.uri" in lines[0], proc.stderr[-3000:]
    assert set(Path(tempfile.gettempdir()).glob("rlmdj-writer-*")) <= before
