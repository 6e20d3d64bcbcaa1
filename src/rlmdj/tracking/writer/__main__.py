"""The writer process: ``python -m rlmdj.tracking.writer``, started by a run's process.

It imports MLflow and the store's libraries at once (while the run's process starts its job),
meanwhile reading one JSON line per message on stdin, ``{"run": key, "journal": folder, "upto": n}``;
once imported it applies that run's journal up to line ``n`` and answers on stdout, one JSON line
each: ``opened`` (run and experiment ids), ``prompt`` (the registered version), ``error`` (the
first store failure) and ``done`` (end state and error). ``{"listen": path}`` makes it serve the
runs of other processes connecting to that Unix socket too, in the same protocol (a sweep's
workers: :mod:`rlmdj.tracking.writer.shared`); one operation is applied at a time. Ctrl-C and
SIGTERM are ignored: the run's process ends its runs; when stdin closes (that process exited, even
killed) the rest of every journal is applied and a run that was never ended ends KILLED, and the
connections still open are waited for.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from typing import Any, TextIO

_DB_ATTEMPTS = 4  # 0.1 + 0.3 + 0.7 s of MLflow's backoff


def _quiet() -> None:
    """The store's failures reach the user as the run's one line, not as MLflow's log lines."""
    for name in ("mlflow", "alembic", "sqlalchemy", "urllib3"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # A server that stopped answering fails the write in seconds (the record is kept), not minutes.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


def _fail_fast() -> None:
    """A SQLite file that cannot be opened fails in about a second: MLflow retries opening any
    database for minutes, and nothing is gained by waiting when the record is kept on disk."""
    from mlflow.store.db import utils

    if isinstance(getattr(utils, "MAX_RETRY_COUNT", None), int):
        utils.MAX_RETRY_COUNT = min(utils.MAX_RETRY_COUNT, _DB_ATTEMPTS)


def _prewarm() -> None:
    from rlmdj.tracking.heap import collector_paused
    from rlmdj.tracking.store import mlflow_env_defaults

    mlflow_env_defaults()
    with collector_paused("mlflow"):
        import mlflow  # noqa: F401
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

        import rlmdj.tracking.scrubbing  # noqa: F401


_READY = threading.Event()  # MLflow imported and quietened: journals may be applied
_APPLYING = threading.Lock()  # one operation at a time, whichever connection it came from
_LISTENERS: list[Any] = []


def serve(messages: TextIO, replies: TextIO) -> None:
    """Apply journals as ``messages`` name them; answer on ``replies``."""
    from rlmdj.tracking.writer.journal import Journal
    from rlmdj.tracking.writer.recorder import Recorder

    recorders: dict[str, tuple[Recorder, int]] = {}

    def apply(key: str, recorder: Recorder, op: dict[str, Any]) -> None:
        _READY.wait()
        with _APPLYING:
            answer = recorder.apply(op)
        reply(key, answer)

    def reply(key: str, answer: dict[str, Any] | None) -> None:
        if answer:
            with contextlib.suppress(OSError):  # the run's process is gone: nobody to tell
                replies.write(json.dumps({"run": key, **answer}) + "\n")
                replies.flush()

    def advance(key: str, upto: int | None) -> None:
        recorder, done = recorders[key]
        ops = recorder.journal.read(None if upto is None else max(upto - done, 0))
        recorders[key] = (recorder, done + len(ops))
        for op in ops:
            apply(key, recorder, op)

    for line in messages:
        msg = json.loads(line)
        if "listen" in msg:
            _listen(str(msg["listen"]))
            continue
        key = str(msg["run"])
        if key not in recorders:
            recorders[key] = (Recorder(Journal(msg["journal"])), 0)
        advance(key, int(msg["upto"]))
        if recorders[key][0].finished:
            del recorders[key]
    for key in list(recorders):  # the run's process is gone: what it wrote is still sent
        advance(key, None)
        recorder = recorders.pop(key)[0]
        if not recorder.finished:
            apply(key, recorder, {"op": "end", "status": "KILLED"})
        if recorder.error is None:  # the store holds it all; the run's process is not there to clear it
            recorder.journal.remove()


def _listen(path: str) -> None:
    from rlmdj.tracking.writer.shared import Listener

    try:
        _LISTENERS.append(Listener(path, serve))
    except OSError:  # the workers find no socket and start writers of their own
        import shutil

        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def main() -> None:
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the replies
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    # Messages are read (and a socket bound) while MLflow is imported; they are applied after.
    reading = threading.Thread(target=serve, args=(sys.stdin, replies), name="rlmdj-writer-stdin")
    reading.start()
    _prewarm()
    _quiet()  # after MLflow's import, which sets its loggers' levels
    _fail_fast()
    _READY.set()
    reading.join()
    for listener in _LISTENERS:  # the sweep is over: its workers' runs, if any still open
        listener.close()


if __name__ == "__main__":
    main()
