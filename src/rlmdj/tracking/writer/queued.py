"""A tracked run whose recording never holds up the set: :class:`QueuedRun`.

Same calls as :class:`~rlmdj.tracking.run.TrackedRun`; what they record is appended to the run's
journal (:mod:`rlmdj.tracking.writer.journal`) and applied by the writer process, which opens the
store and creates the run while the set is played. Only :meth:`QueuedRun.end` waits: for the
writer to have sent everything, so the run is FINISHED, FAILED or KILLED in the store before the
job returns (a sweep's analysis then sees every job). The run id is known once the store is open;
reading :attr:`QueuedRun.run_id` before then waits for it.

A store that fails (gone, full, read-only, a server that stopped answering) fails no stage: the
journal folder stays in the output folder and :attr:`QueuedRun.write_error` says, in one line,
which store failed and the command that uploads the record later.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from rlmdj.secrets import MASK, is_secret_key, scrub_key, scrub_text, scrub_value
from rlmdj.tracking.run import TrackedRun
from rlmdj.tracking.writer.journal import Journal
from rlmdj.tracking.writer.process import shared_writer

__all__ = ["PendingPrompt", "QueuedRun", "upload_command"]


def _clean(key: str, value: Any) -> str:
    """A param or tag value as the store gets it (as the scrubbing client writes it): the journal
    on disk holds no secret either."""
    text = str(value)
    if is_secret_key(key) and text not in ("", "None", "null", MASK):
        return MASK
    return scrub_text(text)


def upload_command(folder: Path) -> str:
    """The shell command that sends a pending record: ``rlmdj-upload <folder>``."""
    exe = Path(sys.executable).parent / "rlmdj-upload"
    cmd = shlex.quote(str(exe)) if exe.exists() else f"{shlex.quote(sys.executable)} -m rlmdj.tracking.writer.upload"
    return f"{cmd} {shlex.quote(str(folder))}"


class PendingPrompt:
    """The prompt version a run registers; its number is known once the writer has registered it."""

    def __init__(self, run: QueuedRun, name: str) -> None:
        self.name, self._run = name, run

    @property
    def version(self) -> str:
        self._run._wait(self._run._prompt_ready)
        return self._run._prompt_version or "?"


class QueuedRun(TrackedRun):
    """A run recorded by the writer process from its journal in ``out_dir``."""

    def __init__(self, *, uri: str, experiment: str, artifact_location: str | None, scorer: str,
                 out_dir: str | Path, run_name: str | None = None,
                 tags: Mapping[str, str] | None = None, parent_run_id: str | None = None) -> None:
        self.client = None
        self.uri = uri
        self.run_name = run_name or ""
        self.status = "RUNNING"
        self._previous_sigterm = None
        self._params, self._tags, self._metrics = {}, {}, []
        self.journal = Journal.create(out_dir)
        self._staging, self._staged, self._scrubbed = self.journal.artifacts, False, set()
        self._key = uuid.uuid4().hex
        self._opened, self._prompt_ready, self._done = threading.Event(), threading.Event(), threading.Event()
        self._run_id: str | None = None
        self._experiment_id: str | None = None
        self._prompt_version: str | None = None
        self._writer = shared_writer()
        if not self._writer.attach(self._key, self._on_answer):  # it was closing: a fresh one
            self._writer = shared_writer()
            self._writer.attach(self._key, self._on_answer)
        self._append({"op": "open", "uri": uri, "experiment": experiment, "scorer": scorer,
                      "artifact_location": artifact_location,
                      "run_name": scrub_text(run_name) if run_name else run_name,
                      "tags": {scrub_key(k): _clean(k, v) for k, v in (tags or {}).items() if v is not None},
                      "parent_run_id": parent_run_id})

    # ------------------------------------------------------------ answers
    @property
    def run_id(self) -> str | None:  # type: ignore[override]
        """The store's id of the run (waits until the store is open); None if it failed."""
        self._wait(self._opened)
        return self._run_id

    @property
    def experiment_id(self) -> str | None:  # type: ignore[override]
        self._wait(self._opened)
        return self._experiment_id

    def _wait(self, event: threading.Event) -> None:
        while not (event.wait(0.2) or self._done.is_set()):
            pass

    def _on_answer(self, answer: dict[str, Any]) -> None:
        if "opened" in answer:
            self._run_id, self._experiment_id = answer["opened"], answer["experiment_id"]
            self._opened.set()
        if "prompt" in answer:
            self._prompt_version = answer["prompt"]["version"]
            self._prompt_ready.set()
        if answer.get("error") and self.write_error is None:
            self.write_error = str(answer["error"])
            self._done.set()  # nothing more will come: no one waits for an id or a version
        if "exited" in answer and "done" not in answer:
            self.write_error = self.write_error or (
                f"tracking.uri={scrub_text(self.uri)}: the process recording the run exited "
                f"(code {answer['exited']})")
        if "done" in answer or "exited" in answer:
            self._done.set()

    # ------------------------------------------------------------ queueing
    def _append(self, op: dict[str, Any]) -> None:
        self._writer.notify(self._key, str(self.journal.folder), self.journal.append(op))

    def log_inputs(self, inputs: Sequence[Mapping[str, Any]]) -> None:
        self._append({"op": "inputs", "inputs": list(inputs)})

    def register_prompt(self, name: str, text: str) -> PendingPrompt:
        from rlmdj.tracking.prompts import registry_name

        self._append({"op": "prompt", "name": name, "text": text})
        return PendingPrompt(self, registry_name(name))

    def log_trace(self, record: Any, prompt: Any | None) -> None:
        # Masked here, where the secrets given on the command line are known (the journal is a file).
        self._append({"op": "trace", "record": scrub_value(dataclasses.asdict(record)),
                      "prompt": prompt is not None})

    def flush(self, *, artifacts: bool = True) -> None:
        """Hand what is queued to the writer (artifact files are sent when the run ends)."""
        if self._params or self._tags or self._metrics:
            self._append({"op": "batch",
                          "params": {scrub_key(k): _clean(k, v) for k, v in self._params.items()},
                          "tags": {scrub_key(k): _clean(k, v) for k, v in self._tags.items()},
                          "metrics": [[scrub_key(k), *rest] for k, *rest in self._metrics]})
            self._params, self._tags, self._metrics = {}, {}, []

    # ----------------------------------------------------------- lifecycle
    def end(self, status: str) -> None:
        """Queue the end, then wait until the writer has sent the whole record (or failed)."""
        if self.status != "RUNNING":
            return
        self.flush()
        # The text files masked as they were written: the writer sends them as they are.
        self._append({"op": "end", "status": status, "scrubbed": sorted(self._scrubbed)})
        self.status = status
        while not self._done.wait(0.5):
            pass
        if self.write_error is None:
            self.journal.remove()
        else:
            self.write_error += (f"; the run's record is kept in {self.journal.folder}: "
                                 f"upload it with {upload_command(self.journal.folder)}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # SIGTERM stays an interrupt while the record is sent; the writer ignores it and finishes.
        try:
            if exc_type is None:
                self.end("FINISHED")
            else:
                self.end("KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED")
        finally:
            self._restore_sigterm()
            if exc_type is not None and self.write_error:  # the job's own error is what it raises
                print(f"rlmdj: {self.write_error}", file=sys.stderr)
