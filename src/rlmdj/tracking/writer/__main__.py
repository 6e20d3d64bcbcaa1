"""The writer process: ``python -m rlmdj.tracking.writer``, started by a run's process.

It serves (:mod:`rlmdj.tracking.writer.service`) the messages on its stdin and answers on its
stdout. Ctrl-C and SIGTERM are ignored: the run's process ends its runs; when stdin closes (that
process exited, even killed) the writer finishes what it was told, then exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from typing import IO

from rlmdj.tracking.writer.service import run


def main() -> None:
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the replies
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    run(sys.stdin, replies)
    _exit_now(replies)


def _exit_now(replies: IO[str]) -> None:
    """Every run it was told of is in its store and answered: exit without tearing MLflow's modules
    down one by one (tens of milliseconds the run's process would wait for), once the exit
    handlers (logging's, MLflow's own) have run and everything written is flushed."""
    atexit._run_exitfuncs()
    for stream in (replies, sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # the run's process may be gone already
            stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
