"""Batch scoring throughput: sets per minute through rlmdj's scorer server, batched vs one by one.

Serves audiobox-aesthetics (randomly initialised checkpoint of the real architecture, ~94M
parameters: the released model's compute) with ``ScoringService`` on 127.0.0.1 and scores the
same sets twice through ``HttpScorer``: one ``POST /score`` per set, then ``POST /score_batch``
with all sets in one request (their windows pooled, ``--batch-size`` per forward pass). Prints
sets per minute for both, their ratio, and whether every set's scores were identical. On a CUDA
machine the same command prints the GPU figure (``--device auto`` picks CUDA).

    python benchmarks/bench_batch.py                      # 8 sets of 60 s, batch 8, fp32
    python benchmarks/bench_batch.py --rounds 3           # medians, modes alternated (busy machines)
    python benchmarks/bench_batch.py --precision bf16 --batch-size 32    # on a GPU
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def _sets(n: int, seconds: float, sr: int = 44_100) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    out = []
    for i in range(n):
        tone = 0.2 * np.sin(2 * np.pi * (110 + 20 * i) * t)[:, None]
        out.append(((tone + 0.05 * rng.standard_normal((len(t), 2))).astype(np.float32), sr))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each set")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (scorer.batch_size)")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--checkpoint", default=None, help="a real checkpoint instead of random weights")
    parser.add_argument("--rounds", type=int, default=1, help="repeat both modes, alternating; medians")
    args = parser.parse_args()

    import torch

    from rlmdj.scoring.audiobox import AudioboxScorer, write_random_checkpoint
    from rlmdj.scoring.client import HttpScorer
    from rlmdj.scoring.serving.server import ServerThread, create_app
    from rlmdj.scoring.serving.service import ScoringService

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or write_random_checkpoint(Path(tmp) / "checkpoint.pt", seed=0)
        scorer = AudioboxScorer(ckpt, device=args.device, precision=args.precision, batch_size=args.batch_size)
        sets = _sets(args.sets, args.seconds)
        device = str(scorer.device)
        if scorer.device.type == "cuda":
            device += f" ({torch.cuda.get_device_name(scorer.device)})"
        print(f"device {device}, threads {torch.get_num_threads()}, {args.precision}, batch_size {args.batch_size}, "
              f"{args.sets} sets of {args.seconds:g} s")
        service = ScoringService(scorer)
        with ServerThread(create_app(service, max_uploads_per_client=args.sets + 1)) as server, \
                HttpScorer(server.url, retries=0, timeout_s=3600, max_wait_s=7200,
                           max_batch_sets=args.sets) as client:
            client.score(*sets[0][:1], sr=sets[0][1])  # warm-up: first forward pass, allocator
            singles, batches = [], []
            for r in range(args.rounds):
                for mode in (("single", "batch") if r % 2 == 0 else ("batch", "single")):
                    t0 = time.perf_counter()
                    if mode == "single":
                        single = [client.score(audio, sr=sr) for audio, sr in sets]
                        singles.append(time.perf_counter() - t0)
                    else:
                        batched = client.score_batch(sets)
                        batches.append(time.perf_counter() - t0)
            t_single, t_batch = statistics.median(singles), statistics.median(batches)
    same = all(a.scores == b.scores and [w.scores for w in a.windows] == [w.scores for w in b.windows]
               for a, b in zip(single, batched, strict=True))
    worst = max(abs(a.scores[k] - b.scores[k]) for a, b in zip(single, batched, strict=True) for k in a.scores)
    per_min = 60.0 * args.sets
    print(f"one by one : {t_single:7.1f} s  -> {per_min / t_single:6.2f} sets/min  (median of {len(singles)})")
    print(f"batched    : {t_batch:7.1f} s  -> {per_min / t_batch:6.2f} sets/min  (median of {len(batches)})")
    print(f"batched / one by one: {t_single / t_batch:.2f}x; scores identical: {same} (max diff {worst:.2e})")


if __name__ == "__main__":
    main()
