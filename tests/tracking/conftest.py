"""Fixtures of the tracking tests: a fresh local store per test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def store_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/mlruns.db"
