"""Benchmark: replicas a sequential sweep uses against a fixed-n paired design of equal power.

Run ``python benchmarks/bench_sequential.py [--sims N] [--seed S]``. For each scenario (true OBJ
difference, SD of the per-replica differences) it simulates ``hydra/sweeper=sequential`` with its
default settings (min 3, max 20, rounds of 2, delta 0.3, alpha 0.05) using the sweeper's own
state machine, and prints:

- how often it ended "different", "equivalent" or "undecided", and its false "different" rate
  when the true difference is 0;
- the mean and 90th percentile of replicas per condition it used;
- the replicas per condition a fixed-n paired t-test needs for the *same* power against the
  same true difference (exact noncentral t, SD known in advance — the best case for fixed n),
  and the ratio of the two.

The fixed-n design must also know the SD before the first run; the sequential one does not.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from rlmdj.analysis.stats import replicas_needed_paired
from rlmdj.experiments.sequential import SequentialSettings, SequentialState

__all__ = ["SCENARIOS", "simulate", "main"]

# (true difference in OBJ, SD of the per-replica differences)
SCENARIOS: tuple[tuple[float, float], ...] = (
    (0.6, 0.2), (0.6, 0.4), (0.4, 0.2), (0.3, 0.2), (0.3, 0.3), (0.0, 0.05), (0.0, 0.3),
)


def simulate(true_diff: float, sd: float, settings: SequentialSettings, sims: int,
             rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Decisions and replicas used over ``sims`` simulated sequential sweeps of two conditions."""
    decisions, used = [], []
    for _ in range(sims):
        base = rng.normal(6.5, 0.5, settings.max_replicas)
        other = base + true_diff + rng.normal(0.0, sd, settings.max_replicas)
        state = SequentialState(settings, ["dj=reference", "dj=random"])
        done = 0
        for target in settings.schedule():
            for r in range(done, target):
                state.record("dj=reference", r, float(base[r]))
                state.record("dj=random", r, float(other[r]))
            done = target
            if state.analyse(target):
                break
        decisions.append(state.decisions["dj=random"])
        used.append(int(state.rounds[-1]["replicas"]))
    return decisions, used


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = SequentialSettings()
    rng = np.random.default_rng(args.seed)
    print(f"sequential sweeper, defaults {settings.__dict__}; {args.sims} simulated sweeps per row")
    print(f"{'true Δ':>7} {'SD(d)':>6} {'different':>9} {'equiv.':>7} {'undec.':>7} "
          f"{'mean n':>7} {'p90 n':>6} {'fixed n':>8} {'ratio':>6}")
    for true_diff, sd in SCENARIOS:
        decisions, used = simulate(true_diff, sd, settings, args.sims, rng)
        share = {k: decisions.count(k) / len(decisions) for k in ("different", "equivalent", "undecided")}
        mean_n, p90 = float(np.mean(used)), float(np.percentile(used, 90))
        power = share["different"]
        if true_diff > 0 and power > 0.05:
            fixed = replicas_needed_paired(delta=true_diff, sd_diff=sd, power=min(power, 0.999), alpha=settings.alpha)
            fixed_s, ratio = str(fixed), f"{mean_n / fixed:.2f}"
        else:
            fixed_s, ratio = "–", "–"
        print(f"{true_diff:7.2f} {sd:6.2f} {share['different']:9.1%} {share['equivalent']:7.1%} "
              f"{share['undecided']:7.1%} {mean_n:7.2f} {p90:6.0f} {fixed_s:>8} {ratio:>6}")
    mc = 3 * math.sqrt(settings.alpha * (1 - settings.alpha) / args.sims)
    print(f"rows with true Δ = 0: 'different' is a false positive (bound: alpha {settings.alpha:g}; "
          f"Monte-Carlo error ±{mc:.3f}). fixed n: replicas per condition for a paired t-test with the "
          "power in 'different', SD known; ratio = mean n / fixed n.")


if __name__ == "__main__":
    main()
