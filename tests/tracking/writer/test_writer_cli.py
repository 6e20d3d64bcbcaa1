"""The writer process through the `rlmdj` console script: a store that cannot take the run loses
nothing (one line names it and the command that uploads the record, which then lands it all), and
SIGTERM still ends the run KILLED with what it produced."""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from console_script import RLMDJ, error_lines, run_rlmdj
from mlflow.tracking import MlflowClient
from run_manifest import manifest
from sigterm_run import killed_run_with_audio, sigterm_at

pytestmark = pytest.mark.slow

STORED = json.loads((Path(__file__).parents[1] / "data" / "run_manifest.json").read_text())["default"]


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "WARNING" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in error_lines(proc) if ln.startswith("rlmdj: error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def _pending(line: str) -> tuple[Path, list[str]]:
    """The kept folder and the upload command the error line gives."""
    command = shlex.split(line.split("upload it with ", 1)[1].rsplit(" (RLMDJ_DEBUG", 1)[0])
    folder = Path(command[-1])
    assert folder.name.startswith("record-pending-") and (folder / "journal.jsonl").is_file()
    assert (folder / "artifacts" / "audio" / "set.flac").is_file()
    return folder, command


def _lands_everything(store: str) -> None:
    client = MlflowClient(tracking_uri=store)
    (run,) = client.search_runs([client.get_experiment_by_name("rlmdj").experiment_id])
    got = manifest(client, run.info.run_id)
    assert got["status"] == "FINISHED"
    for part in ("artifacts", "metrics", "inputs", "traces"):
        assert got[part] == STORED[part], part
    assert set(STORED["params"]) <= set(got["params"]) and set(STORED["tags"]) <= set(got["tags"])


def test_unusable_store_keeps_the_record_and_the_upload_lands_it(tmp_path, pack_cache_dir):
    store = tmp_path / "store.db"
    store.mkdir()  # a folder where the SQLite file should be: the folder is writable, the store not
    proc = run_rlmdj(tmp_path, "bars=16", f"tracking.uri=sqlite:///{store}",
                     f"tracking.artifact_location={tmp_path}/art", "progress=false")
    line = _one_line(proc)
    assert f"tracking.uri=sqlite:///{store}" in line and "rlmdj-upload" in line
    folder, command = _pending(line)

    store.rmdir()
    upload = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert upload.returncode == 0, upload.stderr[-3000:]
    assert not folder.exists()
    _lands_everything(f"sqlite:///{store}")


class _HealthOnly(BaseHTTPRequestHandler):
    """A tracking server that answers its health check and refuses every API call."""

    def do_GET(self) -> None:  # noqa: N802 - the handler's protocol
        if self.path.startswith("/health"):
            self._answer(200, b"OK")
        else:
            self._answer(400, json.dumps({"error_code": "INTERNAL_ERROR", "message": "store gone"}).encode())

    do_POST = do_GET  # noqa: N815

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def broken_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HealthOnly)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_server_that_stops_answering_keeps_the_record_for_another_store(tmp_path, pack_cache_dir,
                                                                         broken_server):
    proc = run_rlmdj(tmp_path, "bars=16", f"tracking.uri={broken_server}", "progress=false")
    line = _one_line(proc)
    assert f"tracking.uri={broken_server}" in line
    folder, command = _pending(line)

    other = f"sqlite:///{tmp_path}/other.db"
    upload = subprocess.run([*command[:-1], "--tracking-uri", other, str(folder)],
                            capture_output=True, text=True, timeout=300)
    assert upload.returncode == 0, upload.stderr[-3000:]
    _lands_everything(other)


def test_sigterm_while_playing_ends_the_run_killed_with_what_it_produced(tmp_path, pack_cache_dir):
    sigterm_at("reference DJ", ["bars=512", f"tracking.uri=sqlite:///{tmp_path}/mlruns.db",
                                f"tracking.artifact_location={tmp_path}/art"], tmp_path)
    client, run = killed_run_with_audio(f"sqlite:///{tmp_path}/mlruns.db")
    assert "bars" in run.data.params and run.data.tags["rlmdj.palette"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "palette.json", "arrangement.json"} <= artifacts
    assert not list(tmp_path.glob("outputs/*/*/record-pending-*"))  # sent, so not kept


def test_a_killed_run_process_still_has_its_run_ended_by_the_writer(tmp_path, pack_cache_dir):
    import time

    proc = subprocess.Popen([RLMDJ, "bars=512", f"tracking.uri=sqlite:///{tmp_path}/mlruns.db",
                             f"tracking.artifact_location={tmp_path}/art"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1)
    for ln in proc.stderr:
        if "reference DJ" in ln:
            break
    proc.kill()  # no handler runs: only the writer is left to end the run
    proc.wait(60)
    # The writer clears the record folder once the store holds the run (read the store only then:
    # opening it while the writer creates its tables would race the migration).
    deadline = time.time() + 120
    while list(tmp_path.glob("outputs/*/*/record-pending-*")) and time.time() < deadline:
        time.sleep(0.2)
    assert not list(tmp_path.glob("outputs/*/*/record-pending-*"))
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    (run,) = client.search_runs([client.get_experiment_by_name("rlmdj").experiment_id])
    assert run.info.status == "KILLED" and "bars" in run.data.params
    assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}
