"""The writer a command leaves lingering: the next command from the same folder, environment and
code records through it (nothing lost, nothing different in the store), a changed store or a dead
writer makes the next command start its own, and the command's output ends with the command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_script import RLMDJ, error_lines, run_rlmdj
from mlflow.tracking import MlflowClient
from run_manifest import manifest
from sigterm_run import killed_run_with_audio, sigterm_at

from rlmdj.errors import ParameterError
from rlmdj.tracking.writer import lingering, recorder, service
from rlmdj.tracking.writer.process import SocketWriter
from rlmdj.tracking.writer.service import Listener

ARGS = ["bars=8", "progress=false"]


def _writers(token: str) -> list[int]:
    """Pids of the writer processes started with ``token`` in their environment."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"rlmdj.tracking.writer" in cmdline and f"LINGER_TEST={token}".encode() in environ.split(b"\0"):
            pids.append(int(entry.name))
    return sorted(pids)


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and b"Z" not in _state(pid) for pid in pids):
            return True
        time.sleep(0.2)
    return False


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return b"Z"


@pytest.fixture()
def linger(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Lingering on (30 s) for the commands this test runs, tagged so their writers are found
    (and killed when it ends)."""
    token = uuid.uuid4().hex
    # run_rlmdj leaves these out of its commands' environment; so does every command here, or two
    # would differ in their environments and rightly not share a writer.
    for name in ("HYDRA_FULL_ERROR", "RLMDJ_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RLMDJ_WRITER_LINGER_S", "30")
    monkeypatch.setenv("LINGER_TEST", token)
    yield token
    for pid in _writers(token):
        os.kill(pid, signal.SIGKILL)


def _runs(store: Path) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("rlmdj")
    return [] if experiment is None else client.search_runs([experiment.experiment_id],
                                                            order_by=["attribute.start_time"])


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]


# ------------------------------------------------------------------ settings and names
@pytest.mark.parametrize("text", ["abc", "nan", "inf", "-1", "1e9", "--"])
def test_a_bad_linger_setting_is_refused_naming_the_variable(text):
    with pytest.raises(ParameterError, match="RLMDJ_WRITER_LINGER_S="):
        lingering.linger_s({"RLMDJ_WRITER_LINGER_S": text})


def test_the_linger_setting_defaults_to_a_minute_and_zero_turns_it_off(monkeypatch):
    assert lingering.linger_s({}) == lingering.DEFAULT_LINGER_S == 60.0
    assert lingering.linger_s({"RLMDJ_WRITER_LINGER_S": " 2.5 "}) == 2.5
    monkeypatch.setattr(lingering, "_ADDRESS", [])
    monkeypatch.setenv("RLMDJ_WRITER_LINGER_S", "0")
    assert lingering.address() is None


def test_the_socket_name_changes_with_the_environment_and_the_folder_not_with_the_shell_s_own(
        monkeypatch, tmp_path):
    monkeypatch.setenv("RLMDJ_WRITER_LINGER_S", "60")

    def name() -> str | None:
        monkeypatch.setattr(lingering, "_ADDRESS", [])
        return lingering.address()

    first = name()
    assert first is not None and first.startswith(f"rlmdj-writer-{os.getuid()}-")
    monkeypatch.setenv("OLDPWD", "/somewhere/else")  # the shell's, per command
    assert name() == first
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "another")  # what a writer would send with
    assert name() != first
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.chdir(tmp_path)
    assert name() != first


def test_a_store_deleted_or_replaced_after_it_was_opened_is_seen(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder, "_IDENTITIES", {})
    store = tmp_path / "mlruns.db"
    store.write_bytes(b"x")
    path = recorder._local_path(f"sqlite:///{store}")
    assert path == str(store) and recorder._local_path("http://127.0.0.1:5000") is None
    recorder._IDENTITIES[path] = recorder._identity(path)
    assert recorder.stores_unchanged()
    with store.open("rb"):  # held open, as the writer's database connection holds it
        store.unlink()
        assert not recorder.stores_unchanged()
        store.write_bytes(b"x")  # the same name, another file
        assert not recorder.stores_unchanged()


@pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"),
                    reason="needs root to connect as another user")
def test_a_process_of_another_user_is_not_served(tmp_path):
    name = f"rlmdj-writer-test-{uuid.uuid4().hex}"
    served: list[str] = []
    listener = Listener(lingering.claim(name), lambda messages, replies: served.append("x"))
    try:
        code = (f"import os, json\nfrom rlmdj.tracking.writer import lingering\nos.setuid(65534)\n"
                f"print(lingering.connect({name!r}, wait_s=5) is None)")
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert other.stdout.strip() == "True", other.stderr[-2000:]
        assert lingering.connect(name) is not None  # its own user is greeted
    finally:
        listener.close()
    assert served == ["x"]


def _within(seconds: float, condition) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_socket_a_command_shares_through_a_lingering_writer_goes_with_that_command(tmp_path):
    """A joblib sweep chosen in a config file shares the writer its command connected to: the
    workers' socket must close when that command hangs up, not when the writer leaves."""
    name = f"rlmdj-writer-test-{uuid.uuid4().hex}"
    listener = Listener(lingering.claim(name), service.serve)
    try:
        writer = SocketWriter(lingering.connect(name))
        path = tmp_path / "share" / "writer.sock"
        path.parent.mkdir()
        writer.listen(str(path))
        assert _within(10, path.exists)
        writer.close()
        assert _within(10, lambda: not path.parent.exists())
    finally:
        listener.close()


# ------------------------------------------------------------------ through the console script
@pytest.mark.slow
def test_the_next_command_records_through_the_writer_the_first_left_with_the_same_record(
        tmp_path, pack_cache_dir, linger):
    first = run_rlmdj(tmp_path, *ARGS)
    _ok(first)
    (writer,) = _writers(linger)  # still there: the command's output ended with the command
    second = run_rlmdj(tmp_path, *ARGS)
    _ok(second)
    assert _writers(linger) == [writer]  # no writer of its own
    assert "rlmdj: error" not in second.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    own, through = (manifest(client, run.info.run_id) for run in _runs(tmp_path / "mlruns.db"))
    assert through["status"] == own["status"] == "FINISHED"
    assert through == own


@pytest.mark.slow
def test_each_command_through_a_lingering_writer_closes_the_runs_dead_processes_left_running(
        tmp_path, pack_cache_dir, linger):
    """As when each command opened the store with a writer of its own: the stale-run scan."""
    from rlmdj.tracking.health import HOST_TAG, PID_TAG

    _ok(run_rlmdj(tmp_path, *ARGS))
    (writer,) = _writers(linger)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = client.create_run(client.get_experiment_by_name("rlmdj").experiment_id,
                              tags={HOST_TAG: socket.gethostname(), PID_TAG: gone}).info.run_id
    _ok(run_rlmdj(tmp_path, *ARGS))
    assert _writers(linger) == [writer]
    assert client.get_run(stale).info.status == "FAILED"


@pytest.mark.slow
def test_the_writer_leaves_once_no_command_used_it_for_its_seconds(tmp_path, pack_cache_dir, linger,
                                                                   monkeypatch):
    monkeypatch.setenv("RLMDJ_WRITER_LINGER_S", "1")
    _ok(run_rlmdj(tmp_path, *ARGS))
    assert _gone_within(_writers(linger), 30)


@pytest.mark.slow
def test_sigterm_makes_a_lingering_writer_leave_at_once(tmp_path, pack_cache_dir, linger):
    _ok(run_rlmdj(tmp_path, *ARGS))
    (writer,) = _writers(linger)
    os.kill(writer, signal.SIGTERM)
    assert _gone_within([writer], 10)  # not the 30 s it would stay


@pytest.mark.slow
def test_a_deleted_store_makes_the_next_command_start_a_writer_of_its_own(tmp_path, pack_cache_dir,
                                                                          linger):
    store = tmp_path / "mlruns.db"
    _ok(run_rlmdj(tmp_path, *ARGS))
    (kept_open,) = _writers(linger)
    store.unlink()
    _ok(run_rlmdj(tmp_path, *ARGS))
    (run,) = _runs(store)  # in the new file, not in the deleted one the first writer held
    assert run.info.status == "FINISHED"
    assert _gone_within([kept_open], 30)
    assert _writers(linger) != [kept_open]


@pytest.mark.slow
def test_a_killed_lingering_writer_leaves_the_next_command_to_start_its_own(tmp_path, pack_cache_dir,
                                                                             linger):
    _ok(run_rlmdj(tmp_path, *ARGS))
    (writer,) = _writers(linger)
    os.kill(writer, signal.SIGKILL)
    assert _gone_within([writer], 30)
    _ok(run_rlmdj(tmp_path, *ARGS))
    assert [r.info.status for r in _runs(tmp_path / "mlruns.db")] == ["FINISHED", "FINISHED"]


@pytest.mark.slow
def test_two_commands_at_once_are_both_recorded_and_one_writer_stays(tmp_path, pack_cache_dir, linger):
    procs = [subprocess.Popen([RLMDJ, *ARGS], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    assert [r.info.status for r in _runs(tmp_path / "mlruns.db")] == ["FINISHED", "FINISHED"]
    assert len(_writers(linger)) == 1  # the other exited with its command, or was never started


@pytest.mark.slow
def test_sigterm_to_a_command_recording_through_a_lingering_writer_ends_its_run_killed(
        tmp_path, pack_cache_dir, linger):
    _ok(run_rlmdj(tmp_path, *ARGS))
    (writer,) = _writers(linger)
    second_store = tmp_path / "second.db"
    sigterm_at("reference DJ", ["bars=512", f"tracking.uri=sqlite:///{second_store}",
                                f"tracking.artifact_location={tmp_path}/second-art"], tmp_path)
    killed_run_with_audio(f"sqlite:///{second_store}")
    assert _writers(linger) == [writer]


def test_a_bad_linger_setting_through_the_console_script_is_one_line(tmp_path, pack_cache_dir):
    proc = run_rlmdj(tmp_path, *ARGS, env={"RLMDJ_WRITER_LINGER_S": "soon"})
    assert proc.returncode == 2
    assert error_lines(proc) == ["rlmdj: error: RLMDJ_WRITER_LINGER_S='soon': expected seconds from "
                                 "0 (off) to 86400"]
