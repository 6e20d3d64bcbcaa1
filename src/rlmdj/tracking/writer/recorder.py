"""Apply a journal's operations to the store they name, in order (this side imports MLflow).

Used by the writer process while a run plays, and by ``rlmdj-upload`` for a record a failed
store left behind. The first store failure (opening, a batch, the artifacts, the end) stops the
sending; it is kept as one line naming the store. Views that never failed a run before (inputs,
prompt registry, trace) are tagged ``rlmdj.<part>_error`` as they were and the run goes on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from rlmdj.tracking.writer.journal import Journal

__all__ = ["Recorder"]

_VIEWS = {"inputs": "inputs", "prompt": "prompt_registry", "trace": "trace"}
# Stores this process opened, by (uri, experiment, artifact location): a sweep worker's writer
# records one run per job, and opening the store again (lock, experiment, stale-run scan) cost
# it about 50 ms a run.
_OPENED: dict[tuple[str, str, str], tuple[Any, str, int]] = {}
# Stores opened for an earlier command are opened again (experiment lookup, stale-run scan) for
# the next one a lingering writer serves, as by a writer of its own; the database engine is kept.
_COMMAND = [0]
# What each local store opened here was on disk then: a lingering writer serves no command once
# one changed (stores_unchanged).
_IDENTITIES: dict[str, object] = {}


def _identity(path: str) -> object:
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return (stat.st_dev, stat.st_ino)


def _local_path(uri: str) -> str | None:
    """The file or folder of a local store's URI; None for a server."""
    if uri.startswith("sqlite:///"):
        return uri[len("sqlite:///"):].split("?", 1)[0]
    if uri.startswith("file:"):
        return urlparse(uri).path
    return None if "://" in uri else uri


def admit_command() -> bool:
    """Whether a lingering writer may serve another command (:func:`stores_unchanged`); if so,
    its runs find their stores opened afresh."""
    if not stores_unchanged():
        return False
    _COMMAND[0] += 1
    return True


def stores_unchanged() -> bool:
    """Whether every local store opened here is the file it was (not deleted or replaced; MLflow
    keeps the old one open and would write into it), and the working folder still there."""
    try:
        os.getcwd()
    except OSError:
        return False  # the working folder was deleted
    return all(_identity(path) == was for path, was in list(_IDENTITIES.items()))


class Recorder:
    """One run's journal applied to its store; :attr:`error` is the first store failure."""

    def __init__(self, journal: Journal, *, uri: str | None = None) -> None:
        self.journal = journal
        self.uri = uri  # another store than the journal names (an upload elsewhere)
        self.run: Any = None  # the TrackedRun, once opened
        self.prompt: Any = None
        self.error: str | None = None
        self.status: str | None = None  # the end state, once ended
        self.artifact_location: str | None = None

    @property
    def finished(self) -> bool:
        return self.status is not None

    def apply(self, op: dict[str, Any]) -> dict[str, Any] | None:
        """Apply one operation; what the run's process is told (opened, prompt, error, done)."""
        kind = op["op"]
        if kind == "end":
            return self._end(str(op["status"]), scrubbed=op.get("scrubbed", ()))
        if self.error is not None or self.finished:
            return None
        try:
            if kind in _VIEWS:
                return self._view(kind, op)
            return {"open": self._open, "batch": self._batch}[kind](op)
        except Exception as exc:  # noqa: BLE001 - any store failure is kept, never raised
            return self._failed(exc)

    def _open(self, op: dict[str, Any]) -> dict[str, Any]:
        from omegaconf import OmegaConf

        from rlmdj.tracking.run import TrackedRun
        from rlmdj.tracking.store import open_store

        self.uri = self.uri or str(op["uri"])
        self.artifact_location = op["artifact_location"]
        root = OmegaConf.create({"scorer": {"name": op["scorer"]}, "tracking": {
            "uri": self.uri, "experiment": op["experiment"], "artifact_location": op["artifact_location"]}})
        key = (self.uri, str(op["experiment"]), str(op["artifact_location"]))
        for attempt in range(2):
            command = _COMMAND[0]
            if key not in _OPENED or _OPENED[key][2] != command:
                _OPENED[key] = (*open_store(root.tracking, fluent=False), command)
                if (path := _local_path(self.uri)) is not None:
                    _IDENTITIES[path] = _identity(path)
            client, experiment_id, _ = _OPENED[key]
            try:
                self.run = TrackedRun(client, experiment_id, run_name=op["run_name"], tags=op["tags"],
                                      parent_run_id=op["parent_run_id"])
                break
            except Exception:
                del _OPENED[key]  # the store changed under the kept client: open it afresh, once
                if attempt:
                    raise
        return {"opened": self.run.run_id, "experiment_id": experiment_id}

    def _batch(self, op: dict[str, Any]) -> None:
        self.run.log_params(op["params"])
        self.run.set_tags(op["tags"])
        self.run._metrics += [tuple(m) for m in op["metrics"]]
        self.run.flush(artifacts=False)

    def _view(self, kind: str, op: dict[str, Any]) -> dict[str, Any] | None:
        try:
            if kind == "inputs":
                self.run.log_inputs(op["inputs"])
            elif kind == "prompt":
                self.prompt = self.run.register_prompt(op["name"], op["text"])
                return {"prompt": {"name": self.prompt.name, "version": str(self.prompt.version)}}
            else:
                from rlmdj.tracking.traces import SetTrace

                self.run.log_trace(SetTrace(**op["record"]), self.prompt if op["prompt"] else None)
        except Exception as exc:  # noqa: BLE001 - a view; the run's data is logged anyway
            self.run.set_tags({f"rlmdj.{_VIEWS[kind]}_error": repr(exc)[:500]})
        return None

    def _end(self, status: str, *, scrubbed: Sequence[str] = ()) -> dict[str, Any]:
        if self.error is None and not self.finished:
            try:
                if self.run is None:  # a journal that never opened (the process died at once)
                    raise RuntimeError("the record names no store")
                self.run.flush(artifacts=False)
                if any(self.journal.artifacts.iterdir()):
                    self.run.client.log_artifacts(self.run.run_id, str(self.journal.artifacts),
                                                  scrubbed=scrubbed)
                self.run.end(status)
            except Exception as exc:  # noqa: BLE001 - kept as the record's error
                self._failed(exc)
        self.status = status
        return {"done": status, "error": self.error}

    def _artifact_problem(self, exc: BaseException) -> str | None:
        """A file the artifact folder refused (full, read-only): named by its own key."""
        from pathlib import Path

        folder = Path(self.artifact_location).resolve() if self.artifact_location else None
        while exc is not None and folder is not None:
            # A failed copy names its source in ``filename`` and its destination in ``filename2``.
            names = (getattr(exc, "filename2", None), getattr(exc, "filename", None))
            for name in (n for n in names if isinstance(exc, OSError) and isinstance(n, str)):
                path = Path(name).absolute()
                if path == folder or folder in path.parents:
                    return (f"tracking.artifact_location={folder}: {exc.strerror or exc} ({path}); "
                            "free space or choose another tracking.artifact_location")
            exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        return None

    def _failed(self, exc: BaseException) -> dict[str, Any]:
        from rlmdj.errors import RlmdjError
        from rlmdj.tracking.store import store_problem

        # open_store's own errors already name the store and the fix.
        self.error = (str(exc) if isinstance(exc, RlmdjError)
                      else self._artifact_problem(exc) or store_problem(self.uri or "?", exc))
        if self.run is not None and self.run.status == "RUNNING":
            with contextlib.suppress(Exception):  # the store may take this much; the record is kept
                self.run.client.set_terminated(self.run.run_id, "FAILED")
            self.run.status = "FAILED"
        return {"error": self.error}
