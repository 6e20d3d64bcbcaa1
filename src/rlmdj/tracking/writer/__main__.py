"""The writer process: ``python -m rlmdj.tracking.writer``, started by a run's process.

It serves (:mod:`rlmdj.tracking.writer.service`) the messages on its stdin and answers on its
stdout. Ctrl-C and SIGTERM are ignored: the run's process ends its runs; when stdin closes (that
process exited, even killed) the writer finishes what it was told, then exits.

``--linger NAME SECONDS``: it also serves the commands that connect to the socket ``NAME``
(:mod:`rlmdj.tracking.writer.lingering`), and once stdin closed and its runs are stored it stays
until no command has been connected for ``SECONDS``. It says so first (``{"lingering": NAME}``),
so the command that started it waits for its runs, not for its exit. It leaves once a store it
opened was deleted or replaced (MLflow keeps the old file open), or on SIGTERM after that command
exited.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import sys
import threading
from typing import IO

from rlmdj.tracking.writer.lingering import claim
from rlmdj.tracking.writer.service import Listener, run, serve


def main(argv: list[str]) -> None:
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the replies
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    staying = _stay(argv, replies)
    run(sys.stdin, replies)
    if staying is not None:
        listener, seconds = staying
        _leave_the_command(replies)
        # SIGTERM (`pkill -f rlmdj.tracking.writer`) now makes it leave once the commands
        # connected to it are recorded; it stays ignored while the command that started it runs.
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=listener.stop_accepting).start())
        listener.wait_quiet(seconds)
        listener.close()
    _exit_now(replies)


def _stay(argv: list[str], replies: IO[str]) -> tuple[Listener, float] | None:
    """Serve the commands that connect to the lingering socket, when asked to and it is free."""
    if len(argv) != 3 or argv[0] != "--linger" or (server := claim(argv[1])) is None:
        return None
    from rlmdj.tracking.writer.recorder import admit_command

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal it was started from may close
    listener = Listener(server, serve)
    listener.admit = admit_command
    replies.write(json.dumps({"lingering": argv[1]}) + "\n")
    replies.flush()
    return listener, float(argv[2])


def _leave_the_command(replies: IO[str]) -> None:
    """The command that started it has exited: hold none of its files (a caller reading the
    command's output to its end would wait for this process too)."""
    with contextlib.suppress(OSError, ValueError):
        replies.close()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


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
    main(sys.argv[1:])
