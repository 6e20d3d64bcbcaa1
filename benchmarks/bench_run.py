"""Time the default `rlmdj` run end to end and stage by stage.

Runs the console script a few times in a scratch directory (the first run may generate the
sample pack; it is reported separately), then prints the median wall time of the later runs
and where the time goes: interpreter start and imports (timed in fresh interpreters), each
stage inside the job (the `time/...` metrics each run logs), and the rest (Hydra, opening the
store, logging between stages).

    python benchmarks/bench_run.py [--repeats 3] [--tracking-cost] [extra overrides...]

``--tracking-cost`` also times the same run with ``tracking.enabled=false``, alternating the two
so machine load affects both alike, and prints what MLflow logging adds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

# What a default run imports before its job starts, timed apart from the run.
_IMPORTS = "import rlmdj.cli, rlmdj.experiments.run"


def _python_s(code: str, repeats: int) -> float:
    """Median wall time of ``python -c code`` in a fresh interpreter."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tracking-cost", action="store_true",
                        help="also time tracking.enabled=false runs and print the difference")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    rlmdj = str(Path(sys.executable).parent / "rlmdj")
    with tempfile.TemporaryDirectory() as tmp:
        walls, untracked = [], []
        for i in range(args.repeats + 1):
            t0 = time.perf_counter()
            subprocess.run([rlmdj, "progress=false", *args.overrides], cwd=tmp, check=True,
                           capture_output=True)
            wall = time.perf_counter() - t0
            label = "first run (may generate the pack)" if i == 0 else f"run {i}"
            print(f"{label}: {wall:.2f} s")
            if i:
                walls.append(wall)
            if i and args.tracking_cost:
                t0 = time.perf_counter()
                subprocess.run([rlmdj, "progress=false", "tracking.enabled=false", *args.overrides],
                               cwd=tmp, check=True, capture_output=True)
                untracked.append(time.perf_counter() - t0)
                print(f"run {i} with tracking.enabled=false: {untracked[-1]:.2f} s")
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlruns.db")
        exp = client.get_experiment_by_name("rlmdj")
        runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
        stages: dict[str, list[float]] = {}
        for run in runs[: args.repeats]:
            for key, value in run.data.metrics.items():
                if key.startswith("time/"):
                    stages.setdefault(key.removeprefix("time/").removesuffix("_s"), []).append(value)
    median_wall = statistics.median(walls)
    interpreter = _python_s("pass", args.repeats)
    imports = _python_s(_IMPORTS, args.repeats) - interpreter
    print(f"\nmedian wall time of `rlmdj` (after the first run): {median_wall:.2f} s")
    print(f"  {'interpreter':<12} {interpreter:6.2f} s  (python -c pass)")
    print(f"  {'imports':<12} {imports:6.2f} s  ({_IMPORTS})")
    inside = 0.0
    for stage, values in stages.items():
        m = statistics.median(values)
        inside += m
        print(f"  {stage:<12} {m:6.2f} s")
    rest = median_wall - interpreter - imports - inside
    print(f"  {'other':<12} {rest:6.2f} s  (Hydra, opening the store, logging between stages)")
    if untracked:
        off = statistics.median(untracked)
        print(f"\nmedian with tracking.enabled=false: {off:.2f} s; MLflow adds {median_wall - off:.2f} s "
              f"({(median_wall - off) / median_wall:.0%} of the tracked run)")


if __name__ == "__main__":
    main()
