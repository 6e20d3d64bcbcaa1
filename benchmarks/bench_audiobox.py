"""In-process audiobox-aesthetics throughput, in seconds of compute per minute of audio.

Scores the same 44.1 kHz stereo audio several times with a randomly initialised checkpoint of
the real architecture (WavLM base + heads, ~94M parameters: the compute of the released model)
and prints the median per setting. Resampling to 16 kHz is timed separately.

    python benchmarks/bench_audiobox.py                       # 60 s of audio, 3 runs, fp32, batch 1 and 4
    python benchmarks/bench_audiobox.py --precisions fp32 bf16 --device cuda
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="audio length per scoring")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--precisions", nargs="+", default=["fp32"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--checkpoint", default=None, help="a real checkpoint instead of random weights")
    args = parser.parse_args()

    import torch

    from rlmdj.scoring.audiobox import AudioboxScorer, write_random_checkpoint
    from rlmdj.scoring.resample import to_model_input

    sr = 44_100
    rng = np.random.default_rng(0)
    n = int(args.seconds * sr)
    audio = (0.3 * np.sin(2 * np.pi * 110 * np.arange(n) / sr)[:, None] + 0.05 * rng.standard_normal((n, 2)))
    audio = audio.astype(np.float32)
    per_minute = 60.0 / args.seconds

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"CUDA {'yes: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no'}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average before: {load} (other processes on the machine inflate the figures)")
    print(f"audio: {args.seconds:.0f} s, 44.1 kHz stereo; median of {args.runs} runs\n")

    t = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        to_model_input(audio, sr=sr)
        t.append(time.perf_counter() - t0)
    print(f"resample 44.1 kHz stereo -> 16 kHz mono: {statistics.median(t) * per_minute:.3f} s per minute of audio")

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or write_random_checkpoint(Path(tmp) / "checkpoint.pt")
        for precision in args.precisions:
            for batch in args.batch_sizes:
                t0 = time.perf_counter()
                scorer = AudioboxScorer(ckpt, device=args.device, precision=precision, batch_size=batch)
                load_s = time.perf_counter() - t0
                scorer.score(audio[: sr * 10], sr=sr)  # warm-up
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    scorer.score(audio, sr=sr)
                    if scorer.device.type == "cuda":
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - t0)
                med = statistics.median(times)
                print(
                    f"{scorer.device.type} {precision} batch={batch}: {med * per_minute:.2f} s per minute of audio "
                    f"(runs {', '.join(f'{x:.2f}' for x in times)} s; load {load_s:.1f} s)"
                )


if __name__ == "__main__":
    main()
