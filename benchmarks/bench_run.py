"""Time the default `rlmdj` run end to end and stage by stage, wall and CPU.

Runs the console script in a scratch directory (the first run may generate the sample pack and
create the store; it is reported separately), then prints the medians of the later, warm runs:
wall time and CPU time (user+sys of the process and its children). CPU time is what the run
costs whatever else the machine is doing; on a busy machine wall time includes waiting for a
core. Then where the time goes: interpreter start and the heavy imports (timed in fresh
interpreters), each stage inside the job (the `time/...` metrics each run logs), and the rest.

    python benchmarks/bench_run.py [--repeats 5] [extra overrides...]

Each warm run is followed by the same run with ``tracking.enabled=false``, so machine load affects
both alike; the last line gives the medians of both and their ratio (what recording a run costs),
and whether the machine was idle meanwhile (other processes' CPU, the hypervisor's steal:
:mod:`machine`).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import MachineWindow, load
from mlflow.tracking import MlflowClient

# What a default run imports before its job starts, then the heavy libraries it imports later,
# each timed in a fresh interpreter (shared dependencies are counted in each line).
_IMPORTS = {
    "imports": "import rlmdj.cli, rlmdj.experiments.jobs.run",
    "  mlflow": "import mlflow.store.tracking.sqlalchemy_store",
    "  scipy.signal": "import scipy.signal",
    "  matplotlib": "import matplotlib.figure, matplotlib.backends.backend_agg",
}


def _timed(cmd: list[str], **kwargs: object) -> tuple[float, float]:
    """Wall and CPU (user+sys, children included) seconds of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _python_s(code: str, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``python -c code`` in a fresh interpreter."""
    runs = [_timed([sys.executable, "-c", code]) for _ in range(repeats)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    rlmdj = str(Path(sys.executable).parent / "rlmdj")
    print(f"{os.cpu_count()} CPUs, {load()}")
    with tempfile.TemporaryDirectory() as tmp, MachineWindow() as machine:
        walls, cpus, untracked, untracked_cpu = [], [], [], []
        for i in range(args.repeats + 1):
            wall, cpu = _timed([rlmdj, "progress=false", *args.overrides], cwd=tmp)
            label = "first run (may generate the pack)" if i == 0 else f"run {i}"
            print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU")
            if i:
                walls.append(wall)
                cpus.append(cpu)
            if i:
                wall, cpu = _timed([rlmdj, "progress=false", "tracking.enabled=false",
                                    *args.overrides], cwd=tmp)
                untracked.append(wall)
                untracked_cpu.append(cpu)
                print(f"run {i} with tracking.enabled=false: {wall:.2f} s wall, {cpu:.2f} s CPU")
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlruns.db")
        exp = client.get_experiment_by_name("rlmdj")
        runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
        stages: dict[str, list[float]] = {}
        for run in runs[: args.repeats]:
            for key, value in run.data.metrics.items():
                if key.startswith("time/"):
                    stages.setdefault(key.removeprefix("time/").removesuffix("_s"), []).append(value)
    median_wall, median_cpu = statistics.median(walls), statistics.median(cpus)
    print(f"\nwarm `rlmdj` run, median of {len(walls)}: {median_wall:.2f} s wall, "
          f"{median_cpu:.2f} s CPU (user+sys)  [{load()}]")
    interpreter, interpreter_cpu = _python_s("pass", args.repeats)
    print(f"  {'interpreter':<14} {interpreter:6.2f} s  (python -c pass)")
    imports = 0.0
    for label, code in _IMPORTS.items():
        wall, cpu = _python_s(code, args.repeats)
        wall, cpu = wall - interpreter, cpu - interpreter_cpu
        if not label.startswith(" "):
            imports = wall
        print(f"  {label:<14} {wall:6.2f} s  ({cpu:.2f} s CPU; {code})")
    inside = 0.0
    for stage, values in stages.items():
        m = statistics.median(values)
        inside += m
        print(f"  {stage:<14} {m:6.2f} s")
    rest = median_wall - interpreter - imports - inside
    print(f"  {'other':<14} {rest:6.2f} s  (Hydra, opening the store and importing MLflow, "
          "logging between stages)")
    off, off_cpu = statistics.median(untracked), statistics.median(untracked_cpu)
    print(f"\nmedian with tracking.enabled=false: {off:.2f} s wall, {off_cpu:.2f} s CPU; MLflow "
          f"adds {median_wall - off:.2f} s wall, {median_cpu - off_cpu:.2f} s CPU")
    print(f"tracked {median_wall:.2f} s, untracked {off:.2f} s, ratio {median_wall / off:.2f} "
          f"(median wall of {len(walls)} warm runs each); {machine.summary()}")


if __name__ == "__main__":
    main()
