"""One writer for a whole sweep on this machine: its joblib workers record through the writer of
the process that launched them, over a Unix socket, instead of each starting its own.

Each writer process imports MLflow (seconds of CPU) and opens the store; on a machine whose cores
the jobs already fill, two workers' writers cost the sweep seconds of wall time at its start.
The launching process's writer was started before Hydra composed, so it is ready by the time
the first job ends.

- :func:`share` (the launching process): the writer listens on a fresh socket, named to the
  workers it starts by :data:`SOCKET_ENV`.
- :func:`~rlmdj.tracking.writer.process.connect_shared` (a worker): a
  :class:`~rlmdj.tracking.writer.process.SocketWriter` to it, or None to start its own (no socket
  named, or none answering within ``CONNECT_WAIT_S``).
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
from collections.abc import Callable
from typing import IO, Any

from rlmdj.tracking.writer.process import SOCKET_ENV, Writer

__all__ = ["Listener", "share"]


def share(writer: Writer) -> str:
    """Make ``writer`` (this process's) the one its joblib workers record through; the socket."""
    folder = tempfile.mkdtemp(prefix="rlmdj-writer-")
    path = os.path.join(folder, "writer.sock")
    writer.listen(path)
    os.environ[SOCKET_ENV] = f"{os.getpid()}:{path}"
    return path


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
