"""One writer for a whole sweep on this machine: its joblib workers record through the writer of
the process that launched them, over a Unix socket, instead of each starting its own.

Each writer process imports MLflow (seconds of CPU) and opens the store; on a machine whose cores
the jobs already fill, two workers' writers cost the sweep seconds of wall time at its start.
The launching process's writer runs in its threads when the command line names joblib (that
process imports MLflow for the parent run anyway); otherwise it is the writer process started
before Hydra composed. Either is ready by the time the first job ends.

- :func:`share` (the launching process): the writer listens on a fresh socket, named to the
  workers it starts by :data:`SOCKET_ENV`.
- :func:`~rlmdj.tracking.writer.process.connect_shared` (a worker): a
  :class:`~rlmdj.tracking.writer.process.SocketWriter` to it, or None to start its own (no socket
  named, or none answering within ``CONNECT_WAIT_S``).
- :class:`~rlmdj.tracking.writer.service.Listener` (the writer): accepts the workers'
  connections, one thread each.

The protocol is the writer's own (JSON lines each way). A worker holds a connection while it has
a run being recorded; when a worker dies, the writer sends the rest of that run's journal and ends
it KILLED, as it does when the process it was started by dies.
"""

from __future__ import annotations

import os
import tempfile

from rlmdj.tracking.writer.process import SOCKET_ENV, Writer

__all__ = ["share"]


def share(writer: Writer) -> str:
    """Make ``writer`` (this process's) the one its joblib workers record through; the socket."""
    folder = tempfile.mkdtemp(prefix="rlmdj-writer-")
    path = os.path.join(folder, "writer.sock")
    writer.listen(path)
    os.environ[SOCKET_ENV] = f"{os.getpid()}:{path}"
    return path
