"""Time built-in sample pack generation (cold) and reuse (warm); prints seconds per step.

Usage: python benchmarks/bench_pack.py [--variants 16] [--seed 0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rlmdj.audio.pack import PACK_ROLES, ensure_pack, render_variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    n_files = args.variants * len(PACK_ROLES)
    cold = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            samples = ensure_pack(seed=args.seed, variants_per_role=args.variants, cache_dir=tmp)
            cold.append(time.perf_counter() - start)
            size = sum(Path(s.path).stat().st_size for s in samples)
            start = time.perf_counter()
            ensure_pack(seed=args.seed, variants_per_role=args.variants, cache_dir=tmp)
            warm = time.perf_counter() - start
    print(
        f"pack: {len(PACK_ROLES)} roles x {args.variants} variants = {n_files} files, {size / 1e6:.1f} MB"
    )
    print(
        f"generate (cold): best {min(cold):.2f} s, mean {sum(cold) / len(cold):.2f} s over {len(cold)}"
    )
    print(f"reuse (warm, index check): {warm * 1000:.1f} ms")
    for role in PACK_ROLES:
        start = time.perf_counter()
        for v in range(args.variants):
            render_variant(role, v, seed=args.seed)
        print(f"  synthesis {role:9s} {time.perf_counter() - start:6.2f} s")


if __name__ == "__main__":
    main()
