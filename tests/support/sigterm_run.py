"""SIGTERM to a single `rlmdj` run once it reaches a stage, and what the store must then hold.

The run must end non-zero and leave one run KILLED that keeps the audio it produced (the whole
set or the partial one): an interrupted run loses nothing it already made.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

from console_script import RLMDJ
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

__all__ = ["sigterm_at", "killed_run_with_audio"]


def sigterm_at(marker: str, args: list[str], cwd: Path, *, reach_within_s: float = 300,
               end_within_s: float = 300) -> None:
    """Run ``rlmdj <args>`` in ``cwd``, SIGTERM it once a stderr line holds ``marker``.

    Asserts the run reaches ``marker`` within ``reach_within_s`` and then exits non-zero.
    """
    proc = subprocess.Popen([RLMDJ, *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    seen = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for ln in proc.stderr:
            lines.append(ln)
            if marker in ln:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert seen.wait(reach_within_s), "".join(lines)[-2000:]
    proc.send_signal(signal.SIGTERM)
    proc.wait(end_within_s)
    reader.join(10)
    assert proc.returncode != 0


def killed_run_with_audio(uri: str) -> tuple[MlflowClient, Run]:
    """The store's one run: asserts it is KILLED and holds ``audio/set`` or ``audio/partial``."""
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("rlmdj").experiment_id])
    assert run.info.status == "KILLED"
    audio = {Path(a.path).stem for a in client.list_artifacts(run.info.run_id, "audio")}
    assert audio & {"set", "partial"}, audio
    return client, run
