"""Fixtures of the DJ tests: a palette and fresh sessions over the shared built-in pack."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from rlmdj.audio.grid import Grid
from rlmdj.audio.palette import Palette, random_palette
from rlmdj.dj.session import Session

# LiteLLM otherwise tries to fetch its price table from the network at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def palette(sample_index) -> Palette:
    return random_palette(sample_index, seed=0)


@pytest.fixture
def make_session(sample_index, palette) -> Callable[..., Session]:
    def make(bars: int = 32) -> Session:
        return Session(index=sample_index, palette=palette, grid=Grid(128.0), max_bars=bars)

    return make
