"""The code sandbox the RLM writes into: offline Deno/Pyodide start-up and crash recovery.

- :func:`deno_command` builds the Deno command line for DSPy's ``PythonInterpreter``
  (public ``deno_command`` parameter) with an ``--import-map`` that points the one Deno
  standard-library URL its runner imports at a module shipped in this package, so the sandbox
  starts without network once Pyodide is in Deno's cache (see :func:`warm`).
- :class:`ResilientInterpreter` is a ``CodeInterpreter`` that runs each execution under a
  timeout, and replaces a crashed or hung sandbox with a fresh one built through the public
  constructor with the same tools, so the set (mixer and rendered bars, which live on the host)
  carries on. Restarts are counted; the model is told its sandbox variables were lost.
- :func:`interpreter_factory` picks the Deno sandbox or, for trusted environments, DSPy's
  local CPython interpreter (``sandbox=local``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import inspect
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlmdj.config.dj import SandboxConfig
from rlmdj.errors import ParameterError

__all__ = [
    "BRIDGE_SETUP",
    "ResilientInterpreter",
    "deno_command",
    "deno_dir",
    "interpreter_factory",
    "warm",
]

log = logging.getLogger(__name__)

# Python run in each Deno sandbox before the model's code: sends NaN, inf and integers beyond
# the float range across the tool bridge as text, so rlmdj's validation refuses them with a hint.
BRIDGE_SETUP = Path(__file__).with_name("_deno") / "bridge_setup.py"
_PROBE_TIMEOUT_S = 20


def _deno_executable() -> str:
    try:
        from deno import find_deno_bin

        return find_deno_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("deno")
        if found is None:
            raise ParameterError(
                "the Deno executable was not found; install it with `pip install deno` "
                "or choose sandbox=local"
            ) from None
        return found


@functools.cache
def _default_deno_dir(executable: str) -> str:
    result = subprocess.run(
        [executable, "info", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=_PROBE_TIMEOUT_S,
        env={**os.environ, "DENO_NO_PACKAGE_JSON": "1"},
    )
    try:
        return str(json.loads(result.stdout)["denoDir"])
    except (ValueError, KeyError):
        return str(Path.home() / ".cache" / "deno")


def deno_dir(configured: str | None = None) -> str:
    """Deno's cache folder: ``configured``, else ``$DENO_DIR``, else Deno's own default."""
    if configured:
        return os.path.realpath(os.path.expanduser(configured))
    if os.environ.get("DENO_DIR"):
        return os.path.realpath(os.path.expanduser(os.environ["DENO_DIR"]))
    return os.path.realpath(_default_deno_dir(_deno_executable()))


def deno_command(cache_dir: str | None = None) -> list[str]:
    """The command line that starts DSPy's Pyodide runner offline (built by
    :func:`rlmdj.dj.rlm.dspy_compat.runner_command`, with Deno's cache folder created)."""
    from rlmdj.dj.rlm.dspy_compat import runner_command

    cache = deno_dir(cache_dir)
    Path(cache).mkdir(parents=True, exist_ok=True)
    return runner_command(_deno_executable(), cache)


def _positional(tool: Callable[..., Any]) -> Callable[..., Any]:
    """``tool`` callable with positional arguments too.

    DSPy hands the interpreter keyword-only wrappers of the tools; the Deno runner names each
    argument before calling, but the local worker passes ``add('kick', 0.9)`` through as is, so
    the arguments are bound here to the names of the tool's own signature.
    """
    try:
        signature = inspect.signature(tool)
    except (TypeError, ValueError):
        return tool

    @functools.wraps(tool)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not args:
            return tool(**kwargs)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{getattr(tool, '__name__', 'tool')}() {exc}") from None
        return tool(**bound.arguments)

    return call


def _host_tools(settings: SandboxConfig, tools: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    if settings.kind == "local":
        return {name: _positional(fn) for name, fn in tools.items()}
    return dict(tools)


def _make_inner(settings: SandboxConfig, tools: dict[str, Callable[..., Any]],
                output_fields: list[dict] | None) -> Any:
    if settings.kind == "local":
        from rlmdj.dj.rlm.dspy_compat import LocalInterpreter

        return LocalInterpreter(tools=_host_tools(settings, tools), output_fields=output_fields)
    if settings.kind != "deno":
        raise ParameterError(f"unknown sandbox {settings.kind!r}; use sandbox.kind=deno or local")
    from rlmdj.dj.rlm.dspy_compat import PythonInterpreter

    return PythonInterpreter(
        deno_command=deno_command(settings.deno_dir), tools=dict(tools), output_fields=output_fields
    )


class ResilientInterpreter:
    """A ``CodeInterpreter`` whose sandbox is replaced when it crashes or hangs.

    Executions run on one worker thread (the Deno interpreter must stay on one thread) and are
    abandoned after ``settings.timeout_s``: the sandbox process is killed, a fresh one is built
    with the current ``tools`` and ``output_fields``, the setup code that ran before the first
    model turn (DSPy's sandbox shim) is run again, and the model gets an error text saying what
    happened. ``is_setup()`` tells whether an execution is still setup (no model turn yet).
    ``after_execute(result)`` may rewrite a result (the hard stop uses it). ``starting()`` is
    entered around every sandbox start-up, the first and each replacement (the set's budget
    times them: start-up is the machine's time, not the set's).
    """

    def __init__(
        self,
        settings: SandboxConfig,
        *,
        is_setup: Callable[[], bool] = lambda: False,
        after_execute: Callable[[Any], Any] | None = None,
        on_restart: Callable[[str], None] | None = None,
        starting: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        self.settings = settings
        self.tools: dict[str, Callable[..., Any]] = {}
        self.output_fields: list[dict] | None = None
        self.restarts = 0
        self.restart_log: list[dict[str, Any]] = []  # {t, reason}: the run's trace shows them
        self._is_setup = is_setup
        self._after_execute = after_execute
        self._on_restart = on_restart
        self._starting = starting
        self._setup: list[tuple[str, dict[str, Any] | None]] = []
        self._inner: Any = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._closed = False
        self._bridged: Any = None  # the sandbox that has BRIDGE_SETUP applied
        self._stop_requested = False
        self._wake: threading.Event | None = None
        self.stops = 0

    # CodeInterpreter protocol -------------------------------------------------
    def start(self) -> None:
        self._ensure()

    def execute(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        from rlmdj.dj.rlm.dspy_compat import CodeExecutionError, CodeInterpreterError

        setup = self._is_setup()
        try:
            result = self._run(code, variables)
            if setup:
                self._setup.append((code, dict(variables) if variables else None))
        except _Stopped:
            # Ended on purpose (the set is over): no restart is counted; the next execution,
            # if any, gets a fresh sandbox. after_execute turns this into the final answer.
            self._discard(kill=True)
            self._stop_requested = False
            self.stops += 1
            result = "[stopped] the set is complete; the running code was ended"
        except (CodeExecutionError, SyntaxError) as exc:
            if setup:
                raise
            result = exc
        except (CodeInterpreterError, concurrent.futures.TimeoutError, OSError) as exc:
            if setup:
                raise
            result = self._restart(exc)
        return self._finish(result)

    def shutdown(self) -> None:
        self._closed = True
        self._discard(kill=False)

    def __call__(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        return self.execute(code, variables)

    # -------------------------------------------------------------------------
    def kill(self) -> None:
        """Kill the sandbox process now, as a crash would (used by fault-injection tests)."""
        if self._inner is not None:
            _kill(self._inner, wait=True)

    def request_stop(self) -> None:
        """End the running execution now (any thread; used at the end of the set).

        Soft signals do not stop code that catches them (``while True: try: play(1) except:
        pass``); killing the sandbox process does. The execution returns at once with a
        "[stopped]" result and the next one starts a fresh sandbox.
        """
        self._stop_requested = True
        wake = self._wake
        if wake is not None:
            wake.set()

    def _ensure(self) -> Any:
        if self._closed:
            from rlmdj.dj.rlm.dspy_compat import CodeInterpreterError

            raise CodeInterpreterError("the sandbox was shut down")
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlmdj-sandbox")
        if self._inner is None:
            with self._starting():
                inner = _make_inner(self.settings, self.tools, self.output_fields)
                self._inner = inner
                self._pool.submit(inner.start).result(timeout=max(self.settings.timeout_s, 60.0))
        return self._inner

    def _run(self, code: str, variables: dict[str, Any] | None) -> Any:
        inner = self._ensure()
        # Tools may have been replaced since the sandbox started (each RLM call injects its own).
        inner.tools.clear()
        inner.tools.update(_host_tools(self.settings, self.tools))
        if hasattr(inner, "output_fields"):
            inner.output_fields = self.output_fields
        if self.settings.kind == "deno" and self._bridged is not inner:
            # After the tools are in place: the first execution registers them with the sandbox.
            self._pool.submit(inner.execute, BRIDGE_SETUP.read_text(encoding="utf-8")).result(
                timeout=self.settings.timeout_s)
            self._bridged = inner
        wake = threading.Event()
        self._wake = wake
        future = self._pool.submit(inner.execute, code, variables)
        future.add_done_callback(lambda _f: wake.set())
        if self._stop_requested:
            wake.set()
        try:
            wake.wait(self.settings.timeout_s)
        finally:
            self._wake = None
        if future.done():
            return future.result()
        if self._stop_requested:
            raise _Stopped()
        raise concurrent.futures.TimeoutError()

    def _restart(self, exc: BaseException) -> str:
        from rlmdj.dj.rlm.dspy_compat import CodeInterpreterError

        hung = isinstance(exc, concurrent.futures.TimeoutError)
        reason = (f"execution exceeded {self.settings.timeout_s:g} s" if hung
                  else f"{type(exc).__name__}: {str(exc)[:300]}")
        self._discard(kill=True)
        if self.restarts >= self.settings.max_restarts:
            raise CodeInterpreterError(
                f"the sandbox failed {self.restarts + 1} times (last: {reason}); giving up"
            ) from exc
        self.restarts += 1
        self.restart_log.append({"t": time.time(), "reason": reason})
        log.warning("sandbox restarted (%s)", reason)
        if self._on_restart is not None:
            self._on_restart(reason)
        started = time.perf_counter()
        self._ensure()
        for code, variables in self._setup:
            self._run(code, variables)
        log.info("sandbox ready again after %.1f s", time.perf_counter() - started)
        return (
            f"[Error] The sandbox stopped ({reason}) and was restarted. Variables you defined "
            "are gone; the mixer and every bar already played are kept. Call status() to see "
            "where the set is, then continue with short, simple code."
        )

    def _discard(self, *, kill: bool) -> None:
        inner, pool = self._inner, self._pool
        self._inner, self._pool = None, None
        if inner is None:
            if pool is not None:
                pool.shutdown(wait=False)
            return
        if kill:
            _kill(inner)
        try:
            if pool is not None:
                # Shut the interpreter down on its own thread once any abandoned execution ends.
                pool.submit(_quiet_shutdown, inner)
                pool.shutdown(wait=not kill)
            else:
                _quiet_shutdown(inner)
        except RuntimeError:
            _quiet_shutdown(inner)

    def _finish(self, result: Any) -> Any:
        from rlmdj.dj.rlm.dspy_compat import CodeExecutionError

        if self._after_execute is not None:
            result = self._after_execute(result)
        if isinstance(result, CodeExecutionError | SyntaxError):
            raise result
        return result


class _Stopped(Exception):
    """The running execution was ended on purpose by :meth:`ResilientInterpreter.request_stop`."""


def _kill(inner: Any, *, wait: bool = False) -> None:
    """Stop a sandbox at once, even mid-execution: the Deno process is killed (public
    ``deno_process``); DSPy's local worker is killed by its own ``shutdown()``."""
    process = getattr(inner, "deno_process", None)
    if process is None:
        from rlmdj.dj.rlm.dspy_compat import release_local_waiter

        _quiet_shutdown(inner)
        release_local_waiter(inner)  # else an execution left waiting holds the process at exit
        return
    if process.poll() is None:
        process.kill()
        if wait:
            process.wait()


def _quiet_shutdown(inner: Any) -> None:
    try:
        inner.shutdown()
    except Exception:  # noqa: BLE001 - a dead sandbox may fail to say goodbye
        log.debug("sandbox shutdown failed", exc_info=True)


def interpreter_factory(
    settings: SandboxConfig,
    **hooks: Any,
) -> Callable[[], ResilientInterpreter]:
    """A zero-argument factory for ``dspy.RLM(interpreter_factory=...)``; ``hooks`` go to
    :class:`ResilientInterpreter`. The factory remembers the interpreters it made
    (``factory.made``) so a driver can read their restart counts."""

    made: list[ResilientInterpreter] = []

    def factory() -> ResilientInterpreter:
        interp = ResilientInterpreter(settings, **hooks)
        made.append(interp)
        return interp

    factory.made = made  # type: ignore[attr-defined]
    if settings.kind == "deno":
        from rlmdj.dj.rlm.dspy_compat import PythonInterpreter

        factory.execution_instructions = PythonInterpreter.execution_instructions  # type: ignore[attr-defined]
    return factory


def warm(cache_dir: str | None = None, *, timeout_s: float = 300.0) -> float:
    """Start one sandbox (fetching Pyodide into Deno's cache on first use); returns seconds taken.

    Run it once where the npm registry is reachable (CI setup); later starts are offline.
    """
    started = time.perf_counter()
    settings = SandboxConfig(deno_dir=cache_dir, timeout_s=timeout_s)
    inner = _make_inner(settings, {}, None)
    try:
        inner.start()
        out = inner.execute("print(6 * 7)")
        if str(out).strip() != "42":
            raise RuntimeError(f"sandbox answered {out!r} to a health check")
    finally:
        _quiet_shutdown(inner)
    return time.perf_counter() - started
