"""Benchmark: does searching palettes (Optuna) find better ones than screening random draws?

    python benchmarks/bench_search_palettes.py                  # 10 seeds, 100 trials vs 100 and 500 draws
    python benchmarks/bench_search_palettes.py --seeds 3 --bars 4 --sampler random

Per seed, with the built-in pack, the proxy scorer and the reference arrangement at ``--bars``
bars (8 by default: 32 would take four times as long on a laptop's two cores):

- the palette search: ``--trials`` trials of a fresh study (``experiment.search.seed`` = the seed),
  through the job's own functions (:func:`open_search`, :func:`evaluate_trials`: the same worker
  processes, render and scorer as ``rlmdj experiment=search_palettes``);
- screening: ``--draws`` random palettes (``experiment.screen.seed`` = the seed) through
  :func:`score_palettes`, the screening job's core; the first ``--trials`` draws are the random
  baseline of the same budget (the same draws, in order), all ``--draws`` the larger one.

Printed: the best OBJ per seed; search vs screening at the same budget, paired by seed (mean
difference, its 95% CI, p of the paired t test); search's mean best vs screening's at
``--draws``; wall time per trial vs per palette at the same budget and workers (both include
starting the worker processes). Tracking is off; the sample pack is built before any clock starts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

from hydra import compose, initialize_config_dir
from scipy import stats

from rlmdj.config import register_configs, register_resolvers
from rlmdj.experiments.assemble import bundled_dir, load_index
from rlmdj.experiments.jobs.screen import score_palettes
from rlmdj.experiments.jobs.search.palette_search import evaluate_trials, open_search


def _cfg(tmp: str, args: argparse.Namespace, seed: int):
    with initialize_config_dir(str(bundled_dir("conf")), version_base="1.3"):
        return compose("config", overrides=[
            "experiment=search_palettes", "tracking.enabled=false", "progress=false",
            f"paths.root_dir={tmp}", f"paths.output_dir={tmp}/out",
            f"experiment.search.bars={args.bars}", f"experiment.screen.bars={args.bars}",
            f"experiment.search.n_trials={args.trials}", f"experiment.search.seed={seed}",
            f"experiment.search.sampler={args.sampler}", f"experiment.search.workers={args.workers}",
            f"experiment.search.storage={tmp}/seed{seed}.journal",
        ])


def _paired(a: list[float], b: list[float]) -> tuple[float, float, float, float]:
    """Mean of a - b, its 95% CI and the paired t test's two-sided p."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    mean = statistics.fmean(d)
    half = stats.t.ppf(0.975, len(d) - 1) * statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else float("nan")
    p = float(stats.ttest_rel(a, b).pvalue) if len(d) > 1 else float("nan")
    return mean, mean - half, mean + half, p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--workers", type=int, default=0, help="processes (0: one per core)")
    ap.add_argument("--sampler", default="tpe")
    args = ap.parse_args()
    register_resolvers()
    register_configs()
    search, screen_same, screen_more, t_search, t_screen = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            cfg = _cfg(tmp, args, seed)
            load_index(cfg)
            t0 = time.perf_counter()
            out = open_search(cfg)
            evaluate_trials(cfg, out.study, args.trials)
            t_search.append((time.perf_counter() - t0) / args.trials)
            search.append(out.study.rows()[0].obj)
            t0 = time.perf_counter()
            same = score_palettes(cfg, n=args.trials, workers=args.workers, seed=seed)
            t_screen.append((time.perf_counter() - t0) / args.trials)
            more = score_palettes(cfg, n=args.draws, workers=args.workers, seed=seed)
            screen_same.append(same[0].obj)
            screen_more.append(more[0].obj)
            print(f"seed {seed}: best OBJ search {search[-1]:.3f} · screening {args.trials} {screen_same[-1]:.3f} · "
                  f"screening {args.draws} {screen_more[-1]:.3f} · {t_search[-1] * 1000:.0f} ms/trial, "
                  f"{t_screen[-1] * 1000:.0f} ms/palette", flush=True)
    n = args.seeds
    print(f"\n{n} seeds, built-in pack, proxy scorer, reference arrangement at {args.bars} bars, "
          f"sampler {args.sampler}, workers {args.workers or 'one per core'}")
    mean, lo, hi, p = _paired(search, screen_same)
    print(f"search {args.trials} trials vs screening {args.trials} draws: best OBJ {statistics.fmean(search):.4f} vs "
          f"{statistics.fmean(screen_same):.4f}; difference {mean:+.4f} (95% CI {lo:+.4f} to {hi:+.4f}), "
          f"paired t p = {p:.4f}; search better in {sum(a > b for a, b in zip(search, screen_same, strict=True))} of {n} "
          f"(target: p < 0.05 in favour of search)")
    mean2, lo2, hi2, p2 = _paired(search, screen_more)
    print(f"search {args.trials} trials vs screening {args.draws} draws: mean best OBJ "
          f"{statistics.fmean(search):.4f} vs {statistics.fmean(screen_more):.4f}; difference {mean2:+.4f} "
          f"(95% CI {lo2:+.4f} to {hi2:+.4f}, p = {p2:.4f}) (target: search >= screening)")
    ratio = statistics.fmean(t_search) / statistics.fmean(t_screen)
    print(f"wall time: {statistics.fmean(t_search) * 1000:.0f} ms per trial vs {statistics.fmean(t_screen) * 1000:.0f} "
          f"ms per palette, {ratio:.2f}x (target: <= 1.5x)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
