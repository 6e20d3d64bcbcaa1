"""Benchmark: proxy scorer and signal metrics on 120 s of 44.1 kHz stereo.

Run ``python benchmarks/bench_proxy.py [--repeats N]``; prints the median wall time of each.
The proxy scorer must stay under 1 s for this input (it runs after every rendered set).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from rlmdj.scoring.proxy import ProxyScorer
from rlmdj.scoring.signal import signal_metrics

__all__ = ["make_input", "median_time_s", "main"]

SR = 44100
DURATION_S = 120.0


def make_input(duration_s: float = DURATION_S, *, sr: int = SR) -> np.ndarray:
    """Deterministic stereo test signal: a 128 BPM kick pulse over noise and a bass tone."""
    rng = np.random.default_rng(0)
    n = int(duration_s * sr)
    t = np.arange(n) / sr
    beat_phase = (t * 128.0 / 60.0) % 1.0
    kick = np.sin(2 * np.pi * 55.0 * t) * np.exp(-12.0 * beat_phase)
    bass = 0.3 * np.sin(2 * np.pi * 110.0 * t) * (beat_phase > 0.5)
    noise = 0.05 * rng.standard_normal((n, 2))
    x = (kick + bass)[:, None] + noise
    return x * (0.891 / np.max(np.abs(x)))


def median_time_s(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    audio = make_input()
    scorer = ProxyScorer()
    proxy_s = median_time_s(lambda: scorer.score(audio, sr=SR), args.repeats)
    signal_s = median_time_s(lambda: signal_metrics(audio, sr=SR), max(1, args.repeats // 2))
    result = scorer.score(audio, sr=SR)
    print(f"input: {DURATION_S:.0f} s, {SR} Hz, stereo")
    print(f"proxy scorer ({scorer.identity}): median {proxy_s:.3f} s  (budget 1.0 s)")
    print(f"signal metrics: median {signal_s:.3f} s")
    print("scores:", {k: round(v, 2) for k, v in result.scores.items()}, f"OBJ {result.obj:.2f}")


if __name__ == "__main__":
    main()
