"""A sweep's workers record through the launching process's writer over a Unix socket: runs one
after another on one connection each, nothing lost when a worker is killed, and a worker that
finds no writer to share starts its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from rlmdj.tracking.writer import process
from rlmdj.tracking.writer.process import (
    SOCKET_ENV,
    SocketWriter,
    ThreadWriter,
    Writer,
    connect_shared,
)
from rlmdj.tracking.writer.queued import QueuedRun
from rlmdj.tracking.writer.shared import share

pytestmark = pytest.mark.skipif(not hasattr(__import__("socket"), "AF_UNIX"), reason="Unix sockets")


@pytest.fixture(params=[Writer, ThreadWriter], ids=["writer-process", "sweep-process-threads"])
def sharing(request, tmp_path, monkeypatch):
    """A writer listening as a sweep's would (its own process, or threads of the sweep's process:
    here, this one); this test process plays one of its workers."""
    writer = request.param()
    path = share(writer)
    monkeypatch.setenv(SOCKET_ENV, f"1:{path}")  # shared by another process (pid 1), not this one
    monkeypatch.setattr(process, "_SHARED", [])
    yield {"writer": writer, "path": path, "uri": f"sqlite:///{tmp_path / 'mlruns.db'}",
           "artifacts": str(tmp_path / "artifacts")}
    writer.close(wait_s=60)


def _run(store: dict, out: Path, name: str) -> QueuedRun:
    return QueuedRun(uri=store["uri"], experiment="rlmdj", artifact_location=store["artifacts"],
                     scorer="proxy", out_dir=out, run_name=name, tags={"job": name})


def test_runs_one_after_another_are_recorded_through_the_shared_writer(sharing, tmp_path):
    ids = []
    for i in range(3):
        run = _run(sharing, tmp_path / f"job{i}", f"job{i}")
        assert isinstance(run._writer, SocketWriter)  # no writer process of its own
        run.log_params({"replica": i})
        run.log_metrics({"proxy/OBJ": 6.0 + i})
        run.log_text(f"config of job {i}", "config.yaml")
        run.end("FINISHED")
        assert run.write_error is None
        assert run._writer.closed  # between jobs a worker holds no connection open
        ids.append(run.run_id)
    assert all(isinstance(w, SocketWriter) for w in process._SHARED)
    assert len(process._SHARED) == 1  # the ended connections are not kept
    client = MlflowClient(sharing["uri"])
    for i, rid in enumerate(ids):
        got = client.get_run(rid)
        assert got.info.status == "FINISHED" and got.data.params["replica"] == str(i)
        assert got.data.metrics["proxy/OBJ"] == 6.0 + i and got.data.tags["job"] == f"job{i}"
        local = client.download_artifacts(rid, "config.yaml", str(tmp_path / f"dl{i}"))
        assert Path(local).read_text() == f"config of job {i}"
    assert not list(tmp_path.glob("job*/record-pending-*"))  # every journal cleared once sent


_KILLED_WORKER = """
import sys, time
from rlmdj.tracking.writer.queued import QueuedRun
run = QueuedRun(uri=sys.argv[1], experiment="rlmdj", artifact_location=sys.argv[2], scorer="proxy",
                out_dir=sys.argv[3], run_name="killed")
run.log_params({"replica": 7})
run.log_text("half a set", "partial.txt")
run.flush()
print(run.run_id, flush=True)
time.sleep(600)
"""


def test_a_killed_worker_s_run_ends_killed_with_what_it_wrote(sharing, tmp_path):
    env = {**os.environ, SOCKET_ENV: f"1:{sharing['path']}"}
    worker = subprocess.Popen([sys.executable, "-c", _KILLED_WORKER, sharing["uri"], sharing["artifacts"],
                               str(tmp_path / "job")], stdout=subprocess.PIPE, text=True, env=env)
    run_id = worker.stdout.readline().strip()
    assert run_id, "the worker never opened its run"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    client = MlflowClient(sharing["uri"])
    deadline = time.monotonic() + 60
    while client.get_run(run_id).info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    got = client.get_run(run_id)
    assert got.info.status == "KILLED" and got.data.params == {"replica": "7"}
    assert [a.path for a in client.list_artifacts(run_id)] == ["partial.txt"]
    assert sharing["writer"].alive  # the sweep's writer goes on for the other workers


def test_the_writer_exits_and_removes_its_socket_when_the_sweep_ends(sharing):
    writer, path = sharing["writer"], sharing["path"]
    deadline = time.monotonic() + 60
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Path(path).exists()
    writer.close(wait_s=60)
    if isinstance(writer, ThreadWriter):
        assert not writer._thread.is_alive() and not writer.alive
    else:
        assert writer.proc.poll() == 0
    assert not Path(path).parent.exists()


def test_a_worker_with_no_writer_to_share_starts_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv(SOCKET_ENV, f"1:{tmp_path / 'gone' / 'writer.sock'}")
    started = time.monotonic()
    assert connect_shared(wait_s=30) is None  # its folder is gone: no waiting
    assert time.monotonic() - started < 5
    monkeypatch.setenv(SOCKET_ENV, f"{os.getpid()}:{tmp_path / 'writer.sock'}")
    assert connect_shared() is None  # the sharing process records through its own writer
    monkeypatch.delenv(SOCKET_ENV)
    assert connect_shared() is None


@pytest.mark.parametrize(("argv", "kind"), [
    (["-m", "replica=range(4)", "hydra/launcher=joblib"], ThreadWriter),
    (["--multirun", "hydra/launcher=joblib_local"], ThreadWriter),
    (["-m", "hydra/launcher=joblib", "hydra/launcher=basic"], Writer),  # the last one named counts
    (["-m", "replica=range(4)"], Writer),  # the basic launcher's jobs run in this very process
    (["hydra/launcher=joblib"], Writer),  # no multirun: one run, recorded by a writer process
])
def test_a_joblib_sweep_records_in_its_own_process_and_starts_no_writer_process(argv, kind, monkeypatch):
    """Its process imports MLflow for the parent run anyway; a writer process would import it again
    while the workers fill the cores. Its workers still connect over the socket."""
    processes: list[str] = []

    class CountedWriter(Writer):
        def __init__(self, **kwargs: object) -> None:
            processes.append("started")
            super().__init__(**kwargs)

    monkeypatch.setattr(process, "Writer", CountedWriter)
    monkeypatch.setattr(process, "_SHARED", [])
    monkeypatch.setattr(process, "_RECORD_HERE", [])
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    process.prewarm(argv)
    if kind is Writer:
        assert processes == ["started"]  # at once, before Hydra composes
    else:
        assert process._SHARED == [] and processes == []  # nothing before the sweep shares it
    writer = process.shared_writer()
    try:
        assert isinstance(writer, kind) and writer.alive
        assert len(processes) == (1 if kind is Writer else 0)
    finally:
        writer.close(wait_s=60)
    assert not writer.alive


def test_text_masked_as_written_is_sent_as_it_is_and_what_is_written_over_it_is_checked(
        sharing, tmp_path, monkeypatch):
    """A file log_text wrote is masked already: the writer sends it without reading it again
    (a run card is most of a megabyte). One written over afterwards is checked when sent."""
    from rlmdj.tracking import scrubbing

    read: list[str] = []
    real = scrubbing.scrub_file
    monkeypatch.setattr(scrubbing, "scrub_file", lambda p: read.append(p.name) or real(p))
    secret = f"Bearer sk-{os.urandom(8).hex()}"
    run = _run(sharing, tmp_path / "job", "job")
    run.log_text("placeholder", "notes.json")  # then written over
    run.artifact_path("notes.json").write_text(f'{{"auth": "Authorization: {secret}"}}')
    run.log_text("placeholder", "alias.json")  # then written over under another name
    run.artifact_path("sub/../alias.json").write_text(f'{{"auth": "Authorization: {secret}"}}')
    run.log_text("placeholder", "search/plot.html")  # then written over through its folder
    (run.artifact_path("search/study.json").parent / "plot.html").write_text(f"<p>{secret}</p>")
    run.log_text(f"<p>Authorization: {secret}</p>", "run_card.html")
    run.log_text("kept: yes", "sub/config.yaml")
    assert run._scrubbed == {"run_card.html", "sub/config.yaml"}
    run.artifact_path("search/other.json")  # a folder handed out holds no file log_text wrote
    assert run._scrubbed == {"run_card.html", "sub/config.yaml"}
    run.end("FINISHED")
    assert run.write_error is None
    if isinstance(sharing["writer"], ThreadWriter):  # a writer process reads in its own process
        assert {"notes.json", "plot.html", "alias.json"} <= set(read)
        assert "run_card.html" not in read and "config.yaml" not in read
    stored = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert {p.name for p in stored} == {"run_card.html", "notes.json", "config.yaml", "plot.html",
                                        "alias.json"}
    assert not [p for p in stored if secret.split()[1] in p.read_text()]
    assert next(p for p in stored if p.name == "config.yaml").read_text() == "kept: yes"


def test_the_writer_process_runs_its_exit_handlers_and_flushes_before_its_quick_exit(tmp_path):
    """It skips tearing its modules down, not the exit handlers (logging's, MLflow's) nor a reply."""
    marker = tmp_path / "handlers-ran"
    code = (
        "import atexit, sys\n"
        "from rlmdj.tracking.writer.__main__ import _exit_now\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        "sys.stdout.write('{\"run\": \"k\", \"done\": \"FINISHED\"}')  # buffered, not flushed\n"
        "_exit_now(sys.stdout)\n"
        "raise SystemExit(3)  # never reached\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"run": "k", "done": "FINISHED"}'
    assert marker.read_text() == "ran"
