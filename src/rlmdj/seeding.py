"""Seeds derived from the replica index, one stream per purpose.

Every random choice in a run (palette draw, random driver, LM rollout id) takes its seed from
``seed_for(replica, purpose)``, so the same config reproduces the same run and two purposes never
share a stream by accident.
"""

from __future__ import annotations

import hashlib

__all__ = ["seed_for"]


def seed_for(replica: int, purpose: str) -> int:
    """A stable 32-bit seed for ``purpose`` in replica ``replica``."""
    digest = hashlib.sha256(f"rlmdj:{purpose}:{int(replica)}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
