"""Fixtures of the Hydra plugin tests: an MLflow tracking server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from launchers import free_port
from mlflow.tracking import MlflowClient


@pytest.fixture()
def tracking_server(tmp_path: Path, process_group) -> dict:
    """An MLflow tracking server on 127.0.0.1 (SQLite backend, proxied artifact store)."""
    port = free_port()
    proc = process_group(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path}/server.db", "--artifacts-destination",
         str(tmp_path / "server-artifacts"), "--workers", "1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            MlflowClient(uri).search_experiments()
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail("mlflow server did not start")
            time.sleep(0.5)
    return {"uri": uri, "artifacts": tmp_path / "server-artifacts"}
