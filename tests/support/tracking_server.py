"""A local MLflow tracking server for tests that record through HTTP rather than a file store.

SQLite backend and a proxied artifact store under the test's folder; started through the
``process_group`` fixture so teardown ends the server and its workers, whatever happens.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from launchers import free_port
from mlflow.tracking import MlflowClient

__all__ = ["start_tracking_server"]


def start_tracking_server(process_group: Callable[..., subprocess.Popen], workdir: Path, *,
                          ready_within_s: float = 120.0) -> dict:
    """Start ``mlflow server`` on a free 127.0.0.1 port and wait until it answers.

    Returns ``{"uri": "http://127.0.0.1:<port>", "artifacts": <server artifact folder>}``; fails
    the test if the server exits or does not answer within ``ready_within_s``.
    """
    port = free_port()
    proc = process_group(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{workdir}/server.db", "--artifacts-destination",
         str(workdir / "server-artifacts"), "--workers", "1"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + ready_within_s
    while True:
        try:
            MlflowClient(uri).search_experiments()
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail("mlflow server did not start")
            time.sleep(0.5)
    return {"uri": uri, "artifacts": workdir / "server-artifacts"}
