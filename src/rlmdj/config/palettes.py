"""Palette files as options of the ``palette`` config group.

Every ``*.json`` under ``palettes/`` of the launch directory and of the shipped palettes (and
their ``curated/`` folders) becomes ``palette=<file stem>``, registered in Hydra's ConfigStore
by :func:`~rlmdj.config.root.register_configs` with the rest of the schema. So the compose API
(tests, notebooks) sees the same choices as the ``rlmdj`` command: after ``register_configs()``,
``hydra.compose(config_name="config", overrides=["experiment=ab"])`` finds ``palette/example``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hydra.core.config_store import ConfigStore

from rlmdj.config.core import PaletteConfig
from rlmdj.resources import bundled_dir

__all__ = ["default_palette_dirs", "register_palette_files"]


def default_palette_dirs(cwd: Path | None = None) -> list[Path]:
    """``<cwd>/palettes``, then the shipped palettes (when they are another folder)."""
    dirs = [(cwd or Path.cwd()) / "palettes"]
    bundled = bundled_dir("palettes")
    if bundled is not None and bundled.resolve() != dirs[0].resolve():
        dirs.append(bundled)
    return dirs


def register_palette_files(search_dirs: Iterable[Path]) -> list[str]:
    """Register every ``*.json`` palette in ``search_dirs`` (and ``curated/``) as a group option.

    The first file of a name wins (the launch directory's over the shipped one); ``random`` is
    the drawn palette's own option and is never shadowed. Returns the names registered.
    """
    names: list[str] = []
    store = ConfigStore.instance()
    for directory in search_dirs:
        for sub in (directory, directory / "curated"):
            if not sub.is_dir():
                continue
            for path in sorted(sub.glob("*.json")):
                if path.stem in names or path.stem == "random":
                    continue
                node = PaletteConfig(source="file", name=path.stem, path=str(path.resolve()))
                store.store(group="palette", name=path.stem, node=node)
                names.append(path.stem)
    return names
