"""Benchmark: how often the search sweeper's confirmation calls a winner better, with known truth.

Run ``python benchmarks/bench_search_confirm.py [--sims N] [--trials T] [--replicas K] [--seed S]``.
It drives the Hydra-free core of ``hydra/sweeper=search`` (:func:`rlmdj.search.loop.search` and
:func:`~rlmdj.search.loop.confirm`, the sweeper's own code) with a synthetic noisy objective, no
audio:

    OBJ(x, replica r) = 5 + effect * x + palette_r + noise(x, r)

``palette_r ~ N(0, 1)`` is replica r's draw, shared by every configuration (common random numbers,
as replica r's palette and seed are in a sweep); ``noise ~ N(0, --noise)`` is each run's own. The
search looks for x in [0, 1] on replicas 0..K-1; the baseline is x = 0; the confirmation pits the
best trial against it on fresh replicas (the sweeper's defaults: min 3, max 20, rounds of 2,
delta 0.3, alpha 0.05). Two cases:

- **zero effect** (effect = 0): every "better" is a false confirmation. Printed: its rate (the
  design bound is alpha = 0.05; the confidence sequence keeps it there whatever the selection), and
  for contrast the rate at which the naive reading — the best trial's search mean above the
  baseline's mean on the same replicas — would have called it better (the winner's curse).
- **known effect** (effect = --effect, so the best x is near 1): the power, the replicas the
  confirmation used, and the winner's true gain against its search estimate and its confirmed one.
"""

from __future__ import annotations

import argparse
import statistics
import zlib

import numpy as np
import optuna

from rlmdj.experiments.sweep.sequential import SequentialSettings
from rlmdj.search.loop import BASELINE, Job, confirm, search
from rlmdj.search.space import Param, distributions
from rlmdj.search.study import open_study

__all__ = ["main", "one_study"]

SPACE = distributions([Param("x", "float", low=0.0, high=1.0)])


def objective(effect: float, noise: float, seed: int):
    """The synthetic OBJ of a job (module docstring); ``seed`` makes one simulated world."""
    palette = np.random.default_rng(seed).normal(0, 1, 10_000)

    def value(job: Job) -> float:
        x = 0.0 if job.role == BASELINE else float(job.params["x"])
        key = zlib.crc32(repr((seed, job.replica, round(x, 12))).encode())
        return 5 + effect * x + palette[job.replica] + np.random.default_rng(key).normal(0, noise)

    return value


def one_study(*, effect: float, noise: float, seed: int, trials: int, replicas: int,
              sampler: str) -> dict[str, float | str]:
    """One search and its confirmation; what the naive reading and the confirmation said."""
    value = objective(effect, noise, seed)
    evaluate = lambda jobs: [value(j) for j in jobs]  # noqa: E731 - a one-line world
    study = open_study(name="bench", storage=optuna.storages.InMemoryStorage(), direction="maximize",
                       sampler=sampler, seed=seed, distributions=SPACE)
    search(study, SPACE, evaluate, n_trials=trials, replicas=replicas)
    best = study.best_trial
    baseline_search = statistics.fmean(value(Job(BASELINE, r)) for r in range(replicas))
    c = confirm(evaluate, best_number=best.number, best_params=best.params, direction="maximize",
                first_replica=replicas, settings=SequentialSettings())
    return {"outcome": c.outcome, "naive_better": float(best.value > baseline_search),
            "true_gain": effect * best.params["x"], "search_gain": best.value - baseline_search,
            "confirmed_gain": float(c.last["mean"]), "replicas": float(c.last["replicas"])}


def _case(name: str, effect: float, args: argparse.Namespace) -> None:
    rows = [one_study(effect=effect, noise=args.noise, seed=args.seed + i, trials=args.trials,
                      replicas=args.replicas, sampler=args.sampler) for i in range(args.sims)]
    rate = {o: sum(r["outcome"] == o for r in rows) / len(rows) for o in ("better", "equivalent", "undecided",
                                                                           "worse")}
    used = [r["replicas"] for r in rows]
    print(f"\n{name} (effect {effect:g} OBJ per unit x, noise SD {args.noise:g}, palette SD 1; "
          f"{args.sims} studies of {args.trials} trials x {args.replicas} replicas, sampler {args.sampler})")
    print("  confirmation: " + ", ".join(f"{o} {100 * p:.1f}%" for o, p in rate.items()))
    print(f"  fresh replicas per configuration: mean {np.mean(used):.1f}, 90th percentile "
          f"{np.percentile(used, 90):.0f}")
    if effect == 0:
        naive = np.mean([r["naive_better"] for r in rows])
        print(f"  FALSE-CONFIRMATION RATE: {100 * rate['better']:.1f}% (design bound: alpha = 5%)")
        print(f"  naive reading (best trial's search mean above the baseline's): {100 * naive:.1f}% 'better'")
    else:
        print(f"  POWER (confirmed better): {100 * rate['better']:.1f}%")
    for key, label in (("true_gain", "true gain of the winner"), ("search_gain", "its search estimate"),
                       ("confirmed_gain", "its confirmed estimate")):
        print(f"  {label}: mean {np.mean([r[key] for r in rows]):+.3f} OBJ")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=200, help="simulated studies per case")
    parser.add_argument("--trials", type=int, default=12, help="trials per study (hydra.sweeper.n_trials)")
    parser.add_argument("--replicas", type=int, default=4, help="replicas per trial (hydra.sweeper.replicas)")
    parser.add_argument("--noise", type=float, default=0.3, help="SD of a run's own noise (OBJ)")
    parser.add_argument("--effect", type=float, default=0.6, help="OBJ gained from x = 0 to x = 1 (known effect)")
    parser.add_argument("--sampler", default="random", choices=("random", "tpe"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _case("zero effect", 0.0, args)
    _case("known effect", args.effect, args)


if __name__ == "__main__":
    main()
