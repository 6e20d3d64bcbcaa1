"""The run's side of the writer process: start it early, tell it about journals, hear its answers.

One writer per process, shared by the runs it records one after another (a sweep's jobs in one
process) or at once. It is started as early as possible (:func:`prewarm`, before Hydra composes
the config) so that importing MLflow and opening the store happen on another core while the set
is played; a prewarmed writer no run asked for is stopped after :data:`IDLE_S` seconds. Messages
go through a sender thread, so a full pipe never holds up the run; a reader thread hands each
answer to the run it names. A joblib sweep's worker talks to the launching process's writer over
a Unix socket instead (:class:`SocketWriter`, :func:`connect_shared`; the launching side is
:mod:`rlmdj.tracking.writer.shared`). A writer an earlier command left lingering is connected to
the same way (:func:`connect_lingering`; :mod:`rlmdj.tracking.writer.lingering`), and a writer
this process starts lingers after it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from rlmdj.tracking.writer.lingering import address, connect, linger_s

__all__ = ["CONNECT_WAIT_S", "IDLE_S", "SOCKET_ENV", "SocketWriter", "ThreadWriter", "Writer", "connect_lingering",
           "connect_shared", "prewarm", "shared_writer", "stop_idle", "wants_writer"]

IDLE_S = 60.0
# A sweep's shared writer (rlmdj.tracking.writer.shared): "<pid of the sharing process>:<socket path>".
SOCKET_ENV = "RLMDJ_WRITER_SOCKET"
CONNECT_WAIT_S = 15.0  # the shared writer binds its socket as soon as it reads the request
_EXIT_WAIT_S = 120.0
Handler = Callable[[dict[str, Any]], None]


class Writer:
    """A ``python -m rlmdj.tracking.writer`` process and the threads that talk to it."""

    def __init__(self, linger: str | None = None) -> None:
        """``linger``: the socket it stays on after this process's runs, for the next commands
        (:mod:`~rlmdj.tracking.writer.lingering`); in a session of its own, as it outlives this one."""
        command = [sys.executable, "-m", "rlmdj.tracking.writer"]
        if linger is not None:
            command += ["--linger", linger, str(linger_s())]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     encoding="utf-8", start_new_session=linger is not None)
        self._talk(self.proc.stdin, self.proc.stdout)  # type: ignore[arg-type]

    def _talk(self, sender: IO[str], receiver: IO[str]) -> None:
        """Start the threads that send messages to the writer and hand its answers out."""
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._outbox: queue.Queue[str | None] = queue.Queue()
        self._drained = threading.Event()  # every run attached so far has heard "done"
        self.used = False
        self.closed = False
        self.lingering = False  # the writer stays after this process: wait for its runs, not its exit
        threading.Thread(target=self._send_loop, args=(sender,), daemon=True,
                         name="rlmdj-writer-send").start()
        threading.Thread(target=self._read_loop, args=(receiver,), daemon=True,
                         name="rlmdj-writer-read").start()

    @property
    def alive(self) -> bool:
        return not self.closed and self.proc.poll() is None

    def attach(self, key: str, handler: Handler) -> bool:
        """Route answers about run ``key`` to ``handler``; False when this writer is closing."""
        with self._lock:
            if not self.alive:
                return False
            self._handlers[key] = handler
            self._drained.clear()
            self.used = True
            return True

    def notify(self, key: str, journal: str, upto: int) -> None:
        """The journal of run ``key`` holds ``upto`` operations: apply them."""
        self._outbox.put(json.dumps({"run": key, "journal": journal, "upto": upto}))

    def listen(self, path: str) -> None:
        """Have the writer also record the runs of other processes that connect to ``path``
        (:mod:`~rlmdj.tracking.writer.shared`); it stays until this process closes it."""
        with self._lock:
            self.used = True
        self._outbox.put(json.dumps({"listen": path}))

    def close(self, *, wait_s: float = _EXIT_WAIT_S) -> None:
        """No more runs: the writer finishes what it was told and exits (waited for up to ``wait_s``)."""
        if not self._closing():
            return
        if not self.used:
            self.proc.kill()  # prewarmed and never needed: nothing to finish
            self.proc.wait()
            return
        self._outbox.put(None)
        with contextlib.suppress(subprocess.TimeoutExpired, KeyboardInterrupt):
            if self.lingering:
                self._drained.wait(wait_s)
            else:
                self.proc.wait(timeout=wait_s)

    def _closing(self, *, only_if_idle: bool = False) -> bool:
        """Mark this writer closed; False when it already was (or was used, ``only_if_idle``)."""
        with self._lock:
            if self.closed or (only_if_idle and self.used):
                return False
            self.closed = True
            return True

    def close_if_idle(self) -> None:
        """Stop a writer no run has used (a prewarmed one the command did not need)."""
        if not self._closing(only_if_idle=True):
            return
        self.proc.kill()
        self.proc.wait()

    def _send_loop(self, stdin: IO[str]) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                stdin.write(message + "\n")
                stdin.flush()
            except OSError:
                return  # the writer exited; the reader tells the runs
        with contextlib.suppress(OSError):
            stdin.close()

    def _read_loop(self, stdout: IO[str]) -> None:
        for line in stdout:
            with contextlib.suppress(ValueError):
                answer = json.loads(line)
                if "lingering" in answer:
                    self.lingering = True
                if "lingering" in answer or "hello" in answer:  # about the writer, not a run
                    continue
                with self._lock:
                    key = str(answer.get("run"))
                    handler = self._handlers.pop(key) if "done" in answer else self._handlers.get(key)
                    drained = "done" in answer and not self._handlers
                    if drained:
                        self._all_done()
                if handler is not None:
                    handler(answer)
                if drained:
                    self._drained.set()
        code = self._exit_code()
        with self._lock:
            self.closed = True
            orphans = list(self._handlers.values())
            self._handlers.clear()
        for handler in orphans:  # runs that never heard "done" from it
            handler({"exited": code})
        self._drained.set()

    def _all_done(self) -> None:
        """Every run attached so far is recorded (called with the lock held)."""

    def _exit_code(self) -> int | None:
        return self.proc.wait()


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
            self._hang_up()

    def close_if_idle(self) -> None:
        with self._lock:
            if not self._handlers:
                self._hang_up()

    def _all_done(self) -> None:
        self._hang_up()

    def _hang_up(self) -> None:
        """End the connection (with the lock held): the writer sees no more is coming."""
        if not self.closed:
            self.closed = True
            self._outbox.put(None)

    def _exit_code(self) -> int | None:
        return None  # a writer it was connected to stopped answering: no exit code to tell


class ThreadWriter(Writer):
    """The writer's service run in threads of this process, over two pipes: for a joblib sweep's
    launching process, which imports MLflow anyway (the parent run, the analysis), so a writer
    process would import it a second time while the workers fill the cores. Its workers' runs are
    recorded by this process: a kill -9 of it leaves them RUNNING until a later command opens the
    store and marks them FAILED (stale), as it leaves the sweep's own parent run, and each job's
    record stays in its output folder for ``rlmdj-upload``."""

    def __init__(self) -> None:  # noqa: D107 - the base's, in a thread
        from rlmdj.tracking.writer.service import run

        self.proc = None  # type: ignore[assignment]
        self._failed = False
        messages_in, messages_out = os.pipe()
        replies_in, replies_out = os.pipe()
        messages = os.fdopen(messages_in, "r", encoding="utf-8")
        replies = os.fdopen(replies_out, "w", encoding="utf-8")

        def serve() -> None:
            with messages, replies:  # closing the replies ends this side's reader
                try:
                    run(messages, replies)
                except Exception:  # noqa: BLE001 - e.g. the command exiting mid-import: its runs hear it ended
                    self._failed = True

        # A daemon: the interpreter joins other threads before the exit handlers that close it.
        self._thread = threading.Thread(target=serve, daemon=True, name="rlmdj-writer")
        self._thread.start()
        self._talk(os.fdopen(messages_out, "w", encoding="utf-8"), os.fdopen(replies_in, "r", encoding="utf-8"))

    @property
    def alive(self) -> bool:
        return not self.closed and self._thread.is_alive()

    def close(self, *, wait_s: float = _EXIT_WAIT_S) -> None:
        """No more runs: the service finishes what it was told (waited for up to ``wait_s``)."""
        if self._closing():
            self._outbox.put(None)
            with contextlib.suppress(KeyboardInterrupt):
                self._thread.join(timeout=wait_s)

    def close_if_idle(self) -> None:
        if self._closing(only_if_idle=True):
            self._outbox.put(None)

    def _exit_code(self) -> int | None:
        return 1 if self._failed else 0


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


def connect_lingering() -> SocketWriter | None:
    """A connection to the writer an earlier command left (same folder, environment and code),
    or None: this command then starts one that lingers after it (if ``RLMDJ_WRITER_LINGER_S`` is
    not 0)."""
    name = address()
    sock = None if name is None else connect(name)
    return None if sock is None else SocketWriter(sock)


def _own_writer() -> Writer:
    if _RECORD_HERE:
        return ThreadWriter()
    return Writer(linger=address())


_SHARED: list[Writer] = []
_SHARED_LOCK = threading.Lock()
_RECORD_HERE: list[bool] = []  # set by prewarm: this process's writer runs in its own threads


def shared_writer() -> Writer:
    """This process's writer: a sweep's shared one when this is one of its workers, else its own,
    started if there is none (or it exited)."""
    with _SHARED_LOCK:
        if not _SHARED:
            atexit.register(_close_shared)  # at exit the writer finishes what it was told
        if not _SHARED or not _SHARED[-1].alive:
            # One that ended has nothing left to close at exit: replaced, so a worker's connection
            # per job does not pile up.
            _SHARED[-1:] = [connect_shared() or (None if _RECORD_HERE else connect_lingering())
                            or _own_writer()]
        return _SHARED[-1]


def stop_idle() -> None:
    """Stop this process's writer if no run has used it: a prewarmed one the process will not need
    (a sweep's parent whose jobs run on Ray or SLURM workers, each with its own writer)."""
    with _SHARED_LOCK:
        writers = list(_SHARED)
    for writer in writers:
        writer.close_if_idle()


def _close_shared() -> None:
    for writer in _SHARED:
        writer.close()


_OFF = ("tracking.enabled=false", "tracking.enabled=False", "++tracking.enabled=false")
_INFO = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--version",
         "--shell-completion", "-sc", "--resolve")


_MULTIRUN = ("-m", "--multirun")
# Launchers whose jobs record through this process's writer: in this process (basic), or in
# worker processes on this machine that connect to it (joblib; see rlmdj.tracking.writer.shared).
_LAUNCHERS_USING_THIS_WRITER = ("basic", "joblib", "joblib_local")


def _jobs_run_elsewhere(argv: Sequence[str]) -> bool:
    """A multirun on a launcher named on the command line whose jobs run in processes that may be
    on other machines (Ray, SLURM): each of those records through its own writer, and this process
    opens the sweep's parent run itself; a writer here would only import MLflow once more."""
    if not any(a in _MULTIRUN for a in argv):
        return False
    launchers = [a.split("=", 1)[1] for a in argv if a.lstrip("+~").startswith("hydra/launcher=")]
    return bool(launchers) and launchers[-1] not in _LAUNCHERS_USING_THIS_WRITER


def _launches_joblib(argv: Sequence[str]) -> bool:
    """A multirun on joblib named on the command line: its workers fill the cores while this
    process imports MLflow for the sweep's parent run anyway; its writer runs in its threads."""
    if not any(a in _MULTIRUN for a in argv):
        return False
    launchers = [a.split("=", 1)[1] for a in argv if a.lstrip("+~").startswith("hydra/launcher=")]
    return bool(launchers) and launchers[-1] in ("joblib", "joblib_local")


def wants_writer(argv: Sequence[str]) -> bool:
    """Whether this process may record runs: not with tracking off, not for help or info, not in
    a sweep whose jobs run elsewhere."""
    return not (any(a in _OFF or a in _INFO or a.startswith("--cfg=") for a in argv)
                or _jobs_run_elsewhere(argv))


def prewarm(argv: Sequence[str]) -> None:
    """Start the writer now when ``argv`` may record a run (or connect to one an earlier command
    left); stopped after :data:`IDLE_S` unused. A bad ``RLMDJ_WRITER_LINGER_S`` raises
    :class:`~rlmdj.errors.ParameterError`."""
    if not wants_writer(argv):
        return
    address()  # what this command's environment is, before it changes it
    if _launches_joblib(argv):
        _RECORD_HERE[:] = [True]
        return  # started when the sweep shares it, its MLflow import beside the parent run's
    try:
        writer = shared_writer()
    except OSError:
        return  # the run starts one when it needs it, and says so if it cannot
    timer = threading.Timer(IDLE_S, writer.close_if_idle)
    timer.daemon = True
    timer.start()
