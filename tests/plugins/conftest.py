"""Fixtures of the Hydra plugin tests: an MLflow tracking server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from tracking_server import start_tracking_server


@pytest.fixture()
def tracking_server(tmp_path: Path, process_group) -> dict:
    """An MLflow tracking server on 127.0.0.1 (SQLite backend, proxied artifact store)."""
    return start_tracking_server(process_group, tmp_path)
