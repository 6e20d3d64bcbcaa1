"""Session operations and the reference arrangement on the built-in pack."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from rlmdj.audio.grid import Grid
from rlmdj.audio.palette import random_palette
from rlmdj.dj.drivers.reference import REFERENCE_BLOCKS, ReferenceDriver, block_lengths
from rlmdj.dj.session import Session
from rlmdj.errors import ParameterError

pytestmark = pytest.mark.pipeline


@pytest.fixture()
def palette(sample_index):
    return random_palette(sample_index, seed=7)


def new_session(index, palette, bars=32):
    return Session(index=index, palette=palette, grid=Grid(bpm=128), max_bars=bars)


def test_block_lengths_scale_with_the_set():
    assert block_lengths(32) == [4] * 8
    assert block_lengths(64) == [8] * 8
    assert sum(block_lengths(37)) == 37


def test_reference_arrangement_matches_the_table_at_32_and_64_bars(sample_index, palette):
    for bars, block in ((32, 4), (64, 8)):
        session = new_session(sample_index, palette, bars)
        ReferenceDriver().perform(session)
        history = session.history
        assert len(history) == bars and session.finished
        for i, layers in enumerate(REFERENCE_BLOCKS):
            for bar in history[i * block : (i + 1) * block]:
                assert set(bar.audible) == set(layers)
                for role, pattern in layers.items():
                    if pattern is not None:
                        assert bar.layers[role]["pattern"] == pattern
        assert session.audio().shape == (Grid().bars_to_samples(bars), 2)


def test_reference_audio_is_byte_identical(sample_index, palette):
    digests = set()
    for _ in range(2):
        session = new_session(sample_index, palette, 16)
        ReferenceDriver().perform(session)
        digests.add(hashlib.sha256(session.audio().tobytes()).hexdigest())
    assert len(digests) == 1


def test_bad_operations_raise_and_change_nothing(sample_index, palette):
    session = new_session(sample_index, palette)
    session.add("kick", 0.9)
    before = session.snapshot()
    for call in (
        lambda: session.add("kick", 0.5),
        lambda: session.add("tuba", 0.5),
        lambda: session.fader("kick", "loud"),
        lambda: session.fader("kick", float("nan")),
        lambda: session.fader("kick", 1.5),
        lambda: session.pattern("kick", "polka"),
        lambda: session.pattern("hihat", "four_on_floor"),
        lambda: session.add("bassline", 0.6, "four_on_floor"),
        lambda: session.swap("kick", "/tmp/kick.wav"),
        lambda: session.play(0),
        lambda: session.play("many"),
    ):
        with pytest.raises(ParameterError):
            call()
    assert session.snapshot() == before


def test_loop_pattern_change_is_refused_with_a_reason(sample_index, palette):
    session = new_session(sample_index, palette)
    session.add("bassline", 0.6)
    with pytest.raises(ParameterError, match="loop"):
        session.pattern("bassline", "gallop")


def test_play_never_passes_the_end(sample_index, palette):
    session = new_session(sample_index, palette, 8)
    session.add("kick", 0.9)
    assert session.play(5) == 5
    assert session.play(100) == 3
    assert session.play(4) == 0 and session.finished


def test_swap_reads_kind_from_metadata(sample_index, palette):
    session = new_session(sample_index, palette)
    session.add("kick", 0.9)
    other = [s for s in session.alternatives("kick") if s != palette.samples["kick"]][0]
    channel = session.swap("kick", other)
    assert channel.sample_id == other and channel.kind == sample_index.get(other).kind
    with pytest.raises(ParameterError):
        session.swap("kick", palette.samples["bassline"])


def test_breakdown_mutes_drums_then_restores(sample_index, palette):
    session = new_session(sample_index, palette, 8)
    session.add("kick", 0.9)
    session.add("bassline", 0.6)
    session.breakdown(2)
    assert session.history[0].audible == ["bassline"] and session.history[0].breakdown
    assert not session.channels["kick"].muted
    session.play(2)
    assert set(session.history[-1].audible) == {"kick", "bassline"}


def test_removed_one_shot_keeps_ringing_over_the_bar_line(sample_index, palette):
    session = new_session(sample_index, palette, 2)
    session.add("kick", 1.0, "offbeat_16ths")  # last hit on step 15, close to the bar line
    session.play(1)
    session.remove("kick")
    session.play(1)
    audio = session.audio()
    start = Grid().bar_start(1)
    assert np.abs(audio[start : start + 200]).max() > 1e-4
