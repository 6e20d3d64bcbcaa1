"""A writer that stays a while after its command, so the next command records through it.

A writer process imports MLflow and the store's libraries: seconds of CPU, on the core beside the
set being played. Users run baselines back to back (a shell loop, a basic-launcher sweep), so the
writer a command started stays for :data:`DEFAULT_LINGER_S` seconds after its last run, and the
next command from the same directory, environment and code connects to it instead of starting
its own. Each command still waits until its runs are in the store: lingering changes who writes,
never when a command may exit.

- Where: a Linux abstract Unix socket (nothing on disk, freed when the process dies) named from
  the user id and a digest of what a writer's behaviour depends on (:func:`address`): the
  interpreter, the installed code, the working directory, the environment. Another command
  differing in any of them starts a writer of its own.
- Who: the writer answers only processes of its own user (:func:`peer_is_owner`); every accepted
  connection is greeted (:func:`greet`) so a command that connected as the writer was leaving
  starts its own instead (:func:`connect`).
- Off: ``RLMDJ_WRITER_LINGER_S=0`` (and on systems without abstract sockets).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import math
import os
import socket
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from rlmdj.errors import ParameterError

__all__ = ["DEFAULT_LINGER_S", "LINGER_ENV", "address", "claim", "connect", "greet", "linger_s",
           "peer_is_owner"]

LINGER_ENV = "RLMDJ_WRITER_LINGER_S"
DEFAULT_LINGER_S = 60.0
_MAX_LINGER_S = 24 * 3600.0
_GREETING_WAIT_S = 5.0
# Set by the shell per command, or naming the command's own place in a session: never what a
# writer does.
_PER_COMMAND_ENV = frozenset({"_", "OLDPWD", "SHLVL", "PWD", "LINES", "COLUMNS"})
_ADDRESS: list[str | None] = []


def linger_s(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds a writer stays after its last run (``RLMDJ_WRITER_LINGER_S``; 0 turns it off)."""
    text = environ.get(LINGER_ENV, "").strip()
    if not text:
        return DEFAULT_LINGER_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 <= seconds <= _MAX_LINGER_S):
        raise ParameterError(f"{LINGER_ENV}={text!r}: expected seconds from 0 (off) to "
                             f"{_MAX_LINGER_S:.0f}")
    return seconds


def _code_digest() -> list[object]:
    """Sizes and times of the rlmdj modules, and of the folder MLflow is installed in (a package
    added, removed or upgraded there changes it): a writer never serves other code than its
    command's."""
    package = Path(__file__).resolve().parents[2]
    stamps: list[object] = []
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        stamps.append([str(path.relative_to(package)), stat.st_size, stat.st_mtime_ns])
    spec = importlib.util.find_spec("mlflow")
    if spec is not None and spec.origin:
        site = Path(spec.origin).parent.parent
        stamps.append([str(site), site.stat().st_mtime_ns])
    return stamps


def address() -> str | None:
    """This command's lingering writer's (abstract) socket name; None when lingering is off (computed once,
    at the command's start, before anything it does changes its environment)."""
    if not _ADDRESS:
        if linger_s() == 0 or not sys.platform.startswith("linux"):
            _ADDRESS.append(None)
        else:
            env = sorted((k, v) for k, v in os.environ.items() if k not in _PER_COMMAND_ENV)
            facts = [sys.executable, sys.version, os.getcwd(), env, _code_digest()]
            digest = hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:32]
            _ADDRESS.append(f"rlmdj-writer-{os.getuid()}-{digest}")
    return _ADDRESS[0]


def claim(name: str) -> socket.socket | None:
    """Bind ``name`` for this writer; None when another writer holds it (that one lingers)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind("\0" + name)  # abstract: no file, freed with the process
        server.listen(64)
    except OSError:
        server.close()
        return None
    return server


def peer_is_owner(conn: socket.socket) -> bool:
    """Whether the connecting process runs as this process's user (abstract sockets have no
    file permissions to keep others out)."""
    try:
        _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                              struct.calcsize("3i")))
    except (OSError, AttributeError):
        return False
    return uid == os.getuid()


def greet(replies: IO[str]) -> None:
    """Tell an accepted connection this writer will record its runs."""
    replies.write(json.dumps({"hello": os.getpid()}) + "\n")
    replies.flush()


def connect(name: str, wait_s: float = _GREETING_WAIT_S) -> socket.socket | None:
    """A connection to the writer at ``name`` once it has greeted it; None when none answers."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(wait_s)
        sock.connect("\0" + name)
        line = b""
        while not line.endswith(b"\n"):  # the writer says nothing more until it is sent a run
            chunk = sock.recv(256)
            if not chunk:
                raise ConnectionError("closed before greeting")
            line += chunk
        if "hello" not in json.loads(line):
            raise ConnectionError("no greeting")
        sock.settimeout(None)
        return sock
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            sock.close()
        return None
