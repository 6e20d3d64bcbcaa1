"""Bytes a default `rlmdj` run leaves on disk: launch folder (Hydra output) plus MLflow store.

Runs the console script in a scratch directory (the first run creates the store and is not
counted), then prints, per later run, how many bytes were added under the launch folder split
into Hydra's output folder, the artifact store and the SQLite file, and the median total.
The sample-pack cache lives outside the launch folder (``RLMDJ_CACHE_DIR``) and is not counted.

    python benchmarks/bench_disk.py [--repeats 3] [--baseline-bytes 44e6] [extra overrides...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _sizes(root: Path) -> dict[str, int]:
    parts = {
        "hydra outputs": _size(root / "outputs"),
        "artifacts": _size(root / "mlartifacts"),
        "sqlite": sum(_size(p) for p in root.glob("mlruns.db*")),
    }
    parts["total"] = _size(root)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-bytes", type=float, default=None,
                        help="bytes per run of an earlier version, to print the ratio against")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    rlmdj = str(Path(sys.executable).parent / "rlmdj")
    totals: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(args.repeats + 1):
            before = _sizes(root)
            subprocess.run([rlmdj, "progress=false", *args.overrides], cwd=tmp, check=True,
                           capture_output=True)
            after = _sizes(root)
            added = {k: after[k] - before[k] for k in after}
            if i == 0:
                print(f"first run (creates the store): {added['total'] / 1e6:.2f} MB")
                continue
            totals.append(added["total"])
            split = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in added.items() if k != "total")
            print(f"run {i}: {added['total'] / 1e6:.2f} MB ({split})")
    median = statistics.median(totals)
    print(f"\nmedian bytes written per default run: {median / 1e6:.2f} MB ({median:.0f} bytes)")
    if args.baseline_bytes:
        print(f"ratio to baseline {args.baseline_bytes / 1e6:.2f} MB: {median / args.baseline_bytes:.1%}")


if __name__ == "__main__":
    main()
