"""Build the pieces of a run from the composed config: sample index, palette, session, scorer,
and the driver with its ears scorer.

Shared by the single-run job and the experiments (screening, gap test) so every path reads the
config the same way. This is where the ears scorer is built and handed to the ``dj`` layer
(:func:`make_driver`), which knows no scorers of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.audio.grid import Grid
from rlmdj.audio.palette import Palette, find_palette, random_palette, validate_palette
from rlmdj.audio.samples import SampleIndex, build_index
from rlmdj.dj.drivers.base import Driver
from rlmdj.dj.drivers.registry import build_driver
from rlmdj.dj.ears.settings import ears_settings
from rlmdj.dj.session import Session
from rlmdj.errors import ParameterError
from rlmdj.resources import bundled_dir
from rlmdj.scoring.base import Scorer
from rlmdj.seeding import seed_for

__all__ = [
    "build_scorer",
    "ears_scorer",
    "load_index",
    "make_driver",
    "make_grid",
    "make_session",
    "palette_search_dirs",
    "resolve_palette",
]

_INDEX_CACHE: dict[tuple, SampleIndex] = {}


def make_grid(cfg: DictConfig) -> Grid:
    return Grid(bpm=float(cfg.bpm), sr=int(cfg.render.sample_rate))


def load_index(cfg: DictConfig, *, progress: bool = False) -> SampleIndex:
    """The sample index for ``cfg.samples`` (kept per process: sweeps reuse it)."""
    s = cfg.samples
    key = (bool(s.builtin), int(s.pack_seed), int(s.variants_per_role), str(s.cache_dir),
           tuple(str(p) for p in s.paths))
    if key not in _INDEX_CACHE:
        index = build_index(
            builtin=bool(s.builtin),
            pack_seed=int(s.pack_seed),
            variants_per_role=int(s.variants_per_role),
            cache_dir=str(s.cache_dir),
            paths=[str(p) for p in s.paths],
            progress=progress,
        )
        _INDEX_CACHE[key] = index
    return _INDEX_CACHE[key]


def palette_search_dirs(cfg: DictConfig) -> list[Path]:
    dirs = [Path(str(cfg.paths.palettes_dir))]
    bundled = bundled_dir("palettes")
    if bundled is not None and bundled.resolve() not in {d.resolve() for d in dirs}:
        dirs.append(bundled)
    return dirs


def resolve_palette(cfg: DictConfig, index: SampleIndex) -> Palette:
    """The palette named by ``cfg.palette``: drawn (seeded by replica) or loaded and validated."""
    p = cfg.palette
    source = str(p.source)
    if source == "random":
        seed = seed_for(int(cfg.replica), "palette")
        return random_palette(index, roles=list(p.roles), seed=seed,
                              name=f"random-r{int(cfg.replica)}")
    if source == "file":
        path = Path(str(p.path)) if p.path else find_palette(str(p.name), palette_search_dirs(cfg))
        palette = Palette.load(path)
        validate_palette(palette, index)
        return palette
    raise ParameterError(f"palette.source must be 'random' or 'file', got {source!r}")


def make_session(
    cfg: DictConfig,
    index: SampleIndex,
    palette: Palette,
    *,
    on_bars: Callable[[int, int], None] | None = None,
) -> Session:
    bars = int(cfg.bars)
    if not 1 <= bars <= 4096:
        raise ParameterError(f"bars must be between 1 and 4096, got {bars} (e.g. bars=32)")
    return Session(
        index=index,
        palette=palette,
        grid=make_grid(cfg),
        max_bars=bars,
        ramp_ms=float(cfg.render.gain_ramp_ms),
        on_bars=on_bars,
    )


def build_scorer(cfg: DictConfig) -> Scorer:
    """The scorer for ``cfg.scorer`` (see :data:`rlmdj.scoring.factory.SCORERS`)."""
    from rlmdj.scoring.factory import build_scorer as factory

    return factory(cfg.scorer)


def ears_scorer(cfg: DictConfig) -> Scorer:
    """The ears scorer: ``ears.scorer`` (a kind) over the run's ``scorer`` settings, else the run's.

    Either way the run's scorer settings and OBJ weights apply, so ears and the final score
    agree. A bad kind names ``ears.scorer``.
    """
    from rlmdj.scoring.factory import build_scorer as factory

    node: dict[str, Any] = OmegaConf.to_container(cfg.scorer, resolve=True)  # type: ignore[assignment]
    kind = ears_settings(cfg).scorer
    if not kind:
        return factory(node)
    node["name"] = str(kind)
    try:
        return factory(node)
    except ParameterError as exc:
        raise ParameterError(f"ears.scorer={kind}: {exc}") from None


def make_driver(cfg: DictConfig) -> Driver:
    """The driver ``dj.driver`` names, given :func:`ears_scorer` to build if it hears."""
    return build_driver(cfg, ear_scorer=functools.partial(ears_scorer, cfg))
