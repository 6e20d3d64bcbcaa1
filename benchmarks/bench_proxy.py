"""Benchmark: proxy scorer and signal metrics on 120 s of 44.1 kHz stereo.

Run ``python benchmarks/bench_proxy.py [--repeats N]``; prints the median wall and CPU time of
each and their ratio. Targets: the proxy scorer stays under 1 s for this input (it runs after
every rendered set), and signal metrics cost less than the proxy scorer (ratio < 1). The two are
timed alternately, so a busy machine slows both alike; CPU time is the steadier figure there.
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
    """Deterministic stereo test signal: a 128 BPM kick pulse over noise and a bass tone.

    float32, as the renderer hands a set to the scorers.
    """
    rng = np.random.default_rng(0)
    n = int(duration_s * sr)
    t = np.arange(n) / sr
    beat_phase = (t * 128.0 / 60.0) % 1.0
    kick = np.sin(2 * np.pi * 55.0 * t) * np.exp(-12.0 * beat_phase)
    bass = 0.3 * np.sin(2 * np.pi * 110.0 * t) * (beat_phase > 0.5)
    noise = 0.05 * rng.standard_normal((n, 2))
    x = (kick + bass)[:, None] + noise
    return (x * (0.891 / np.max(np.abs(x)))).astype(np.float32)


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def median_time_s(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    fn()
    return statistics.median(_timed(fn)[0] for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    audio = make_input()
    scorer = ProxyScorer()
    jobs = {"proxy": lambda: scorer.score(audio, sr=SR), "signal": lambda: signal_metrics(audio, sr=SR)}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
    for fn in jobs.values():
        fn()  # warm-up: imports, filter design caches
    for _ in range(args.repeats):
        for name, fn in jobs.items():  # alternate, so load on the machine hits both alike
            times[name].append(_timed(fn))
    med = {name: (statistics.median(w for w, _ in ts), statistics.median(c for _, c in ts))
           for name, ts in times.items()}
    result = scorer.score(audio, sr=SR)
    print(f"input: {DURATION_S:.0f} s, {SR} Hz, stereo float32; {args.repeats} alternating repeats")
    print(f"proxy scorer ({scorer.identity}): median {med['proxy'][0]:.3f} s wall, "
          f"{med['proxy'][1]:.3f} s CPU  (budget 1.0 s)")
    print(f"signal metrics: median {med['signal'][0]:.3f} s wall, {med['signal'][1]:.3f} s CPU")
    print(f"signal / proxy: {med['signal'][0] / med['proxy'][0]:.2f} wall, "
          f"{med['signal'][1] / med['proxy'][1]:.2f} CPU  (target < 1)")
    print("scores:", {k: round(v, 2) for k, v in result.scores.items()}, f"OBJ {result.obj:.2f}")


if __name__ == "__main__":
    main()
