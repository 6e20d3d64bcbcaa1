"""One validator: every place audio enters rlmdj accepts and refuses the same arrays, alike."""

from __future__ import annotations

import numpy as np
import pytest

from rlmdj.audio.grid import Grid
from rlmdj.audio.loops import prepare_loop
from rlmdj.audio.render import ChannelState, Renderer
from rlmdj.audio.valid import MAX_CHANNELS, valid_audio, valid_sr
from rlmdj.audio.wavio import normalize_peak, peak_dbfs, wav_bytes, write_preview, write_wav
from rlmdj.errors import ParameterError
from rlmdj.scoring.proxy import ProxyScorer
from rlmdj.scoring.resample import to_model_input
from rlmdj.scoring.signal import signal_metrics

SR = 44_100
GRID = Grid(bpm=128.0, sr=SR)
ONE_BAR = int(round(GRID.samples_per_bar))


def _render(audio: np.ndarray) -> object:
    renderer = Renderer(GRID, 1, lambda sid: audio)
    return renderer.render(0, 1, [ChannelState("kick", "k", "oneshot", 0.5, (0,))])


# Each entry point, called with the array under test.
ENTRY_POINTS = {
    "valid_audio": lambda a: valid_audio(a),
    "normalize_peak": lambda a: normalize_peak(a),
    "peak_dbfs": lambda a: peak_dbfs(a),
    "wav_bytes": lambda a: wav_bytes(a, sr=SR),
    "renderer": _render,
    "prepare_loop": lambda a: prepare_loop(a, sr=SR, bars=1, grid=GRID),
    "proxy": lambda a: ProxyScorer().score(a, sr=SR),
    "signal": lambda a: signal_metrics(a, sr=SR),
    "model_input": lambda a: to_model_input(a, sr=SR),
}

BAD = {
    "int16": (np.zeros((ONE_BAR, 2), dtype=np.int16), "integer PCM.*32768"),
    "bool": (np.zeros((ONE_BAR, 2), dtype=bool), "float array"),
    "complex": (np.zeros((ONE_BAR, 2), dtype=complex), "float array"),
    "3d": (np.zeros((ONE_BAR, 2, 2)), r"\(frames,\) or \(frames, channels\)"),
    "transposed": (np.zeros((2, ONE_BAR)), r"looks like \(channels, frames\)"),
    "nan": (np.full((ONE_BAR, 2), np.nan), "NaN or infinite"),
    "inf": (np.concatenate([np.zeros((ONE_BAR - 1, 2)), [[np.inf, 0.0]]]), "NaN or infinite"),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_every_entry_point_refuses_alike(entry: str, case: str) -> None:
    audio, message = BAD[case]
    with pytest.raises(ParameterError, match=message):
        ENTRY_POINTS[entry](audio)


@pytest.mark.parametrize("entry", ["valid_audio", "renderer", "prepare_loop", "proxy", "signal",
                                   "model_input"])
def test_empty_audio_is_refused_where_it_cannot_be_used(entry: str) -> None:
    with pytest.raises(ParameterError, match="empty"):
        ENTRY_POINTS[entry](np.zeros((0, 2), dtype=np.float32))


def test_levels_and_writers_accept_empty_audio() -> None:
    empty = np.zeros((0, 2), dtype=np.float32)
    assert peak_dbfs(empty) == -np.inf
    assert normalize_peak(empty).shape == (0, 2)
    assert wav_bytes(empty, sr=SR)[:4] == b"RIFF"


def test_valid_audio_shapes_and_types() -> None:
    mono = np.linspace(-0.5, 0.5, 10, dtype=np.float32)
    out = valid_audio(mono)
    assert out.shape == (10, 1) and out.dtype == np.float32 and np.shares_memory(out, mono)
    assert valid_audio(mono, dtype=np.float64).dtype == np.float64
    many = np.zeros((100, MAX_CHANNELS), dtype=np.float32)
    assert valid_audio(many).shape == (100, MAX_CHANNELS)
    with pytest.raises(ParameterError, match="1 to 64"):
        valid_audio(np.zeros((100, MAX_CHANNELS + 1)))
    with pytest.raises(ParameterError, match="sample 'x' is integer PCM"):
        valid_audio(np.zeros(4, dtype=np.int32), what="sample 'x'")


def test_valid_audio_min_frames() -> None:
    assert valid_audio(np.zeros((3, 2)), min_frames=3).shape == (3, 2)
    with pytest.raises(ParameterError, match=r"^loop is too short: 2 frames; at least 3 frames are needed$"):
        valid_audio(np.zeros((2, 2)), what="loop", min_frames=3)
    with pytest.raises(ParameterError, match=r"1 frame \(0.0005 s at 2000 Hz\); at least 0.0015 s \(3 frames\)"):
        valid_audio(np.zeros(1), min_frames=3, sr=2000)
    assert valid_audio(np.zeros((0, 2)), min_frames=3, allow_empty=True).shape == (0, 2)


def test_finiteness_is_checked_in_every_block() -> None:
    x = np.zeros((3 * (1 << 18) + 5, 2), dtype=np.float32)
    x[-1, 1] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        valid_audio(x)


@pytest.mark.parametrize("entry", ["wav_bytes", "renderer", "model_input"])
def test_float64_that_overflows_float32_is_refused_where_float32_is_made(entry: str) -> None:
    with pytest.raises(ParameterError, match="NaN or infinite"):
        ENTRY_POINTS[entry](np.full((ONE_BAR, 2), 1e300))


@pytest.mark.parametrize("sr", [0, -1, 44_100.0, 44_100.5, True, "44100", None])
def test_valid_sr_refuses_non_integer_or_non_positive(sr: object) -> None:
    with pytest.raises(ParameterError, match="positive integer in Hz"):
        valid_sr(sr)


def test_valid_sr_bounds() -> None:
    assert valid_sr(np.int64(48_000)) == 48_000 and isinstance(valid_sr(np.int64(8)), int)
    assert valid_sr(16_000, min_sr=1_000, max_sr=768_000) == 16_000
    with pytest.raises(ParameterError, match=r"outside \[1000, 768000\]"):
        valid_sr(999, min_sr=1_000, max_sr=768_000)


@pytest.mark.parametrize("write", [
    lambda p, a: write_wav(p / "x.wav", a, sr=SR),
    lambda p, a: write_preview(p / "x.ogg", a, sr=SR),
])
def test_writers_refuse_before_touching_the_disk(tmp_path, write) -> None:
    with pytest.raises(ParameterError, match="integer PCM"):
        write(tmp_path, np.zeros((100, 2), dtype=np.int16))
    assert list(tmp_path.iterdir()) == []
