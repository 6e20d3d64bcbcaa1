"""Time a reference sweep against its compute floor: what a sweep costs beyond its jobs' work.

Runs ``rlmdj -m 'replica=range(N)'`` (the reference DJ) in a scratch directory on the joblib
launcher, then reads the store: the jobs' ``time/*`` stage seconds (the work), the parent run's
start and end, and each child's. It prints

- the compute floor: the jobs' stage seconds summed, over the workers;
- the sweep's wall (the command, start to exit) and its ratio to the floor;
- start latency: the parent run's start to the first child's (and the command's start to it);
- analysis latency: the last child's end to the parent's end;
- with ``--basic``: the same sweep on Hydra's basic launcher (one process) against the summed
  wall of untracked single runs (``tracking.enabled=false``; the median of ``--singles`` runs
  times N);
- with ``--rss-jobs M``: the peak RSS of the launching process for an M-job sweep at
  ``--rss-bars`` bars (VmHWM, polled from /proc).

The summary line gives the figures; the last, whether the machine was idle meanwhile (other
processes' CPU, the hypervisor's steal: :mod:`machine`). A first, tiny sweep warms the sample pack and the store.
Every command starts its own writer (``RLMDJ_WRITER_LINGER_S=0``): none is left by the command
measured before it, and each one's CPU is the command's.

    python benchmarks/bench_sweep.py [--jobs 32] [--workers 2] [--basic] [--singles 4]
                                     [--rss-jobs 256] [--rss-bars 8] [extra overrides...]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from machine import MachineWindow, load
from mlflow.tracking import MlflowClient


def _rlmdj() -> str:
    return str(Path(sys.executable).parent / "rlmdj")


@dataclass
class Sweep:
    """One sweep as the store recorded it, with the command's own wall time."""

    wall_s: float
    started: float  # the command's start (epoch seconds)
    jobs: int
    work_s: float  # the children's time/* seconds, summed
    parent_to_first_s: float
    command_to_first_s: float
    children_s: float  # first child's start to the last child's end
    analysis_s: float  # last child's end to the parent's end
    cpu_s: float = 0.0  # user+sys of the command and the processes it waited for
    peak_rss_mb: float | None = None


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], cwd: str, *, watch_rss: bool = False) -> tuple[float, float, float | None, float]:
    """(wall seconds, start epoch, peak RSS MB of the process or None, CPU seconds) of one command."""
    cpu0 = _cpu()
    started = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak: list[float] = []
    if watch_rss:
        def poll() -> None:
            while proc.poll() is None:
                rss = _peak_rss_mb(proc.pid)
                if rss is not None:
                    peak.append(rss)
                time.sleep(0.05)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out.decode(errors='replace')[-3000:]}")
    return wall, started, (max(peak) if peak else None), _cpu() - cpu0


def _sweep(tmp: str, jobs: int, launcher: list[str], extra: list[str], *, watch_rss: bool = False) -> Sweep:
    cmd = [_rlmdj(), "-m", f"replica=range({jobs})", "progress=false", *launcher, *extra]
    wall, started, rss, cpu = _run(cmd, tmp, watch_rss=watch_rss)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlruns.db")
    exp = client.get_experiment_by_name("rlmdj")
    parent = client.search_runs([exp.experiment_id], "tags.`rlmdj.sweep` = 'parent'",
                                order_by=["attributes.start_time DESC"], max_results=1)[0]
    children = client.search_runs([exp.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                  max_results=10_000)
    if len(children) != jobs or any(c.info.status != "FINISHED" for c in children):
        sys.exit(f"expected {jobs} FINISHED children, got {[c.info.status for c in children]}")
    work = sum(v for c in children for k, v in c.data.metrics.items() if k.startswith("time/"))
    first = min(c.info.start_time for c in children) / 1000
    last = max(c.info.end_time for c in children) / 1000
    return Sweep(wall_s=wall, started=started, jobs=jobs, work_s=work,
                 parent_to_first_s=first - parent.info.start_time / 1000,
                 command_to_first_s=first - started, children_s=last - first,
                 analysis_s=parent.info.end_time / 1000 - last, cpu_s=cpu, peak_rss_mb=rss)


def _print(label: str, s: Sweep, workers: int) -> float:
    floor = s.work_s / workers
    print(f"{label}: {s.jobs} jobs, {s.wall_s:.1f} s wall; jobs' stage work {s.work_s:.2f} s "
          f"({s.work_s / s.jobs:.3f} s/job) -> floor {floor:.2f} s on {workers} worker(s); "
          f"ratio {s.wall_s / floor:.2f}x")
    print(f"  command start -> first child {s.command_to_first_s:.2f} s; parent run start -> first "
          f"child {s.parent_to_first_s:.2f} s; children {s.children_s:.1f} s "
          f"({s.children_s * workers / s.jobs:.2f} s/job per worker); last child -> parent end "
          f"{s.analysis_s:.2f} s; CPU {s.cpu_s:.1f} s ({s.cpu_s / s.jobs:.2f} s/job, all "
          f"processes)  [{load()}]")
    return floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--basic", action="store_true",
                        help="also run the sweep on the basic launcher against untracked single runs")
    parser.add_argument("--singles", type=int, default=4,
                        help="untracked single runs timed for --basic (their median times N)")
    parser.add_argument("--rss-jobs", type=int, default=0,
                        help="also run an M-job joblib sweep and report the launcher's peak RSS")
    parser.add_argument("--rss-bars", type=int, default=8)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    joblib = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.workers}"]
    os.environ["RLMDJ_WRITER_LINGER_S"] = "0"
    print(f"{os.cpu_count()} CPUs, {load()}")
    summary: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, MachineWindow() as machine:
        _sweep(tmp, 2, joblib, args.overrides)  # the sample pack, the store, the font cache
        s = _sweep(tmp, args.jobs, joblib, args.overrides)
        floor = _print(f"joblib sweep (n_jobs={args.workers})", s, args.workers)
        summary += [f"floor {floor:.2f} s", f"wall {s.wall_s:.1f} s", f"ratio {s.wall_s / floor:.2f}x",
                    f"start {s.parent_to_first_s:.2f} s", f"analysis {s.analysis_s:.2f} s"]
        if args.basic:
            b = _sweep(tmp, args.jobs, [], args.overrides)
            _print("basic launcher sweep", b, 1)
            singles = [_run([_rlmdj(), "progress=false", "tracking.enabled=false", f"replica={i}",
                             *args.overrides], tmp)[0] for i in range(args.singles)]
            single = statistics.median(singles)
            total = single * args.jobs
            print(f"  untracked single run: median {single:.2f} s of {args.singles} "
                  f"({', '.join(f'{w:.2f}' for w in singles)}); x{args.jobs} = {total:.1f} s; "
                  f"basic sweep / singles = {b.wall_s / total:.2f}x")
            summary.append(f"basic/singles {b.wall_s / total:.2f}x")
        if args.rss_jobs:
            r = _sweep(tmp, args.rss_jobs, joblib, [f"bars={args.rss_bars}", *args.overrides],
                       watch_rss=True)
            _print(f"RSS sweep (bars={args.rss_bars})", r, args.workers)
            print(f"  launching process peak RSS: {r.peak_rss_mb or float('nan'):.0f} MB")
            summary.append(f"peak RSS {args.rss_jobs} jobs {r.peak_rss_mb or float('nan'):.0f} MB")
    print(f"summary ({args.jobs} jobs, {args.workers} workers): " + ", ".join(summary))
    print(machine.summary())


if __name__ == "__main__":
    main()
