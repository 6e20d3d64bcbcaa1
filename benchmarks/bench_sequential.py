"""Benchmark: replicas a sequential sweep uses against a fixed-n paired design of equal power.

Run ``python benchmarks/bench_sequential.py [--sims N] [--seed S]``. For each scenario (true OBJ
difference, SD of the per-replica differences) it simulates ``hydra/sweeper=sequential`` with its
default settings (min 3, max 20, rounds of 2, delta 0.3, alpha 0.05, prior_effect 2) with the
vectorised stopping rule :func:`rlmdj.analysis.sequential.simulate` (tests/analysis/test_sequential.py
checks it decides exactly like the sweeper's own state machine), and prints:

- how often it ended "different", "equivalent" or "undecided", and its false "different" rate
  when the true difference is 0;
- how often it stopped "different" by 6 replicas (the design target: >= 90% at 0.6 OBJ, SD 0.2);
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

from rlmdj.analysis.sequential import cs_multiplier, simulate
from rlmdj.analysis.stats import replicas_needed_paired
from rlmdj.experiments.sweep.sequential import SequentialSettings

__all__ = ["SCENARIOS", "simulate_sweeps", "main"]

# (true difference in OBJ, SD of the per-replica differences)
SCENARIOS: tuple[tuple[float, float], ...] = (
    (0.6, 0.2), (0.6, 0.4), (0.4, 0.2), (0.3, 0.2), (0.3, 0.3), (0.0, 0.05), (0.0, 0.3),
)


def simulate_sweeps(true_diff: float, sd: float, settings: SequentialSettings, sims: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Decisions and replicas used over ``sims`` simulated sequential sweeps of two conditions."""
    base = rng.normal(6.5, 0.5, (sims, settings.max_replicas))  # palette spread: cancels in pairs
    other = base + true_diff + rng.normal(0.0, sd, (sims, settings.max_replicas))
    return simulate(other - base, settings.schedule(), alpha=settings.alpha, delta=settings.delta,
                    prior_effect=settings.prior_effect)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = SequentialSettings()
    rng = np.random.default_rng(args.seed)
    looks = settings.schedule()
    print(f"sequential sweeper, defaults {settings.__dict__}; {args.sims} simulated sweeps per row")
    print("c_n at the looks: " + ", ".join(f"{n}: {cs_multiplier(n, alpha=settings.alpha, prior_effect=settings.prior_effect):.2f}"
                                           for n in looks))
    print(f"{'true Δ':>7} {'SD(d)':>6} {'different':>9} {'by 6':>6} {'equiv.':>7} {'undec.':>7} "
          f"{'mean n':>7} {'p90 n':>6} {'fixed n':>8} {'ratio':>6}")
    for true_diff, sd in SCENARIOS:
        decisions, used = simulate_sweeps(true_diff, sd, settings, args.sims, rng)
        share = {k: float(np.mean(decisions == k)) for k in ("different", "equivalent", "undecided")}
        by6 = float(np.mean((decisions == "different") & (used <= 6)))
        mean_n, p90 = float(np.mean(used)), float(np.percentile(used, 90))
        power = share["different"]
        if true_diff > 0 and power > 0.05:
            fixed = replicas_needed_paired(delta=true_diff, sd_diff=sd, power=min(power, 0.999), alpha=settings.alpha)
            fixed_s, ratio = str(fixed), f"{mean_n / fixed:.2f}"
        else:
            fixed_s, ratio = "–", "–"
        print(f"{true_diff:7.2f} {sd:6.2f} {share['different']:9.1%} {by6:6.1%} {share['equivalent']:7.1%} "
              f"{share['undecided']:7.1%} {mean_n:7.2f} {p90:6.0f} {fixed_s:>8} {ratio:>6}")
    mc = 3 * math.sqrt(settings.alpha * (1 - settings.alpha) / args.sims)
    print(f"rows with true Δ = 0: 'different' is a false positive (bound: alpha {settings.alpha:g}; "
          f"Monte-Carlo error ±{mc:.3f}). by 6: stopped 'different' within 6 replicas. fixed n: replicas per "
          "condition for a paired t-test with the power in 'different', SD known; ratio = mean n / fixed n.")


if __name__ == "__main__":
    main()
