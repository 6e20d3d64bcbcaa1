"""Fixtures of the experiment tests: a temp working dir with its own store (helpers that run the
``rlmdj`` app in-process are in tests/support/inprocess.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A temp working dir with its own SQLite store; returns the overrides that point at it."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    return {
        "dir": tmp_path,
        "uri": uri,
        "overrides": [f"tracking.uri={uri}", f"tracking.artifact_location={tmp_path}/mlartifacts",
                      "progress=false"],
    }
