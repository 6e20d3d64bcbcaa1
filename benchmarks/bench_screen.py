"""Benchmark: screen N random palettes (32-bar reference, proxy scorer) and print the wall time.

    python benchmarks/bench_screen.py            # 100 palettes, one worker per core
    python benchmarks/bench_screen.py 100 1      # N palettes, workers

Tracking is off so the figure is the screening itself (rendering + scoring); the sample pack is
built (or loaded from its cache) before the clock starts.
"""

from __future__ import annotations

import sys
import tempfile
import time

from hydra import compose, initialize_config_dir

from rlmdj.config import register_configs, register_resolvers
from rlmdj.experiments.assemble import bundled_dir, load_index
from rlmdj.experiments.jobs.screen import score_palettes


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    register_resolvers()
    register_configs()
    with tempfile.TemporaryDirectory() as tmp, initialize_config_dir(str(bundled_dir("conf")), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=screen_palettes", "tracking.enabled=false",
                                           f"paths.root_dir={tmp}", f"paths.output_dir={tmp}/out", "progress=false"])
        load_index(cfg)
        t0 = time.perf_counter()
        rows = score_palettes(cfg, n=n, workers=workers)
        elapsed = time.perf_counter() - t0
    objs = [r.obj for r in rows]
    print(f"screened {n} palettes ({cfg.experiment.screen.bars} bars, proxy scorer, workers={workers or 'auto'}) "
          f"in {elapsed:.1f} s ({elapsed / n * 1000:.0f} ms/palette); OBJ {min(objs):.3f}..{max(objs):.3f}")


if __name__ == "__main__":
    main()
