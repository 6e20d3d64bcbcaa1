"""Bad values a user or a config can pass reach them as ParameterError, never as a crash later."""

from __future__ import annotations

import numpy as np
import pytest

from rlmdj.audio.grid import Grid
from rlmdj.audio.render import ChannelState, Renderer
from rlmdj.audio.wavio import normalize_peak
from rlmdj.errors import ParameterError


@pytest.mark.parametrize("bpm", ["fast", None, float("nan"), float("inf")])
def test_grid_refuses_non_numeric_tempo(bpm: object) -> None:
    with pytest.raises(ParameterError, match="bpm must be within"):
        Grid(bpm=bpm)  # type: ignore[arg-type]


@pytest.mark.parametrize("sr", [44100.5, "cd", 4000, True])
def test_grid_refuses_fractional_or_low_rates(sr: object) -> None:
    with pytest.raises(ParameterError, match="whole number of Hz"):
        Grid(sr=sr)  # type: ignore[arg-type]


def test_grid_normalises_whole_float_rate_to_int() -> None:
    grid = Grid(bpm=128, sr=44100.0)  # type: ignore[arg-type]
    assert isinstance(grid.sr, int) and grid.sr == 44100 and grid.bar_start(1) == 82688
    assert grid == Grid()


def test_normalize_peak_refuses_text_target() -> None:
    with pytest.raises(ParameterError, match="target_dbfs"):
        normalize_peak(np.ones(4), target_dbfs="loud")  # type: ignore[arg-type]


def test_renderer_refuses_a_sample_with_nan() -> None:
    renderer = Renderer(Grid(), 2, lambda sid: np.full((64, 2), np.nan, dtype=np.float32))
    with pytest.raises(ParameterError, match="NaN or infinite"):
        renderer.render(0, 1, [ChannelState("kick", "k", "oneshot", 0.5, (0,))])


def test_steps_as_a_string_are_refused_not_split_into_digits() -> None:
    with pytest.raises(ParameterError, match="steps must be a sequence"):
        ChannelState("kick", "k", "oneshot", 0.5, "04")  # type: ignore[arg-type]
