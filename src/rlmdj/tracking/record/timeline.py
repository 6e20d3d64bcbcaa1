"""The arrangement as data and as a picture: roles x bars, gain as intensity."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["arrangement_matrix", "keep_layout", "plot_timeline", "timeline_figure"]

# The figure's margins (inches): a role name at the ticks' font size, the colorbar and its
# label, the bar axis and its label, the title.
_CHAR_IN, _LABEL_PAD_IN = 0.085, 0.25
_COLORBAR_IN, _XLABEL_IN, _TITLE_IN = 0.75, 0.55, 0.32
_DPI = 110


def arrangement_matrix(
    history: Sequence[Mapping[str, Any]], roles: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """``(roles, gains)`` with ``gains[r, b]`` the audible gain of role r on bar b (0 if silent)."""
    if roles is None:
        seen: dict[str, None] = {}
        for bar in history:
            for role in bar["layers"]:
                seen.setdefault(role, None)
        roles = list(seen)
    matrix = np.zeros((len(roles), len(history)), dtype=np.float32)
    for b, bar in enumerate(history):
        for r, role in enumerate(roles):
            layer = bar["layers"].get(role)
            if layer and not layer.get("muted"):
                matrix[r, b] = float(layer.get("gain", 0.0))
    return list(roles), matrix


def plot_timeline(
    history: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    roles: Sequence[str] | None = None,
    title: str = "",
    seconds_per_bar: float | None = None,
) -> Path:
    """Write the roles x bars timeline PNG to ``path`` (see :func:`timeline_figure`).

    The figure drawn last is kept and redrawn with the next set's gains, patterns and title when
    its roles and length are the same (every job of a sweep's worker): a fresh figure builds its
    ticks, labels and fonts again, about half of the plot's time. The picture is the same either way.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    names, matrix = arrangement_matrix(history, roles)
    with _layout_for(names, matrix.shape[1]) as layout:
        _annotated(layout, history, matrix, title, seconds_per_bar).savefig(out, dpi=_DPI)
    return out


def keep_layout(roles: Sequence[str], bars: int) -> None:
    """Build the figure for sets of ``roles`` x ``bars`` and draw it once, blank, then keep it.

    A sweep's worker calls this while it waits for its first job: the first picture of a process
    imports the figure classes and loads the fonts (about half a second), and the figure kept
    here is the one that job then redraws.
    """
    names = list(roles)
    with _layout_for(names, bars) as layout:
        blank = np.zeros((len(names), bars), dtype=np.float32)
        _annotated(layout, [], blank, "", None).savefig(io.BytesIO(), dpi=_DPI)


def timeline_figure(
    history: Sequence[Mapping[str, Any]],
    *,
    roles: Sequence[str] | None = None,
    title: str = "",
    seconds_per_bar: float | None = None,
) -> Any:
    """The roles x bars timeline as a matplotlib ``Figure``; annotates patterns where they change.

    Draws on a bare ``Figure`` with the Agg canvas: no pyplot (its figure manager and backend
    switching), nothing global changed, safe in threads.
    """
    names, matrix = arrangement_matrix(history, roles)
    return _annotated(_Layout.build(names, matrix.shape[1]), history, matrix, title, seconds_per_bar)


class _Layout:
    """What a timeline's picture keeps from one set to the next of the same roles and length:
    the figure, its margins, axes, colorbar and role names."""

    def __init__(self, fig: Any, ax: Any, image: Any, names: list[str]) -> None:
        self.fig, self.ax, self.image, self.names = fig, ax, image, names

    @classmethod
    def build(cls, names: list[str], bars: int) -> _Layout:
        from rlmdj.tracking.heap import collector_paused

        with collector_paused("matplotlib"):
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

        n_bars = max(bars, 1)
        # Margins from what sits in them, in inches: tight_layout drew the whole figure once more
        # to measure them (a third of the plot's time, per run of a sweep). Long role names widen
        # the figure rather than squeeze the plot.
        left = _LABEL_PAD_IN + _CHAR_IN * max((len(n) for n in names), default=1)
        width = min(18, 4 + n_bars * 0.18) + max(0.0, left - 1.0)
        height = 1.2 + 0.45 * max(len(names), 1)
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        fig.subplots_adjust(left=left / width, right=1 - _COLORBAR_IN / width,
                            bottom=_XLABEL_IN / height, top=1 - _TITLE_IN / height)
        image = ax.imshow(np.zeros((max(len(names), 1), n_bars)), aspect="auto", cmap="magma",
                          vmin=0.0, vmax=1.0, interpolation="nearest",
                          extent=(0.5, n_bars + 0.5, len(names) - 0.5, -0.5))
        fig.colorbar(image, ax=ax, label="gain", fraction=0.025, pad=0.01)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("bar")
        return cls(fig, ax, image, names)


def _annotated(layout: _Layout, history: Sequence[Mapping[str, Any]], matrix: np.ndarray, title: str,
               seconds_per_bar: float | None) -> Any:
    """``layout``'s figure showing this set: its gains, its patterns where they change, its title."""
    ax = layout.ax
    for text in list(ax.texts):  # the previous set's patterns
        text.remove()
    layout.image.set_data(matrix if matrix.size else np.zeros((1, 1)))
    for r, role in enumerate(layout.names):
        last = None
        for b, bar in enumerate(history):
            layer = bar["layers"].get(role)
            pattern = layer.get("pattern") if layer else None
            if layer and pattern and pattern != last:
                ax.text(b + 1, r, pattern, fontsize=6, color="cyan", va="center", ha="left",
                        clip_on=True)  # a name near the last bar stops at the plot's edge
            last = pattern if layer else None
    n_bars = max(matrix.shape[1], 1)
    if seconds_per_bar:
        title = f"{title}  ({n_bars} bars, {n_bars * seconds_per_bar:.0f} s)".strip()
    ax.set_title(title or "arrangement", fontsize=9)
    return layout.fig


# The figure drawn last, by (roles, bars): one at a time, so a worker's memory stays flat.
_KEPT: dict[tuple[tuple[str, ...], int], _Layout] = {}
_KEPT_LOCK = threading.Lock()


@contextmanager
def _layout_for(names: list[str], bars: int) -> Iterator[_Layout]:
    """The kept layout for ``names`` x ``bars`` (built and kept if it is another), held until the
    block ends; a fresh one while another thread draws the kept one."""
    if not _KEPT_LOCK.acquire(blocking=False):
        yield _Layout.build(names, bars)
        return
    try:
        key = (tuple(names), bars)
        if key not in _KEPT:
            _KEPT.clear()
            _KEPT[key] = _Layout.build(names, bars)
        yield _KEPT[key]
    finally:
        _KEPT_LOCK.release()
