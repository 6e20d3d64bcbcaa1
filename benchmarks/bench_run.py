"""Time the default `rlmdj` run end to end and stage by stage, wall and CPU.

Runs the console script in a scratch directory (the first run may generate the sample pack and
create the store; it is reported separately), then prints the medians of the later, warm runs:
wall time and CPU time (user+sys of the process and its children). CPU time is what the run
costs whatever else the machine is doing; on a busy machine wall time includes waiting for a
core. Then where the time goes: interpreter start and the heavy imports (timed in fresh
interpreters), each stage inside the job (the `time/...` metrics each run logs), and the rest.

    python benchmarks/bench_run.py [--repeats 5] [extra overrides...]

Each warm run is followed by the same run with a writer of its own (``RLMDJ_WRITER_LINGER_S=0``:
no writer left by the command before) and by the same run with ``tracking.enabled=false``, so
machine load affects all three alike. By default a command records through the writer the one
before it left lingering; that writer's CPU is counted in the run that used it. The last line
gives the medians and their ratios to the untracked run (what recording a run costs), and whether
the machine was idle meanwhile (other processes' CPU, the hypervisor's steal: :mod:`machine`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


_TOKEN = f"RLMDJ_BENCH_RUN={os.getpid()}"  # in the environment of the writers this benchmark starts


def _lingering_writers() -> Iterator[Path]:
    """The /proc entries of the writers this benchmark's commands left lingering."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if (entry.name.isdigit() and b"rlmdj.tracking.writer" in (entry / "cmdline").read_bytes()
                    and _TOKEN.encode() in (entry / "environ").read_bytes().split(b"\0")):
                yield entry


def _lingering_cpu() -> float:
    """CPU seconds so far of the lingering writers (not the commands' children once they exit,
    so not in their CPU time)."""
    total = 0.0
    for entry in _lingering_writers():
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def _stop_lingering() -> None:
    """The writers left lingering hold no run once their commands exited: stop them."""
    for entry in _lingering_writers():
        with contextlib.suppress(OSError):
            os.kill(int(entry.name), signal.SIGKILL)


def _timed(cmd: list[str], env: dict[str, str] | None = None, **kwargs: object) -> tuple[float, float]:
    """Wall and CPU (user+sys, children and the lingering writer included) seconds of one command."""
    before, lingering = resource.getrusage(resource.RUSAGE_CHILDREN), _lingering_cpu()
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True,  # type: ignore[call-overload]
                   env={**os.environ, **(env or {})}, **kwargs)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _COUNTED.append(_lingering_cpu() - lingering)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + _COUNTED[-1]


_COUNTED: list[float] = []  # lingering writers' CPU seconds counted in the runs


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
    key, value = _TOKEN.split("=")
    os.environ[key] = value
    print(f"{os.cpu_count()} CPUs, {load()}")
    with tempfile.TemporaryDirectory() as tmp, MachineWindow() as machine:
        walls, cpus, untracked, untracked_cpu, own, own_cpu = [], [], [], [], [], []
        for i in range(args.repeats + 1):
            wall, cpu = _timed([rlmdj, "progress=false", *args.overrides], cwd=tmp)
            label = "first run (may generate the pack; its writer stays)" if i == 0 else f"run {i}"
            print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU")
            if not i:
                continue
            walls.append(wall)
            cpus.append(cpu)
            wall, cpu = _timed([rlmdj, "progress=false", *args.overrides], cwd=tmp,
                               env={"RLMDJ_WRITER_LINGER_S": "0"})
            own.append(wall)
            own_cpu.append(cpu)
            print(f"run {i} with a writer of its own: {wall:.2f} s wall, {cpu:.2f} s CPU")
            wall, cpu = _timed([rlmdj, "progress=false", "tracking.enabled=false",
                                *args.overrides], cwd=tmp)
            untracked.append(wall)
            untracked_cpu.append(cpu)
            print(f"run {i} with tracking.enabled=false: {wall:.2f} s wall, {cpu:.2f} s CPU")
        machine.own_extra_s = sum(_COUNTED)
        _stop_lingering()
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
    alone, alone_cpu = statistics.median(own), statistics.median(own_cpu)
    print(f"\nmedian with tracking.enabled=false: {off:.2f} s wall, {off_cpu:.2f} s CPU; MLflow "
          f"adds {median_wall - off:.2f} s wall, {median_cpu - off_cpu:.2f} s CPU")
    print(f"median with a writer of its own (RLMDJ_WRITER_LINGER_S=0): {alone:.2f} s wall, "
          f"{alone_cpu:.2f} s CPU; ratio {alone / off:.2f} to untracked")
    print(f"tracked {median_wall:.2f} s, untracked {off:.2f} s, ratio {median_wall / off:.2f} "
          f"(median wall of {len(walls)} warm runs each); {machine.summary()}")


if __name__ == "__main__":
    main()
