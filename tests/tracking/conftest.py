"""Fixtures of the tracking tests: a fresh local store per test, and the scripted RLM set."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The DJ tests' scripted LM (a real dspy.BaseLM answering from a list, no network).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dj"))


@pytest.fixture()
def store_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/mlruns.db"
