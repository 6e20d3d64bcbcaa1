"""What a run writer does, wherever it runs: apply journals as messages name them, and answer.

It imports MLflow and the store's libraries at once (:func:`run`), meanwhile reading one JSON line
per message, ``{"run": key, "journal": folder, "upto": n}``; once imported it applies that run's
journal up to line ``n`` and answers one JSON line each: ``opened`` (run and experiment ids),
``prompt`` (the registered version), ``error`` (the first store failure) and ``done`` (end state
and error). ``{"listen": path}`` makes it serve the runs of other processes connecting to that
Unix socket too, in the same protocol (a sweep's workers: :mod:`rlmdj.tracking.writer.shared`);
one operation is applied at a time. When the messages end (the run's process closed them, or
exited, even killed) the rest of every journal is applied, a run that was never ended ends KILLED,
and the connections still open are waited for.

It runs as its own process (:mod:`rlmdj.tracking.writer.__main__`), or in threads of a joblib
sweep's launching process, which imports MLflow anyway
(:class:`~rlmdj.tracking.writer.process.ThreadWriter`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from typing import IO, Any, TextIO

from rlmdj.tracking.writer.lingering import greet, peer_is_owner

__all__ = ["Listener", "run", "serve"]

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


def run(messages: TextIO, replies: TextIO) -> None:
    """Serve ``messages`` (answering on ``replies``) while MLflow is imported; return once they
    ended and every connection to a socket it was asked to listen on has ended too."""
    # Messages are read (and a socket bound) while MLflow is imported. Joined below: a daemon, so
    # that in a sweep's own process the interpreter's exit does not wait for it before the exit
    # handler that ends the messages.
    reading = threading.Thread(target=serve, args=(messages, replies), daemon=True,
                               name="rlmdj-writer-messages")
    reading.start()
    try:
        _prewarm()
        _quiet()  # after MLflow's import, which sets its loggers' levels
        _fail_fast()
    finally:  # an import cut short (the command exiting) still lets every run end and the socket go
        _READY.set()
        reading.join()


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
            with contextlib.suppress(OSError, ValueError):  # the run's side is gone: nobody to tell
                replies.write(json.dumps({"run": key, **answer}) + "\n")
                replies.flush()

    def advance(key: str, upto: int | None) -> None:
        recorder, done = recorders[key]
        ops = recorder.journal.read(None if upto is None else max(upto - done, 0))
        recorders[key] = (recorder, done + len(ops))
        for op in ops:
            apply(key, recorder, op)

    listeners: list[Listener] = []  # the sockets these messages asked for: closed when they end
    try:
        for line in messages:
            msg = json.loads(line)
            if "listen" in msg:
                listeners += _listen(str(msg["listen"]))
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
    finally:
        for listener in listeners:  # the sweep is over: its workers' runs, if any still open
            listener.close()


def _listen(path: str) -> list[Listener]:
    try:
        return [Listener(path, serve)]
    except OSError:  # the workers find no socket and start writers of their own
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
        return []


class Listener:
    """Serve each connection to ``where`` (a socket path: a sweep's workers, see
    :mod:`rlmdj.tracking.writer.shared`; or a bound socket: the next commands', see
    :mod:`rlmdj.tracking.writer.lingering`) with ``serve``, in a thread."""

    def __init__(self, where: str | socket.socket, serve: Callable[[IO[str], IO[str]], Any]) -> None:
        self._serve = serve
        self._threads: list[threading.Thread] = []
        self._changed = threading.Condition()
        self._open, self._quiet_since, self._stopped = 0, time.monotonic(), False
        self.admit: Callable[[], bool] = lambda: True  # False: accept no more (the writer leaves)
        if isinstance(where, socket.socket):
            self.path, self._server = None, where
        else:
            self.path, self._server = where, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._server.bind(where)
            self._server.listen(64)
        self._accepting = threading.Thread(target=self._accept, daemon=True, name="rlmdj-writer-accept")
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed: no more workers
            if not peer_is_owner(conn):
                conn.close()
                continue
            if not self.admit():
                conn.close()  # its command starts a writer of its own
                self.stop_accepting()
                return
            with self._changed:
                self._open += 1
                self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(target=self._connection, args=(conn,), daemon=True,
                                      name="rlmdj-writer-conn")  # joined by close()
            self._threads.append(thread)
            thread.start()

    def _connection(self, conn: socket.socket) -> None:
        messages, replies = conn.makefile("r", encoding="utf-8"), conn.makefile("w", encoding="utf-8")
        try:
            try:
                greet(replies)
            except OSError:
                return  # gone before it was greeted: it sent nothing
            self._serve(messages, replies)
        finally:
            for stream in (messages, replies, conn):
                with contextlib.suppress(OSError):  # a killed worker: no one left to answer
                    stream.close()
            with self._changed:
                self._open -= 1
                self._quiet_since = time.monotonic()
                self._changed.notify_all()

    def wait_quiet(self, seconds: float) -> None:
        """Return once no connection has been open for ``seconds`` (or accepting stopped)."""
        with self._changed:
            while True:
                if self._open == 0:
                    left = self._quiet_since + seconds - time.monotonic()
                    if left <= 0 or self._stopped:
                        return
                    self._changed.wait(left)
                else:
                    self._changed.wait()

    def stop_accepting(self) -> None:
        """Accept no more connections (those open now are still served)."""
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def close(self) -> None:
        """Accept no more; wait for the connections open now to end (their workers' runs are
        then recorded or ended KILLED); remove the socket."""
        self.stop_accepting()
        self._accepting.join(timeout=5)
        for thread in list(self._threads):
            thread.join()
        if self.path is not None:
            shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)
