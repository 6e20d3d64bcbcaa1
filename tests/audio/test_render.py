"""Renderer behaviour a listener can observe: timing, tails, loop phase, fades, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from rlmdj.audio.grid import Grid
from rlmdj.audio.loops import fold_bars, loop_length_samples, prepare_loop
from rlmdj.audio.patterns import pattern_steps
from rlmdj.audio.render import ChannelState, Renderer, render_blocks
from rlmdj.errors import ParameterError

GRID = Grid(bpm=128.0)  # 82687.5 samples per bar: bar starts alternate between .0 and .5 roundings
ODD_GRID = Grid(bpm=123.7)  # irregular fractions, to catch drift


def stereo(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.stack([x, x], axis=1), dtype=np.float32)


def click() -> np.ndarray:
    return stereo(np.array([1.0]))


def decay(n: int) -> np.ndarray:
    """A long tone that is non-zero in every sample, so any truncation shows."""
    t = np.arange(n)
    return stereo(0.5 * np.exp(-t / n) * (1.5 + np.sin(2 * np.pi * t / 97.0)))


def marker_loop(grid: Grid, bars: int) -> np.ndarray:
    """A prepared loop whose bar k is the constant (k + 1) / 10: each bar is identifiable."""
    n = loop_length_samples(bars, grid)
    bar_of_sample = np.floor(np.arange(n) / grid.samples_per_bar).astype(int)
    return stereo((bar_of_sample + 1) / 10.0)


def dc_loop(grid: Grid, value: float, bars: int = 1) -> np.ndarray:
    return stereo(np.full(loop_length_samples(bars, grid), value))


def oneshot(role: str, sample_id: str, gain: float, steps, muted: bool = False) -> ChannelState:
    return ChannelState(role, sample_id, "oneshot", gain, tuple(steps), muted)


def loop(role: str, sample_id: str, gain: float, muted: bool = False) -> ChannelState:
    return ChannelState(role, sample_id, "loop", gain, (), muted)


def mid(grid: Grid, bar: int) -> int:
    return (grid.bar_start(bar) + grid.bar_start(bar + 1)) // 2


# -- one-shots --------------------------------------------------------------------------------


@pytest.mark.parametrize("grid", [GRID, ODD_GRID], ids=["128bpm", "123.7bpm"])
@pytest.mark.parametrize("pattern", ["four_on_floor", "offbeat_8ths", "sixteenth_drive", "rolling"])
def test_hits_land_on_exact_step_samples(grid: Grid, pattern: str) -> None:
    steps = pattern_steps(pattern)
    out = render_blocks(grid, [(5, [oneshot("kick", "c", 0.8, steps)])], {"c": click()}.__getitem__)
    expected = [grid.step_start(b, s) for b in range(5) for s in steps]
    assert out.shape == (grid.bars_to_samples(5), 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(np.flatnonzero(out[:, 0]), expected)
    np.testing.assert_array_equal(out[expected], np.float32(0.8))


def test_tail_rings_over_the_bar_line_after_channel_is_removed() -> None:
    tone = decay(int(1.5 * GRID.samples_per_bar))
    r = Renderer(GRID, 3, {"tone": tone}.__getitem__)
    r.render(0, 1, [oneshot("perc", "tone", 1.0, [15])])
    r.render(1, 2, [])  # channel gone: no new hits, but the struck note rings out
    out = r.audio()
    hit = GRID.step_start(0, 15)
    np.testing.assert_array_equal(out[hit : hit + len(tone)], tone)
    assert np.all(out[GRID.bar_start(1) : GRID.bar_start(2)] != 0.0)  # audible all through bar 1
    assert not out[:hit].any() and not out[hit + len(tone) :].any()


def test_tail_keeps_the_gain_it_was_struck_with_and_mute_fires_nothing() -> None:
    tone = decay(int(1.2 * GRID.samples_per_bar))
    r = Renderer(GRID, 3, {"tone": tone}.__getitem__)
    r.render(0, 1, [oneshot("perc", "tone", 1.0, [8])])
    r.render(1, 1, [oneshot("perc", "tone", 0.25, [8], muted=True)])  # fader down + mute
    r.render(2, 1, [oneshot("perc", "tone", 0.25, [8])])
    out = r.audio()
    first, third = GRID.step_start(0, 8), GRID.step_start(2, 8)
    # bar 1: only the bar-0 tail, at full gain (no ramp, no click, no muted hit)
    np.testing.assert_array_equal(out[first : first + len(tone)], tone)
    np.testing.assert_allclose(out[third : third + 1000], 0.25 * tone[:1000], rtol=1e-6)


def test_tails_past_the_end_are_cut_only_at_the_end_even_beyond_headroom() -> None:
    tone = decay(int(2.5 * GRID.samples_per_bar))  # longer than the zero tail headroom
    r = Renderer(GRID, 4, {"tone": tone}.__getitem__, tail_s=0.0)
    r.render(0, 2, [])
    r.render(2, 1, [oneshot("perc", "tone", 1.0, [15])])
    assert r.audio().shape == (GRID.bars_to_samples(3), 2)
    r.render(3, 1, [])
    out = r.audio()
    assert out.shape == (GRID.bars_to_samples(4), 2)
    hit = GRID.step_start(2, 15)
    np.testing.assert_array_equal(out[hit:], tone[: len(out) - hit])  # bar-2 hit rings in bar 3


# -- loops ------------------------------------------------------------------------------------


@pytest.mark.parametrize("grid", [GRID, ODD_GRID], ids=["128bpm", "123.7bpm"])
def test_four_bar_loop_plays_its_bar_k_in_set_bar_k(grid: Grid) -> None:
    lp = marker_loop(grid, 4)
    out = render_blocks(grid, [(10, [loop("bass", "lp", 1.0)])], {"lp": lp}.__getitem__)
    for bar in range(10):
        a, b = grid.bar_start(bar), grid.bar_start(bar + 1)
        body = out[a + 300 : b - 1, 0]  # skip the 5 ms fade-in of bar 0
        np.testing.assert_allclose(body, (bar % 4 + 1) / 10.0, rtol=1e-6)


def test_loop_phase_follows_the_set_grid_not_the_loop_entry() -> None:
    lp = marker_loop(GRID, 4)
    blocks = [(2, []), (4, [loop("bass", "lp", 1.0)])]
    out = render_blocks(GRID, blocks, {"lp": lp}.__getitem__)
    assert not out[: GRID.bar_start(2)].any()
    for bar in range(2, 6):  # entering at set bar 2, the loop's bar 2 is heard there
        assert out[mid(GRID, bar), 0] == pytest.approx((bar % 4 + 1) / 10.0)


@pytest.mark.parametrize("cuts", [(1, 1, 2, 4), (3, 5), (1,) * 8])
def test_cutting_the_set_into_render_calls_changes_nothing(cuts: tuple[int, ...]) -> None:
    samples = {"lp": marker_loop(ODD_GRID, 4), "tone": decay(30_000), "c": click()}
    chans = [
        loop("bass", "lp", 0.7),
        oneshot("perc", "tone", 0.5, [3, 15]),
        oneshot("kick", "c", 0.9, [0, 4, 8, 12]),
    ]
    whole = render_blocks(ODD_GRID, [(8, chans)], samples.__getitem__)
    pieces = render_blocks(ODD_GRID, [(n, chans) for n in cuts], samples.__getitem__)
    np.testing.assert_array_equal(pieces, whole)


def test_tempo_mismatched_loop_is_time_matched_to_exact_bars() -> None:
    src_bpm = 120.0
    src = Grid(bpm=src_bpm, sr=48_000)
    raw = marker_loop(src, 4)[:, 0]  # mono, 4 bars at 120 BPM / 48 kHz
    lp = prepare_loop(raw, sr=48_000, bars=4, grid=GRID)
    assert lp.shape == (loop_length_samples(4, GRID), 2) == (330_750, 2)
    assert lp.dtype == np.float32
    out = render_blocks(GRID, [(8, [loop("bass", "lp", 1.0)])], {"lp": lp}.__getitem__)
    for bar in range(8):  # each source bar lands in its set bar (middle, away from Gibbs ringing)
        assert out[mid(GRID, bar), 0] == pytest.approx((bar % 4 + 1) / 10.0, abs=0.01)


def test_prepare_loop_at_matching_tempo_is_unchanged() -> None:
    lp = marker_loop(GRID, 2)
    np.testing.assert_array_equal(prepare_loop(lp, sr=GRID.sr, bars=2, grid=GRID), lp)


@pytest.mark.parametrize("bars", [None, 0, -2, 1.5])
def test_prepare_loop_refuses_unknown_bar_count(bars) -> None:
    with pytest.raises(ParameterError, match="bar"):
        prepare_loop(np.zeros(82_688), sr=44_100, bars=bars, grid=GRID)


@pytest.mark.parametrize("seconds", [0.5, 10.0])
def test_prepare_loop_refuses_absurd_stretch(seconds: float) -> None:
    with pytest.raises(ParameterError, match=r"0\.5\.\.2\.0"):
        prepare_loop(np.zeros(int(seconds * 44_100)), sr=44_100, bars=1, grid=GRID)


# -- gain ramps -------------------------------------------------------------------------------


def max_step(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x.astype(np.float64)))))


def test_loop_gain_change_ramps_linearly_over_ramp_ms() -> None:
    r = Renderer(GRID, 4, {"dc": dc_loop(GRID, 0.5)}.__getitem__, ramp_ms=5.0)
    r.render(0, 2, [loop("bass", "dc", 0.4)])
    r.render(2, 2, [loop("bass", "dc", 0.8)])
    out = r.audio()[:, 0]
    ramp = r.ramp_samples
    assert ramp == round(0.005 * GRID.sr)
    edge = GRID.bar_start(2)
    # before: 0.2; after the ramp: 0.4; in between strictly inside and monotone
    assert out[edge - 1] == pytest.approx(0.2)
    assert out[edge + ramp - 1] == pytest.approx(0.4)
    inside = np.flatnonzero((out > 0.2 + 1e-6) & (out < 0.4 - 1e-6))
    assert len(inside) == pytest.approx(ramp, abs=2)
    assert inside[0] == edge and np.all(np.diff(inside) == 1)
    assert max_step(out[GRID.bar_start(1) :]) <= 0.2 / ramp * 1.01


def test_loop_fades_in_out_and_crossfades_without_clicks() -> None:
    samples = {"a": dc_loop(GRID, 0.5), "b": dc_loop(GRID, -0.5, bars=2)}
    r = Renderer(GRID, 6, samples.__getitem__)
    r.render(0, 1, [loop("tex", "a", 1.0)])  # starts: ramps from 0
    r.render(1, 1, [loop("tex", "b", 1.0)])  # swapped: crossfade a -> b
    r.render(2, 1, [loop("tex", "b", 1.0, muted=True)])  # muted: fade out
    r.render(3, 1, [loop("tex", "b", 1.0)])  # unmuted: fade in
    r.render(4, 2, [])  # removed: fade out
    out = r.audio()[:, 0]
    ramp = r.ramp_samples
    out_pad = np.concatenate([[0.0], out])  # the set starts from silence
    assert max_step(out_pad) <= 1.0 / ramp * 1.01  # the crossfade a->b is the largest move
    assert out[mid(GRID, 0)] == pytest.approx(0.5) and out[mid(GRID, 1)] == pytest.approx(-0.5)
    assert not out[GRID.bar_start(2) + ramp : GRID.bar_start(3)].any()
    assert out[mid(GRID, 3)] == pytest.approx(-0.5)
    assert not out[GRID.bar_start(4) + ramp :].any()


# -- determinism and refusals -----------------------------------------------------------------


def test_render_is_byte_identical_across_runs() -> None:
    samples = {"lp": marker_loop(ODD_GRID, 4), "tone": decay(9_000)}
    blocks = [
        (3, [loop("bass", "lp", 0.6), oneshot("hat", "tone", 0.3, pattern_steps("offbeat_8ths"))]),
        (2, [loop("bass", "lp", 0.9), oneshot("hat", "tone", 0.5, pattern_steps("sixteenth_drive"))]),
    ]
    a = render_blocks(ODD_GRID, blocks, samples.__getitem__)
    b = render_blocks(ODD_GRID, blocks, samples.__getitem__)
    assert a.tobytes() == b.tobytes()


def test_refuses_non_contiguous_and_out_of_range_renders() -> None:
    r = Renderer(GRID, 4, {"c": click()}.__getitem__)
    with pytest.raises(ParameterError, match="contiguous"):
        r.render(1, 1, [])
    r.render(0, 2, [])
    with pytest.raises(ParameterError, match="contiguous"):
        r.render(0, 1, [])
    with pytest.raises(ParameterError, match="max_bars"):
        r.render(2, 3, [])
    with pytest.raises(ParameterError, match="n_bars"):
        r.render(2, 0, [])
    with pytest.raises(ParameterError, match="twice"):
        r.render(2, 1, [oneshot("kick", "c", 1.0, [0]), oneshot("kick", "c", 1.0, [4])])
    with pytest.raises(ParameterError, match="outside"):
        r.render(2, 1, [oneshot("kick", "c", 1.0, [16])])
    assert r.bars_rendered == 2


def test_refuses_an_unprepared_loop() -> None:
    raw = np.zeros((int(GRID.samples_per_bar * 1.1), 2), dtype=np.float32)
    with pytest.raises(ParameterError, match="prepare_loop"):
        render_blocks(GRID, [(1, [loop("bass", "raw", 1.0)])], {"raw": raw}.__getitem__)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "drone"},
        {"gain": 1.5},
        {"gain": -0.1},
        {"gain": float("nan")},
        {"kind": "loop", "steps": (0, 4)},
        {"steps": (0, 0)},
    ],
)
def test_channel_state_refuses_bad_values(kwargs: dict) -> None:
    base = {"role": "kick", "sample_id": "k", "kind": "oneshot", "gain": 0.8, "steps": (0,)}
    with pytest.raises(ParameterError):
        ChannelState(**(base | kwargs))


@pytest.mark.parametrize(("bpm", "bars", "played", "repeats"),
                         [(128.0, 2, 2, 1), (60.0, 2, 1, 1), (20.0, 2, 1, 2), (20.0, 1, 1, 4),
                          (256.0, 2, 2, 1), (300.0, 2, 4, 1), (400.0, 1, 2, 1)])
def test_folded_loop_plays_in_half_or_double_time(bpm, bars, played, repeats) -> None:
    """A 128 BPM loop in a set an octave or more away keeps its pitch within an octave."""
    grid = Grid(bpm=bpm)
    raw = marker_loop(GRID, bars)  # a loop of `bars` bars at 128 BPM
    assert fold_bars(bars, raw.shape[0] / GRID.sr, grid) == (played, repeats)
    lp = prepare_loop(raw, sr=GRID.sr, bars=bars, grid=grid, fold=True)
    assert lp.shape == (loop_length_samples(played, grid), 2)
    ratio = lp.shape[0] / (raw.shape[0] * repeats)
    assert 0.5 <= ratio <= 2.0
    if not 64 <= bpm <= 256:
        with pytest.raises(ParameterError, match=r"0\.5\.\.2\.0"):
            prepare_loop(raw, sr=GRID.sr, bars=bars, grid=grid)  # without fold: still refused
