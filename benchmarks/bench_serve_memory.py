"""Scorer server memory: RSS of ``rlmdj experiment=serve`` around refused and accepted large sets.

Starts the serve job (``scorer=proxy`` by default) on 127.0.0.1 and sends small compressed files
that decode huge: a 30-minute silent 48 kHz stereo FLAC (~330 KB, 172.8 M samples), eight of
them in one ``POST /score_batch``, five 9-minute ones in one batch (each within
``max_decoded_samples``, together beyond ``max_request_decoded_samples``), then accepted sets
near the limits. After each request it prints the server's RSS now and its peak so far
(VmRSS / VmHWM from /proc), in MB.

    python benchmarks/bench_serve_memory.py
    python benchmarks/bench_serve_memory.py --scorer audiobox   # with RLMDJ_AUDIOBOX_CHECKPOINT set
"""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf


def silent_flac(seconds: float, *, sr: int = 48_000, channels: int = 2) -> bytes:
    buf = io.BytesIO()
    block = np.zeros((sr * 10, channels), dtype=np.int16)
    with sf.SoundFile(buf, "w", sr, channels, format="FLAC", subtype="PCM_16") as f:
        for _ in range(int(seconds // 10)):
            f.write(block)
    return buf.getvalue()


def memory_mb(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scorer", default="proxy")
    args = parser.parse_args()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rlmdj.cli", "experiment=serve", f"scorer={args.scorer}",
             f"experiment.serve.port={port}", "experiment.serve.log_level=warning", f"hydra.run.dir={tmp}/out"],
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    httpx.get(f"{url}/health", timeout=1)
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("serve job did not start") from None
                    time.sleep(0.3)
            thirty, nine, five = silent_flac(1800), silent_flac(540), silent_flac(300)
            requests = [
                ("warm-up: 10 s set", "/score", [silent_flac(10)]),
                ("30 min 48k stereo (333 KB FLAC)", "/score", [thirty]),
                ("8 x 30 min in one batch", "/score_batch", [thirty] * 8),
                ("5 x 9 min in one batch", "/score_batch", [nine] * 5),
                ("9 min 48k stereo (accepted)", "/score", [nine]),
                ("4 x 5 min in one batch (accepted)", "/score_batch", [five] * 4),
                ("10 s set", "/score", [silent_flac(10)]),
            ]
            print(f"{'request':<36} {'status':>14} {'s':>6} {'RSS MB':>7} {'peak MB':>8}")
            rss, peak = memory_mb(proc.pid)
            print(f"{'idle':<36} {'':>14} {'':>6} {rss:>7} {peak:>8}")
            with httpx.Client(timeout=900) as client:
                for name, path, sets in requests:
                    files = [("audio", (f"s{i}.flac", data, "audio/flac")) for i, data in enumerate(sets)]
                    t0 = time.perf_counter()
                    r = client.post(url + path, files=files)
                    elapsed = time.perf_counter() - t0
                    body = r.json()
                    status = str(r.status_code)
                    if "results" in body:
                        status += " [" + ",".join(sorted({str(x["status"]) for x in body["results"]})) + "]"
                    rss, peak = memory_mb(proc.pid)
                    print(f"{name:<36} {status:>14} {elapsed:>6.1f} {rss:>7} {peak:>8}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
