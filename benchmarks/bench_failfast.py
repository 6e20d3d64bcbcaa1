"""What a mistake costs: wall time of `rlmdj` until it refuses bad input or a dead service.

Prints the median over ``--repeat`` runs (in a temp folder with its own store) of:
- an unknown key (``barz=3``), refused before Hydra composes;
- a bad value (``render.normalize_dbfs=3``), refused by the preflight before any run is opened;
- a tracking server that is down (``tracking.uri=http://127.0.0.1:<closed port>``);
and checks that none of them created a run. Target: a typo under 2 s, a dead server under 15 s.

    .venv/bin/python benchmarks/bench_failfast.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RLMDJ = str(Path(sys.executable).parent / "rlmdj")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cwd: Path, *args: str) -> tuple[float, int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RLMDJ_DEBUG", "HYDRA_FULL_ERROR")}
    t0 = time.perf_counter()
    proc = subprocess.run([RLMDJ, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return time.perf_counter() - t0, proc.returncode, proc.stderr.strip().splitlines()[-1:][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "unknown key (barz=3)": ["barz=3"],
        "bad value (render.normalize_dbfs=3)": ["render.normalize_dbfs=3", "progress=false"],
        "tracking server down": ["bars=4", f"tracking.uri=http://127.0.0.1:{closed_port()}",
                                 "progress=false"],
    }
    with tempfile.TemporaryDirectory(prefix="rlmdj-bench-") as tmp:
        cwd = Path(tmp)
        timed(cwd, "barz=3")  # warm the file cache once
        for label, argv in cases.items():
            times, line = [], ""
            for _ in range(args.repeat):
                seconds, code, line = timed(cwd, *argv)
                assert code != 0, f"{label}: exit code 0"
                times.append(seconds)
            print(f"{label:<38} median {statistics.median(times):5.2f} s  "
                  f"(min {min(times):.2f}, max {max(times):.2f}, n={len(times)})")
            print(f"{'':<38} {line[:110]}")
        created = (cwd / "mlruns.db").exists()
        print(f"store created by these mistakes: {'yes' if created else 'no'}")


if __name__ == "__main__":
    main()
