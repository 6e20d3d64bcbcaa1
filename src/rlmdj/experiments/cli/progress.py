"""Progress on every wait: live bars on a terminal, plain lines everywhere else.

- :class:`Progress` — ``label k/N`` with ETA and a note (best OBJ so far...). Live (rich) when
  enabled and stderr is a terminal; otherwise plain lines, at most one per ``every_s`` seconds
  plus the last one, so logs and CI output stay readable.
- :func:`bar_progress` — a :class:`Progress` over the bars of a set, as a session ``on_bars``.
- :func:`stage_line` — one status line for a pipeline stage (``writing audio``, ``scoring``...).
- :func:`sweep_job_done` — ``job k/N`` across the processes of a sweep; :func:`set_sweep_total`
  sets ``N`` for a sweeper that plans its jobs round by round.

``progress=false`` turns live bars into plain lines; it does not silence them.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

__all__ = ["Progress", "bar_progress", "count_jobs", "is_live", "set_sweep_total", "stage_line",
           "sweep_job_done"]


def is_live(enabled: bool, stream: TextIO | None = None) -> bool:
    """Whether to draw live bars: progress enabled and ``stream`` (stderr) a terminal."""
    stream = stream or sys.stderr
    try:
        return bool(enabled) and stream.isatty()
    except (AttributeError, ValueError):
        return False


def _eta(elapsed: float, done: int, total: int) -> str:
    if done <= 0 or total <= 0 or done >= total:
        return ""
    left = elapsed / done * (total - done)
    return f"ETA {left:.0f} s" if left < 120 else f"ETA {left / 60:.1f} min"


class Progress:
    """``label k/N`` progress; call :meth:`update` or :meth:`advance`, then :meth:`close`."""

    def __init__(self, label: str, total: int, *, unit: str = "", enabled: bool = True,
                 live: bool | None = None, stream: TextIO | None = None, every_s: float = 2.0) -> None:
        self.label, self.total, self.unit = label, int(total), unit
        self.stream = stream or sys.stderr
        self.every_s = float(every_s)
        self.done = 0
        self.note = ""
        self.started = time.perf_counter()
        self._last_line = -1.0
        self._closed = False
        self._live: Any = None
        if live if live is not None else is_live(enabled, self.stream):
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._live = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn(unit), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("{task.fields[note]}"), console=Console(file=self.stream), transient=False,
            )
            self._live.start()
            self._task = self._live.add_task(label, total=self.total, note="")

    def line(self) -> str:
        """The plain-text form: ``label k/N unit · ETA · note``."""
        parts = [f"{self.label} {self.done}/{self.total}" + (f" {self.unit}" if self.unit else "")]
        eta = _eta(time.perf_counter() - self.started, self.done, self.total)
        if eta:
            parts.append(eta)
        if self.note:
            parts.append(self.note)
        return " · ".join(parts)

    def update(self, done: int, total: int | None = None, *, note: str | None = None) -> None:
        self.done = int(done)
        if total is not None:
            self.total = int(total)
        if note is not None:
            self.note = note
        if self._live is not None:
            self._live.update(self._task, completed=self.done, total=self.total, note=self.note)
            return
        now = time.perf_counter()
        finished = self.done >= self.total
        if finished or now - self._last_line >= self.every_s or self._last_line < 0:
            if finished and self._closed:
                return
            print(self.line(), file=self.stream, flush=True)
            self._last_line = now
            self._closed = finished

    def advance(self, n: int = 1, *, note: str | None = None) -> None:
        self.update(self.done + n, note=note)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif not self._closed and self.done > 0 and self.done < self.total:
            print(self.line(), file=self.stream, flush=True)  # where an interrupted wait stopped
        self._closed = True

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def bar_progress(total_bars: int, *, enabled: bool = True, label: str = "playing",
                 quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """Yield ``on_bars(bars_played, max_bars)`` reporting the set's bars (``quiet``: nothing)."""
    if quiet:
        yield lambda played, total: None
        return
    with Progress(label, total_bars, unit="bars", enabled=enabled) as progress:
        yield lambda played, total: progress.update(played, total)


def stage_line(text: str, *, quiet: bool = False, stream: TextIO | None = None) -> None:
    """One status line for a stage of the pipeline (plain, so it reads the same in logs)."""
    if not quiet:
        print(f"rlmdj: {text}", file=stream or sys.stderr, flush=True)


_DONE_FILE = ".rlmdj_jobs_done"
_SWEEP_FILE = ".rlmdj_sweep.json"  # rlmdj.experiments.sweep.context.SWEEP_FILE, written when the sweep starts


def sweep_job_done(sweep_dir: str | Path | None = None) -> tuple[int, int | None] | None:
    """Count this job as finished in its sweep; ``(k, N)`` with ``N`` from the sweep file.

    Jobs of one sweep may run in several processes (joblib, submitit): they share the sweep
    folder, so the count lives there, under a file lock. ``None`` outside a multirun.
    """
    if sweep_dir is None:
        try:
            from hydra.core.hydra_config import HydraConfig
            from hydra.types import RunMode

            hc = HydraConfig.get()
            if hc.mode != RunMode.MULTIRUN:
                return None
            sweep_dir = Path(str(hc.sweep.dir)).resolve()
        except Exception:  # noqa: BLE001 - not inside a Hydra job
            return None
    import json

    from filelock import FileLock

    folder = Path(sweep_dir)
    done_file = folder / _DONE_FILE
    with FileLock(str(done_file) + ".lock", timeout=30):
        k = (int(done_file.read_text() or 0) if done_file.is_file() else 0) + 1
        done_file.write_text(str(k))
    total = None
    with contextlib.suppress(OSError, ValueError):
        total = json.loads((folder / _SWEEP_FILE).read_text()).get("n_jobs")
    return k, int(total) if total else None


def set_sweep_total(sweep_dir: str | Path, total: int) -> None:
    """Make ``N`` of the sweep's ``job k/N`` lines ``total`` jobs.

    The sequential sweeper knows only the jobs of the rounds it has launched (it stops when the
    answer is clear), so it sets the jobs through the round it is about to launch. No sweep file
    (tracking off): the jobs print ``job k``.
    """
    import json
    import os

    path = Path(sweep_dir) / _SWEEP_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    info["n_jobs"] = int(total)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)  # jobs in other processes never read half a file


def count_jobs(overrides: list[str]) -> int | None:
    """How many jobs the basic sweeper makes of ``overrides`` (product of the sweeps' sizes)."""
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides(list(overrides))
        total = 1
        for o in parsed:
            if o.is_sweep_override():
                total *= len(list(o.sweep_string_iterator()))
        return total
    except Exception:  # noqa: BLE001 - a sweeper with its own search space: count unknown
        return None
