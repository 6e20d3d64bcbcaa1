"""Hold Ctrl-C / SIGTERM while the audio of a finished performance is being written.

A long set takes seconds to normalise, encode and log; a SIGTERM in that window used to leave
neither ``set.wav`` nor ``partial.wav``. Inside :func:`deferred_interrupts` the first SIGINT or
SIGTERM is remembered and raised as ``KeyboardInterrupt`` when the block ends, so the run still
ends KILLED but with its audio on disk. A second signal interrupts at once (a user who presses
Ctrl-C twice means it). Outside the main thread signals cannot be handled: the block then runs
unchanged.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = ["deferred_interrupts"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_interrupts(what: str = "writing the audio") -> Iterator[None]:
    """Run the block with SIGINT/SIGTERM deferred to its end (see the module docstring)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous: dict[int, Any] = {}

    def hold(signum: int, frame: FrameType | None) -> None:
        if received:
            raise KeyboardInterrupt(f"signal {signum} (second)")
        received.append(signum)
        print(f"rlmdj: signal {signum} received; finishing {what} first (send it again to "
              "stop now)", file=sys.stderr)

    try:
        for sig in _SIGNALS:
            previous[sig] = signal.signal(sig, hold)
    except ValueError:  # pragma: no cover - guarded by the thread check above
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt(f"terminated by signal {received[0]}")
