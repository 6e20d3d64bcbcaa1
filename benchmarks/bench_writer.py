"""Where a run's MLflow recording should happen: in a thread of the run's process, or in a writer
process. Each option times, in a fresh interpreter, the default set (untracked, in-process
``run_set`` on a composed config) while the store is opened and a run created beside it:

- ``none``: the set alone (what recording should add nothing to);
- ``inline``: the set, then importing MLflow and opening the store (what a run did before);
- ``thread``: the store opened in a thread while the set plays (one GIL for both);
- ``process``: the store opened by ``python -m rlmdj.tracking.writer``'s imports in a process
  started first (another core).

    python benchmarks/bench_writer.py [--repeats 5]

Prints the median wall seconds of each and, last, the thread and process figures.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

_CHILD = textwrap.dedent("""
    import os, subprocess, sys, threading, time
    t0 = time.perf_counter()
    mode, root = sys.argv[1], sys.argv[2]
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

    def open_store():
        from omegaconf import OmegaConf
        from rlmdj.tracking.store import open_store
        client, exp = open_store(OmegaConf.create({"uri": f"sqlite:///{root}/mlruns.db",
                                                   "experiment": "rlmdj",
                                                   "artifact_location": f"{root}/art"}))
        client.create_run(exp)

    if mode == "process":
        code = "import sys; " \\
               "from rlmdj.tracking.writer.__main__ import _prewarm; _prewarm(); " \\
               "exec(sys.stdin.read())"
        writer = subprocess.Popen([sys.executable, "-c", code, root], stdin=subprocess.PIPE, text=True)
        writer.stdin.write(f"root = {root!r}\\n" + open_store_src)
        writer.stdin.close()
    if mode == "thread":
        helper = threading.Thread(target=open_store)
        helper.start()
    from hydra import compose, initialize_config_dir
    from rlmdj.config import register_configs
    from rlmdj.experiments.jobs.run import run_set
    from rlmdj.resources import bundled_dir
    register_configs()
    with initialize_config_dir(config_dir=str(bundled_dir("conf")), version_base="1.3"):
        cfg = compose("config", overrides=[f"paths.root_dir={root}", f"paths.output_dir={root}/out",
                                           "progress=false", "tracking.enabled=false"])
    run_set(cfg, quiet=True)
    if mode == "inline":
        open_store()
    if mode == "thread":
        helper.join()
    if mode == "process":
        writer.wait()
    print(time.perf_counter() - t0)
""")

_OPEN_SRC = textwrap.dedent("""
    from omegaconf import OmegaConf
    from rlmdj.tracking.store import open_store
    client, exp = open_store(OmegaConf.create({"uri": f"sqlite:///{root}/mlruns.db",
                                               "experiment": "rlmdj", "artifact_location": f"{root}/art"}))
    client.create_run(exp)
""")

MODES = ("none", "inline", "thread", "process")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    code = f"open_store_src = {_OPEN_SRC!r}\n" + _CHILD
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as root:
        for i in range(args.repeats + 1):
            for mode in MODES:  # alternating, so machine load affects each alike
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", code, mode, root], check=True,
                               capture_output=True, text=True)
                if i:  # the first round generates the pack and creates the store
                    times[mode].append(time.perf_counter() - t0)
    med = {m: statistics.median(v) for m, v in times.items()}
    for mode in MODES:
        print(f"{mode:<8} {med[mode]:5.2f} s  (+{med[mode] - med['none']:.2f} s over the set alone)")
    print(f"set alone {med['none']:.2f} s; inline {med['inline']:.2f} s; thread {med['thread']:.2f} s; "
          f"process {med['process']:.2f} s (median wall of {args.repeats})")


if __name__ == "__main__":
    main()
