"""The `rlmdj` console script as a careless user meets it: every failure of the input or the
environment is one line naming the key or path, exits non-zero, creates no needless run and
loses nothing. Full tracebacks only with RLMDJ_DEBUG=1."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_script import RLMDJ, error_lines, run_rlmdj
from mlflow.tracking import MlflowClient
from sigterm_run import killed_run_with_audio, sigterm_at

pytestmark = [pytest.mark.slow, pytest.mark.hardening]


def runs_in(store: Path) -> list:
    if not store.exists():
        return []
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("rlmdj")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in error_lines(proc) if ln.startswith("rlmdj: error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A small RAM file system at ``path`` (needs the right to mount; skipped otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def store_args(tmp_path: Path) -> list[str]:
    return [f"tracking.uri=sqlite:///{tmp_path}/mlruns.db",
            f"tracking.artifact_location={tmp_path}/mlartifacts", "progress=false"]


# --------------------------------------------------------------------------- input
@pytest.mark.parametrize(("args", "expected"), [
    (["barz=3"], "did you mean `bars`?"),
    (["+barz=3"], "did you mean `bars`?"),
    (["render.normalize_dbfs=3"], "render.normalize_dbfs"),
    (["render.normalize_dbfs=loud"], "render.normalize_dbfs"),
    (["render.wav_subtype=PCM_99"], "render.wav_subtype"),
    (["scorer=http", "scorer.url=http://127.0.0.1:9", "scorer.token_env=RLMDJ_UNSET_TOKEN_VAR"],
     "scorer.token_env"),
])
def test_typo_is_one_line_and_creates_no_run(tmp_path, pack_cache_dir, args, expected):
    proc = run_rlmdj(tmp_path, *args, *store_args(tmp_path))
    line = one_error_line(proc)
    assert expected in line
    assert "+barz" not in line and "target_dbfs" not in line
    assert runs_in(tmp_path / "mlruns.db") == []


def test_non_utf8_palette_is_one_line(tmp_path, pack_cache_dir):
    palettes = tmp_path / "palettes"
    palettes.mkdir()
    (palettes / "latin.json").write_bytes('{"name": "caf\xe9", "samples": {"kick": "kick-00"}}'
                                          .encode("latin-1"))
    line = one_error_line(run_rlmdj(tmp_path, "palette=latin", *store_args(tmp_path)))
    assert "latin.json" in line and "UTF-8" in line
    assert runs_in(tmp_path / "mlruns.db") == []


def test_empty_palette_is_refused_instead_of_playing_silence(tmp_path, pack_cache_dir):
    palettes = tmp_path / "palettes"
    palettes.mkdir()
    (palettes / "nothing.json").write_text('{"name": "nothing", "samples": {}}')
    line = one_error_line(run_rlmdj(tmp_path, "palette=nothing", *store_args(tmp_path)))
    assert "no samples" in line
    assert runs_in(tmp_path / "mlruns.db") == []


def test_serve_port_out_of_range_before_the_model_loads(tmp_path, pack_cache_dir):
    started = time.perf_counter()
    proc = run_rlmdj(tmp_path, "experiment=serve", "experiment.serve.port=70000",
                     "scorer=audiobox", "scorer.checkpoint=/no/such/checkpoint.pt")
    line = one_error_line(proc)
    assert "experiment.serve.port" in line and "65535" in line
    assert time.perf_counter() - started < 60


# ---------------------------------------------------------------------- environment
def test_garbage_tracking_uri_is_one_line(tmp_path, pack_cache_dir):
    line = one_error_line(run_rlmdj(tmp_path, "bars=4", "tracking.uri=garbage://x", "progress=false"))
    assert "tracking.uri" in line and "garbage://x" in line


def test_debug_flag_shows_the_traceback(tmp_path, pack_cache_dir):
    proc = run_rlmdj(tmp_path, "bars=4", "tracking.uri=http://127.0.0.1:9", "progress=false",
                     env={"RLMDJ_DEBUG": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_unreachable_tracking_server_fails_within_15_s(tmp_path, pack_cache_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    proc = run_rlmdj(tmp_path, "bars=4", f"tracking.uri=http://127.0.0.1:{port}", "progress=false",
                     timeout=120)
    elapsed = time.perf_counter() - started
    line = one_error_line(proc)
    assert f"tracking.uri=http://127.0.0.1:{port}" in line and "no MLflow server answers" in line
    assert elapsed < 15, f"took {elapsed:.1f} s"


def test_dead_scoring_endpoint_is_found_before_the_set_is_played(tmp_path, pack_cache_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_rlmdj(tmp_path, "bars=8", "scorer=http", f"scorer.url=http://127.0.0.1:{port}",
                     "scorer.max_wait_s=3", *store_args(tmp_path), timeout=120)
    line = one_error_line(proc)
    assert f"127.0.0.1:{port}/health" in line and "scorer.max_wait_s" in line
    runs = runs_in(tmp_path / "mlruns.db")
    assert [r.info.status for r in runs] == ["FAILED"]
    # Nothing was played: no set, no partial audio, no bars logged.
    artifacts = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db").list_artifacts(
        runs[0].info.run_id, "audio")
    assert artifacts == []
    assert "dj/layers" not in runs[0].data.metrics


def test_read_only_artifact_folder_is_found_before_the_run(tmp_path, pack_cache_dir):
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        proc = run_rlmdj(tmp_path, "bars=4", f"tracking.uri=sqlite:///{tmp_path}/mlruns.db",
                         f"tracking.artifact_location={ro}/art", "progress=false")
    line = one_error_line(proc)
    assert "tracking.artifact_location" in line and "Read-only file system" in line
    assert runs_in(tmp_path / "mlruns.db") == []


def test_full_artifact_disk_is_one_line_and_the_run_is_not_left_running(tmp_path, pack_cache_dir):
    with tmpfs(tmp_path / "full", "256k") as full:
        proc = run_rlmdj(tmp_path, "bars=16", f"tracking.uri=sqlite:///{tmp_path}/mlruns.db",
                         f"tracking.artifact_location={full}", "progress=false")
    line = one_error_line(proc)
    assert "tracking.artifact_location" in line and "No space left on device" in line
    assert [r.info.status for r in runs_in(tmp_path / "mlruns.db")] == ["FAILED"]


def test_store_on_a_full_disk_leaves_nothing_running(tmp_path, pack_cache_dir):
    with tmpfs(tmp_path / "store", "4m") as disk:
        store = disk / "mlruns.db"
        args = [f"tracking.uri=sqlite:///{store}", f"tracking.artifact_location={tmp_path}/art",
                "progress=false"]
        assert run_rlmdj(tmp_path, "bars=4", *args).returncode == 0
        proc = subprocess.Popen([RLMDJ, "bars=256", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline and not any(r.info.status == "RUNNING" for r in runs_in(store)):
            time.sleep(0.2)
        filler = disk / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
        out, err = proc.communicate(timeout=300)
        full = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        if full.returncode != 0:
            line = one_error_line(full)
            assert "tracking" in line or "space" in line.lower()
        filler.unlink()
        # The next start closes whatever the full disk left RUNNING.
        assert run_rlmdj(tmp_path, "bars=4", *args).returncode == 0
        statuses = [r.info.status for r in runs_in(store)]
    assert "RUNNING" not in statuses and len(statuses) == 3


# -------------------------------------------------------------------- lose nothing
def test_sigterm_during_the_write_stage_keeps_the_audio(tmp_path, pack_cache_dir):
    sigterm_at("writing audio", ["bars=256", *store_args(tmp_path)[:2]], tmp_path, end_within_s=600)
    killed_run_with_audio(f"sqlite:///{tmp_path}/mlruns.db")


def test_two_runs_started_in_the_same_second_get_their_own_folders(tmp_path, pack_cache_dir):
    procs = [subprocess.Popen([RLMDJ, "bars=2", f"replica={i}", *store_args(tmp_path)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        p.communicate(timeout=300)
        assert p.returncode == 0
    configs = sorted((tmp_path / "outputs").glob("*/*/.hydra/config.yaml"))
    assert len(configs) == 2
    assert {c.parent.parent for c in configs}.__len__() == 2
    assert sorted("replica: 1" in c.read_text() for c in configs) == [False, True]


@pytest.mark.parametrize(("args", "expected"), [
    (["render.normalize_dbfs=3"], "render.normalize_dbfs"),
    (["tracking.uri=http://127.0.0.1:9"], "no MLflow server answers"),
])
def test_sweep_with_a_bad_shared_value_opens_no_parent_run(tmp_path, pack_cache_dir, args, expected):
    proc = run_rlmdj(tmp_path, "-m", "replica=0,1", "bars=2", "progress=false", *args)
    line = one_error_line(proc)
    assert expected in line
    assert "UserWarning" not in proc.stderr
    assert runs_in(tmp_path / "mlruns.db") == []
