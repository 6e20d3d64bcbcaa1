"""Pre-fetch Pyodide into Deno's cache so the RLM sandbox starts offline afterwards.

Run once where the npm registry is reachable (CI setup):
    python scripts/warm_sandbox.py              # Deno's default cache, or $DENO_DIR / $RLMDJ_DENO_DIR
    python scripts/warm_sandbox.py --deno-dir .rlmdj-cache/deno
Prints the seconds the start took; a second run shows the offline start time.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deno-dir", default=os.environ.get("RLMDJ_DENO_DIR"),
                        help="Deno cache folder (default: $RLMDJ_DENO_DIR, $DENO_DIR or Deno's own)")
    args = parser.parse_args(argv)
    from rlmdj.dj.rlm.sandbox import deno_dir, warm

    seconds = warm(args.deno_dir)
    print(f"sandbox ready in {seconds:.1f} s (Deno cache: {deno_dir(args.deno_dir)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
