"""A rich progress bar over the bars of a set, as a session ``on_bars`` callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["bar_progress"]


@contextmanager
def bar_progress(total_bars: int, *, enabled: bool = True, label: str = "playing") -> Iterator[Callable[[int, int], None]]:
    """Yield ``on_bars(bars_played, max_bars)``; shows a live bar when ``enabled``."""
    if not enabled:
        yield lambda played, total: None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("bars"), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(label, total=total_bars)

        def on_bars(played: int, total: int) -> None:
            progress.update(task, completed=played, total=total)

        yield on_bars
