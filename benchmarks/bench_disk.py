"""Bytes a default `rlmdj` run leaves on disk: launch folder (Hydra output) plus MLflow store.

Runs the console script in a scratch directory (the first run creates the store and is not
counted), then prints, per later run, how many bytes were added under the launch folder split
into Hydra's output folder, the artifact store and the SQLite file, and the median total.
The sample-pack cache lives outside the launch folder (``RLMDJ_CACHE_DIR``) and is not counted.

    python benchmarks/bench_disk.py [--repeats 3] [--baseline-bytes 44e6] [extra overrides...]

``--flac-levels`` instead renders one set (``bars=32``, float WAV, untracked) and writes it as the
run's FLAC artifact at each libsndfile compression level (soundfile's 0..1, FLAC's 0..8): encode
time (median of ``--repeats``, one thread) and size per level, each decoded back to the same
samples (every level is lossless).
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


def _flac_levels(rlmdj: str, repeats: int, overrides: list[str]) -> None:
    """Size against encode time of the set's FLAC artifact at every compression level."""
    import time

    import numpy as np
    import soundfile as sf

    from rlmdj.tracking.record.audio import FLAC_COMPRESSION_LEVEL, write_set_audio

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([rlmdj, "progress=false", "tracking.enabled=false", "bars=32",
                        "render.artifact_format=wav", *overrides], cwd=tmp, check=True, capture_output=True)
        [wav] = Path(tmp).rglob("set.wav")
        audio, sr = sf.read(str(wav), dtype="float32", always_2d=True)
        print(f"32-bar set: {len(audio) / sr:.1f} s, {audio.shape[1]} channels at {sr} Hz; "
              f"float32 WAV {wav.stat().st_size / 1e6:.2f} MB")
        reference = None
        print(f"{'level':>6} {'FLAC':>5} {'encode s':>9} {'MB':>7} {'ratio':>6}")
        for step in range(9):
            level = step / 8
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                path = write_set_audio(Path(tmp) / f"set-{step}", audio, sr=sr, compression_level=level)
                times.append(time.perf_counter() - t0)
            decoded, _ = sf.read(str(path), dtype="int32")
            reference = decoded if reference is None else reference
            assert np.array_equal(decoded, reference), "a FLAC level changed the samples"
            size = path.stat().st_size
            mark = "  <- rlmdj's level" if level == FLAC_COMPRESSION_LEVEL else ""
            print(f"{level:6.3f} {step:5d} {statistics.median(times):9.3f} {size / 1e6:7.2f} "
                  f"{size / wav.stat().st_size:6.1%}{mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--flac-levels", action="store_true",
                        help="time and size the set's FLAC artifact at every compression level")
    parser.add_argument("--baseline-bytes", type=float, default=None,
                        help="bytes per run of an earlier version, to print the ratio against")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    rlmdj = str(Path(sys.executable).parent / "rlmdj")
    if args.flac_levels:
        _flac_levels(rlmdj, args.repeats, args.overrides)
        return
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
