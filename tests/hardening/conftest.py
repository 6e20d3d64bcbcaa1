"""Fixtures of the hardening tests: sessions over the shared pack and the scripted LM."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dj"))  # scripted.py, fake_openai.py


@pytest.fixture
def make_session(sample_index) -> Callable[..., object]:
    from rlmdj.audio.grid import Grid
    from rlmdj.audio.palette import random_palette
    from rlmdj.dj.session import Session

    palette = random_palette(sample_index, seed=0)

    def make(bars: int = 32) -> Session:
        return Session(index=sample_index, palette=palette, grid=Grid(128.0), max_bars=bars)

    return make
