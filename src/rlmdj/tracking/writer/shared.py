"""One writer for a whole sweep on this machine: its joblib workers record through the writer of
the process that launched them, over a Unix socket, instead of each starting its own.

Each writer process imports MLflow (seconds of CPU) and opens the store; on a machine whose cores
the jobs already fill, two workers' writers cost the sweep seconds of wall time at its start.
The launching process's writer was started before Hydra composed, so it is ready by the time
the first job ends.

- :func:`share` (the launching process): the writer listens on a fresh socket, named to the
  workers it starts by :data:`SOCKET_ENV`.
- :func:`connect_shared` (a worker): a :class:`SocketWriter` to it, or None to start its own
  (no socket named, or none answering within :data:`CONNECT_WAIT_S`).
- :class:`Listener` (the writer process): accepts the workers' connections, one thread each.

The protocol is the writer's own (JSON lines each way). A worker holds a connection while it has
a run being recorded; when a worker dies, the writer sends the rest of that run's journal and ends
it KILLED, as it does when the process it was started by dies.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rlmdj.tracking.writer.process import Writer

__all__ = ["CONNECT_WAIT_S", "SOCKET_ENV", "Listener", "SocketWriter", "connect_shared", "share"]

SOCKET_ENV = "RLMDJ_WRITER_SOCKET"  # "<pid of the sharing process>:<socket path>"
CONNECT_WAIT_S = 15.0  # the shared writer binds its socket once MLflow is imported


class SocketWriter(Writer):
    """A connection to the writer of the process that launched this one; closed once every run
    it was given is recorded (a worker between jobs holds nothing open)."""

    def __init__(self, sock: socket.socket) -> None:  # noqa: D107 - the base's, over a socket
        self.sock = sock
        self.proc = None  # type: ignore[assignment]
        self._talk(_HalfClosing(sock.makefile("w", encoding="utf-8"), sock),  # type: ignore[arg-type]
                   sock.makefile("r", encoding="utf-8"))

    @property
    def alive(self) -> bool:
        return not self.closed

    def close(self, *, wait_s: float = 0.0) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._outbox.put(None)  # the writer sees the end of this connection

    def close_if_idle(self) -> None:
        with self._lock:
            idle = not self._handlers
        if idle:
            self.close()

    def _all_done(self) -> None:
        if not self.closed:
            self.closed = True
            self._outbox.put(None)

    def _exit_code(self) -> int | None:
        return None


class _HalfClosing:
    """The sending side of the connection: closing it tells the writer that no more is coming
    while answers may still arrive."""

    def __init__(self, stream: IO[str], sock: socket.socket) -> None:
        self.stream, self.sock = stream, sock

    def write(self, text: str) -> int:
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()
            self.sock.shutdown(socket.SHUT_WR)


def share(writer: Writer) -> str:
    """Make ``writer`` (this process's) the one its joblib workers record through; the socket."""
    folder = tempfile.mkdtemp(prefix="rlmdj-writer-")
    path = os.path.join(folder, "writer.sock")
    writer.listen(path)
    os.environ[SOCKET_ENV] = f"{os.getpid()}:{path}"
    return path


def connect_shared(wait_s: float = CONNECT_WAIT_S) -> SocketWriter | None:
    """A connection to the sweep's shared writer when this process is one of its workers."""
    owner, _, path = os.environ.get(SOCKET_ENV, "").partition(":")
    if not path or owner == str(os.getpid()):
        return None  # not a worker (the sharing process itself records through its own)
    deadline = time.monotonic() + wait_s
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return SocketWriter(sock)
        except OSError:
            sock.close()
            if time.monotonic() >= deadline or not Path(path).parent.is_dir():
                return None  # the writer is gone: this process starts its own
            time.sleep(0.1)


class Listener:
    """The writer process's side: serve each connection to ``path`` with ``serve`` in a thread."""

    def __init__(self, path: str, serve: Callable[[IO[str], IO[str]], Any]) -> None:
        self.path, self._serve = path, serve
        self._threads: list[threading.Thread] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(64)
        self._accepting = threading.Thread(target=self._accept, daemon=True, name="rlmdj-writer-accept")
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed: no more workers
            thread = threading.Thread(target=self._connection, args=(conn,), name="rlmdj-writer-conn")
            self._threads.append(thread)
            thread.start()

    def _connection(self, conn: socket.socket) -> None:
        with conn, conn.makefile("r", encoding="utf-8") as messages, \
                conn.makefile("w", encoding="utf-8") as replies:
            self._serve(messages, replies)

    def close(self) -> None:
        """Accept no more; wait for the connections open now to end (their workers' runs are
        then recorded or ended KILLED); remove the socket."""
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._accepting.join(timeout=5)
        for thread in list(self._threads):
            thread.join()
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)
