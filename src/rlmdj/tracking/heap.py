"""Import large libraries without paying the garbage collector for their objects.

MLflow (with SQLAlchemy, pandas and alembic) and matplotlib create hundreds of thousands of
long-lived objects when imported. While they accumulate, every full collection walks all of
them and frees nothing: 0.6 s of a default run. :func:`collector_paused` imports with the
collector off and then freezes what exists (``gc.freeze``), so later collections skip those
objects; they are still freed by reference counting, and interpreter exit, which collects the
heap again while tearing modules down, skips them too.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused(module: str) -> Iterator[None]:
    """Run the block (which imports ``module``) with the collector off, then freeze the heap.

    Does nothing once ``module`` is imported, so a process freezes at most once per library.
    """
    if module in sys.modules:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
