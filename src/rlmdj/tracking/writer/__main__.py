"""The writer process: ``python -m rlmdj.tracking.writer``, started by a run's process.

It serves (:mod:`rlmdj.tracking.writer.service`) the messages on its stdin and answers on its
stdout. Ctrl-C and SIGTERM are ignored: the run's process ends its runs; when stdin closes (that
process exited, even killed) the writer finishes what it was told, then exits.
"""

from __future__ import annotations

import os
import signal
import sys

from rlmdj.tracking.writer.service import run


def main() -> None:
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the replies
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    run(sys.stdin, replies)


if __name__ == "__main__":
    main()
