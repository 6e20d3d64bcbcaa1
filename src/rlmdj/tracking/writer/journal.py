"""A run's record on disk until the store holds it: operations in ``journal.jsonl``, artifact
files under ``artifacts/``, in a folder of the run's output folder.

The run's process appends; the writer process (and ``rlmdj-upload``) reads and applies in order.
Everything a run produced is here before it is sent, so a store that fails loses nothing: the
folder stays, and ``rlmdj-upload <folder>`` sends it later.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

__all__ = ["JOURNAL", "PREFIX", "Journal"]

JOURNAL = "journal.jsonl"
PREFIX = "record-pending-"


class Journal:
    """The pending record in ``folder``: :meth:`append` operations, :meth:`read` them back."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL
        self.artifacts = self.folder / "artifacts"
        self.lines = 0  # operations appended by this process
        self._offset = 0  # bytes read by this process

    @classmethod
    def create(cls, parent: str | Path) -> Journal:
        """A new, empty record under ``parent`` (the run's output folder)."""
        journal = cls(Path(parent) / f"{PREFIX}{uuid.uuid4().hex[:8]}")
        journal.artifacts.mkdir(parents=True)
        journal.path.touch()
        return journal

    def append(self, op: dict[str, Any]) -> int:
        """Write ``op`` (JSON-able; odd values as text) as one line; the number of lines so far."""
        line = json.dumps(op, default=str, separators=(",", ":"))
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        self.lines += 1
        return self.lines

    def read(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The operations not read yet (at most ``limit``); only whole lines."""
        ops: list[dict[str, Any]] = []
        with self.path.open("rb") as f:
            f.seek(self._offset)
            while limit is None or len(ops) < limit:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break
                self._offset += len(line)
                ops.append(json.loads(line))
        return ops

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
