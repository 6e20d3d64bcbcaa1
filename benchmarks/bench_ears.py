"""Benchmark: the DJ's ears with the proxy scorer, on one core at 128 BPM.

Run ``python benchmarks/bench_ears.py [--repeats N] [--sets N]``. Prints medians of

- ``listen(8)`` — score the last 8 bars (15 s of audio): budget 150 ms;
- ``audition(moves, 4)`` — through the tool layer (moves validated by the real tools), two
  4-bar renders on forks of the set and two scorings: budget 300 ms;
- a 32-bar ``dj=greedy`` set (4 phrases x 7 auditions of 8 bars): budget 30 s.

The set is the built-in sample pack (synthesised; cached after the first run) with a six-layer
groove already 16 bars in, so renders carry ringing tails and loop voices as in a real set.
"""

from __future__ import annotations

import os

# One core: the budgets are single-core figures, so keep BLAS/FFT pools out of them.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from rlmdj.audio.grid import Grid  # noqa: E402
from rlmdj.audio.palette import random_palette  # noqa: E402
from rlmdj.audio.samples import build_index  # noqa: E402
from rlmdj.dj.drivers.greedy import GreedyDriver  # noqa: E402
from rlmdj.dj.ears import Ears, EarsSettings  # noqa: E402
from rlmdj.dj.ears.tools import tool_names  # noqa: E402
from rlmdj.dj.session import Session  # noqa: E402
from rlmdj.dj.tools.guardrails import Guardrails  # noqa: E402
from rlmdj.dj.tools.mixer import ToolLayer  # noqa: E402
from rlmdj.scoring.proxy import ProxyScorer  # noqa: E402

BPM = 128.0
MOVES = [["pattern", "hihat", "sixteenth_drive"], ["fader", "bassline", 0.7]]


def median_s(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time (this process, one thread) of ``repeats`` calls
    after one warm-up call. On a shared machine the CPU time is the single-core cost."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--sets", type=int, default=3, help="greedy sets (palettes 0..N-1)")
    args = parser.parse_args()
    index = build_index()
    scorer = ProxyScorer()

    def session(seed: int) -> Session:
        return Session(index=index, palette=random_palette(index, seed=seed), grid=Grid(BPM), max_bars=32)

    s = session(0)
    budget = 10 * (args.repeats + 1)
    layer = ToolLayer(s, Guardrails(), critique=None, tools=tool_names(True),
                      services={"ears": Ears(scorer, EarsSettings(max_listens=budget, max_auditions=budget))})
    layer.call("add", "kick", 0.92, "four_on_floor")
    layer.call("add", "hihat", 0.53, "offbeat_8ths")
    layer.call("add", "bassline", 0.65)
    layer.call("play", 8)
    layer.call("add", "perc", 0.4, "syncopated_a")
    layer.call("add", "clap", 0.47, "backbeat")
    layer.call("play", 8)
    ears = layer.services["ears"]

    listen_s = median_s(lambda: ears.listen(s, 8), args.repeats)
    tool_listen_s = median_s(lambda: layer.call("listen", 8), args.repeats)
    audition_s = median_s(lambda: layer.call("audition", MOVES, 4), args.repeats)

    greedy, greedy_cpu = [], []
    for seed in range(args.sets):
        g = session(seed)
        t0, c0 = time.perf_counter(), time.process_time()
        GreedyDriver(seed=seed, scorer=scorer).perform(g)
        greedy.append(time.perf_counter() - t0)
        greedy_cpu.append(time.process_time() - c0)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"ears, {scorer.identity}, {BPM:g} BPM, 1 thread, set 16 bars in with 5 layers; "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    print("                              wall median   CPU median   budget")
    for name, (wall, cpu), budget in (("listen(8) [15 s of audio]", listen_s, "150 ms"),
                                      ("listen(8) as a tool call", tool_listen_s, "150 ms"),
                                      ("audition(moves, 4)", audition_s, "300 ms")):
        print(f"{name:<29} {wall * 1e3:8.1f} ms  {cpu * 1e3:8.1f} ms   {budget}")
    print(f"{'greedy 32-bar set':<29} {statistics.median(greedy):8.2f} s   "
          f"{statistics.median(greedy_cpu):8.2f} s    30 s  ({args.sets} set(s))")


if __name__ == "__main__":
    main()
