"""Benchmark: render the 64-bar, 6-layer reference arrangement; compare with a naive pydub mix.

Run: ``python benchmarks/bench_render.py [--reps 7] [--pydub-reps 3] [--bars 64]``

Prints the median wall time of :func:`rlmdj.audio.render.render_blocks` (including the final
copy of the master), its real-time factor, and the ratio against a straightforward pydub
renderer of the same arrangement (one ``AudioSegment.overlay`` per hit and per loop bar, as a
first implementation would be written). Targets: >= 1000x real time and >= 30x pydub.
Samples are synthesised (deterministic), so the benchmark needs no sample pack.
"""

from __future__ import annotations

import os

# One core: the target is single-core throughput, so keep any BLAS/FFT pools out of it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import numpy as np  # noqa: E402

from rlmdj.audio.grid import Grid  # noqa: E402
from rlmdj.audio.loops import prepare_loop  # noqa: E402
from rlmdj.audio.patterns import pattern_steps  # noqa: E402
from rlmdj.audio.render import ChannelState, render_blocks  # noqa: E402

GAINS = {"kick": 0.92, "hihat": 0.53, "bassline": 0.65, "perc": 0.40, "texture": 0.35, "clap": 0.47}


def synth_samples(grid: Grid) -> dict[str, np.ndarray]:
    """Deterministic stand-ins with realistic lengths: drum one-shots and 4- and 2-bar loops."""
    sr = grid.sr
    rng = np.random.default_rng(0)

    def t(seconds: float) -> np.ndarray:
        return np.arange(int(seconds * sr)) / sr

    def stereo(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.stack([x, x], axis=1), dtype=np.float32)

    tk = t(0.5)
    kick = np.sin(2 * np.pi * (50 * tk + 60 * (1 - np.exp(-tk * 30)) / 30)) * np.exp(-tk * 8)
    hat = rng.standard_normal(t(0.12).size) * np.exp(-t(0.12) * 40) * 0.5
    tp = t(0.25)
    perc = np.sin(2 * np.pi * 400 * tp) * np.exp(-tp * 20)
    clap = rng.standard_normal(t(0.35).size) * np.exp(-t(0.35) * 12) * 0.6
    # Loops recorded at 126 BPM, time-matched to the grid as the sample pack would.
    src_bar = 4 * 60.0 / 126.0
    tb = t(4 * src_bar)
    bass = 0.5 * np.sign(np.sin(2 * np.pi * 55 * tb)) * (0.6 + 0.4 * np.sin(2 * np.pi * tb / src_bar))
    tt = t(2 * src_bar)
    texture = 0.3 * np.sin(2 * np.pi * 220 * tt) * np.sin(2 * np.pi * 0.25 * tt)
    return {
        "kick": stereo(kick),
        "hihat": stereo(hat),
        "perc": stereo(perc),
        "clap": stereo(clap),
        "bassline": prepare_loop(bass, sr=sr, bars=4, grid=grid),
        "texture": prepare_loop(texture, sr=sr, bars=2, grid=grid),
    }


def reference_blocks(n_bars: int = 64) -> list[tuple[int, list[ChannelState]]]:
    """The reference arrangement (reference-system.md), every 4-bar block scaled to n_bars/32."""

    def one(role: str, pattern: str) -> ChannelState:
        return ChannelState(role, role, "oneshot", GAINS[role], pattern_steps(pattern))

    def loop(role: str) -> ChannelState:
        return ChannelState(role, role, "loop", GAINS[role])

    kick = one("kick", "four_on_floor")
    hat8 = one("hihat", "offbeat_8ths")
    plan = [
        [kick],
        [kick, hat8],
        [kick, hat8, loop("bassline")],
        [kick, hat8, loop("bassline"), one("perc", "syncopated_a")],
        [kick, hat8, loop("bassline"), one("perc", "syncopated_a"), loop("texture"),
         one("clap", "backbeat")],
        [kick, one("hihat", "sixteenth_drive"), loop("bassline"), one("perc", "gallop"),
         loop("texture"), one("clap", "backbeat")],
        [kick, hat8, loop("bassline"), one("perc", "syncopated_b")],
        [kick, loop("texture")],
    ]
    block = max(1, n_bars // len(plan))
    return [(block, channels) for channels in plan]


def render_pydub(grid: Grid, blocks: Sequence[tuple[int, Sequence[ChannelState]]],
                 samples: dict[str, np.ndarray]) -> np.ndarray:
    """The naive renderer: 16-bit AudioSegments, one overlay per hit and per loop bar (ms grid)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "Couldn't find ffmpeg": not needed here
        from pydub import AudioSegment

    def seg(x: np.ndarray) -> AudioSegment:
        pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
        return AudioSegment(data=pcm.tobytes(), sample_width=2, frame_rate=grid.sr, channels=2)

    segs = {k: seg(v) for k, v in samples.items()}
    total = sum(n for n, _ in blocks)
    bar_ms = grid.seconds_per_bar * 1000.0
    step_ms = bar_ms / grid.steps_per_bar
    track = AudioSegment.silent(duration=total * bar_ms, frame_rate=grid.sr).set_channels(2)
    bar = 0
    for n_bars, channels in blocks:
        for b in range(bar, bar + n_bars):
            for ch in channels:
                if ch.muted or ch.gain <= 0:
                    continue
                s = segs[ch.sample_id].apply_gain(20 * math.log10(ch.gain))
                if ch.kind == "oneshot":
                    for step in ch.steps:
                        track = track.overlay(s, position=int(b * bar_ms + step * step_ms))
                else:
                    loop_len = round(len(s) / bar_ms)
                    k = b % loop_len
                    piece = s[int(k * bar_ms) : int((k + 1) * bar_ms)]
                    track = track.overlay(piece, position=int(b * bar_ms))
        bar += n_bars
    pcm = np.frombuffer(track.raw_data, dtype="<i2").reshape(-1, 2)
    return pcm.astype(np.float32) / 32768.0


def _median_ms(fn, reps: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=64)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--pydub-reps", type=int, default=3)
    args = ap.parse_args()

    grid = Grid(bpm=128.0)
    samples = synth_samples(grid)
    blocks = reference_blocks(args.bars)
    n_bars = sum(n for n, _ in blocks)
    set_s = grid.bars_to_seconds(n_bars)

    render_blocks(grid, blocks, samples.__getitem__)  # warm-up (page faults, imports)
    ours_ms, ours_all = _median_ms(lambda: render_blocks(grid, blocks, samples.__getitem__), args.reps)
    print(f"set: {n_bars} bars, {set_s:.1f} s at {grid.bpm:g} BPM, {grid.sr} Hz, 6 layers")
    print(f"rlmdj render_blocks: median {ours_ms:.1f} ms over {args.reps} reps "
          f"(min {min(ours_all):.1f}, max {max(ours_all):.1f}); "
          f"real-time factor {set_s * 1000.0 / ours_ms:.0f}x (target >= 1000x)")
    if args.pydub_reps > 0:
        pd_ms, pd_all = _median_ms(lambda: render_pydub(grid, blocks, samples), args.pydub_reps)
        print(f"naive pydub:         median {pd_ms:.1f} ms over {args.pydub_reps} reps "
              f"(min {min(pd_all):.1f}, max {max(pd_all):.1f})")
        print(f"speed-up vs pydub: {pd_ms / ours_ms:.1f}x (target >= 30x)")


if __name__ == "__main__":
    main()
