"""Shared fixtures: one built-in sample pack per test session, in a private cache folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def pack_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder the whole session shares, exported as ``RLMDJ_CACHE_DIR`` for the CLI."""
    path = tmp_path_factory.mktemp("rlmdj-cache")
    os.environ["RLMDJ_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def sample_index(pack_cache_dir: Path):
    """The default built-in pack (seed 0, 16 variants), generated once per session."""
    from rlmdj.audio.samples import build_index

    return build_index(cache_dir=pack_cache_dir)
