"""``rlmdj experiment=samples``: list what a palette can name — indexed samples and palettes.

A palette refers to samples by id (``kick-03``, ``user:bassline-bass-loop-124bpm-1a2b3c``), and
user ids carry a content hash, so nobody can write one by hand without seeing the index. This job
builds the index exactly as a run would (same ``samples.*`` settings), then prints one table per
role (id, kind, bars, bpm, duration, character, source), the files that were skipped and why,
and the palettes ``palette=<name>`` accepts. It plays nothing and logs no MLflow run.

:func:`samples_report` renders the same listing to a string for tests and scripts.
"""

from __future__ import annotations

import io
from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from rlmdj.audio.palette import list_palettes
from rlmdj.audio.samples import ALL_ROLES, SampleIndex, required_kind

__all__ = ["check", "print_samples", "samples_job", "samples_report"]


def _role_table(index: SampleIndex, role: str) -> Table:
    ids = index.ids(role=role)
    playable = len(index.ids(role=role, kind=required_kind(role)))
    table = Table(
        title=f"{role} — {len(ids)} sample(s), {playable} usable as {required_kind(role)}",
        title_justify="left",
    )
    for column, justify in (("id", "left"), ("kind", "left"), ("bars", "right"),
                            ("bpm", "right"), ("duration", "right"), ("character", "left"),
                            ("source", "left")):
        table.add_column(column, justify=justify, no_wrap=column in ("id", "kind"),
                         overflow="fold")
    for sid in ids:
        s = index.get(sid)
        table.add_row(
            s.id,
            s.kind,
            "" if s.bars is None else str(s.bars),
            "" if s.bpm is None else f"{s.bpm:g}",
            f"{s.duration_s:.2f} s",
            s.character,
            s.source if s.source != "user" else f"user ({Path(s.path).name})",
        )
    return table


def print_samples(
    index: SampleIndex, palettes: dict[str, Path], console: Console | None = None
) -> None:
    """Print the index grouped by role, the skipped files with reasons, and the palettes."""
    console = console or Console()
    console.print(f"[bold]{len(index)} indexed sample(s)[/bold] in roles {', '.join(index.roles())}")
    for role in ALL_ROLES:
        if index.ids(role=role):
            console.print(_role_table(index, role))
        else:
            console.print(f"[yellow]{role}: no samples[/yellow] (drop it from palette.roles or add files)")
    if index.skipped:
        table = Table(title=f"skipped — {len(index.skipped)} file(s)", title_justify="left")
        table.add_column("file", overflow="fold")
        table.add_column("reason", overflow="fold")
        for path, reason in index.skipped:
            table.add_row(path, reason)
        console.print(table)
    else:
        console.print("skipped: none")
    if palettes:
        table = Table(title=f"palettes — {len(palettes)} (use palette=<name>)", title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("file", overflow="fold")
        for name, path in palettes.items():
            table.add_row(name, str(path))
        console.print(table)
    else:
        console.print("palettes: none found (palette=random draws one)")


def samples_report(index: SampleIndex, palettes: dict[str, Path], *, width: int = 160) -> str:
    """The listing of :func:`print_samples` as plain text (no colour), ``width`` columns wide."""
    buffer = io.StringIO()
    print_samples(index, palettes, Console(width=width, file=buffer, no_color=True))
    return buffer.getvalue()


def check(cfg: DictConfig) -> None:
    """The sample folders exist, and the pack's cache folder can be written."""
    from rlmdj.errors import ParameterError
    from rlmdj.validation import folder_writable, setting

    for i, p in enumerate(setting(cfg, "samples.paths") or []):
        if not Path(str(p)).expanduser().is_dir():
            raise ParameterError(f"samples.paths[{i}]: {p} is not a folder")
    if setting(cfg, "samples.builtin"):
        folder_writable(setting(cfg, "samples.cache_dir"), "samples.cache_dir")


def samples_job(cfg: DictConfig) -> None:
    """List the indexed samples, skipped files and palettes for ``cfg``'s sample settings."""
    from rlmdj.experiments.assemble import load_index, palette_search_dirs

    index = load_index(cfg, progress=bool(cfg.progress))
    print_samples(index, list_palettes(palette_search_dirs(cfg)))
    return None
