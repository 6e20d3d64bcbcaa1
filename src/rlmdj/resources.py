"""Where rlmdj's files live: the folders shipped with it and the cache it writes.

Offers :func:`bundled_dir` (``conf/``, ``prompts/`` and ``palettes/``: bundled inside the package
in an installed wheel, at the repository root in a source checkout) and :func:`cache_root` (the
one place the cache root is decided: the sample pack, the score cache and the ``rlmdj.cache_dir``
config resolver all start from it). Imports nothing from rlmdj, so every layer may use it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "bundled_dir", "cache_root"]

CACHE_DIR_ENV = "RLMDJ_CACHE_DIR"
"""Environment variable that moves the cache root."""


def bundled_dir(name: str) -> Path | None:
    """The shipped ``conf``/``prompts``/``palettes`` folder, or None if absent."""
    here = Path(__file__).resolve()
    for candidate in (here.parent / "_bundled" / name, here.parents[2] / name):
        if candidate.is_dir():
            return candidate
    return None


def cache_root() -> Path:
    """``$RLMDJ_CACHE_DIR`` (``~`` expanded) if set and not empty, else ``~/.cache/rlmdj``."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rlmdj"
