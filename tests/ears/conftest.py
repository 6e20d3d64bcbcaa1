"""Fixtures of the ears tests: sessions over the shared built-in pack, the proxy scorer."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rlmdj.audio.grid import Grid
from rlmdj.audio.palette import Palette, random_palette
from rlmdj.dj.session import Session
from rlmdj.scoring.proxy import ProxyScorer

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def palette(sample_index) -> Palette:
    return random_palette(sample_index, seed=0)


@pytest.fixture
def make_session(sample_index, palette) -> Callable[..., Session]:
    def make(bars: int = 32, pal: Palette | None = None) -> Session:
        return Session(index=sample_index, palette=pal or palette, grid=Grid(128.0), max_bars=bars)

    return make


@pytest.fixture(scope="session")
def proxy() -> ProxyScorer:
    return ProxyScorer()


# The scripted DSPy LM lives with the DJ tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dj"))

# The temp MLflow store of the sweep tests.
from tests.experiments.conftest import store  # noqa: E402, F401
