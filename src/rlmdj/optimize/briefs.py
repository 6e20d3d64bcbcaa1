"""Briefs: what a candidate prompt is played on, and the three sets they are drawn into.

A brief is a palette, a set length (bars) and a seed. Train briefs feed GEPA's reflection,
validation briefs its candidate pool and the final choice, held-out briefs only the closing
confirmation; no palette is in two sets, so a prompt that learned a palette's quirks cannot
look good on the set judging it. The palettes are ``experiment.optimize.palettes`` (names or
files), else the curated ones (``experiment.screen.curated_dir``), else a fresh screening whose
best palettes are saved in the study's state (so a resumed study plays the same ones).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlmdj.config.optimize import OptimizeConfig
from rlmdj.errors import ParameterError

__all__ = ["Brief", "Splits", "brief_overrides", "deal_seed", "draw_briefs", "needed_palettes", "palette_files", "screen_palette_files"]

_KEY = "experiment.optimize"


@dataclass(frozen=True)
class Brief:
    """One set to play: ``palette`` (its name), ``path`` (its file), ``bars`` and ``seed``."""

    palette: str
    path: str
    bars: int
    seed: int

    @property
    def id(self) -> str:
        """Stable, readable key of the brief (cache keys, tags, the reflection's examples)."""
        return f"{self.palette}/{self.bars}b/s{self.seed}"


@dataclass(frozen=True)
class Splits:
    """Train, validation and held-out briefs (disjoint palettes)."""

    train: tuple[Brief, ...]
    val: tuple[Brief, ...]
    heldout: tuple[Brief, ...]

    def to_json(self) -> str:
        return json.dumps({k: [asdict(b) for b in getattr(self, k)] for k in ("train", "val", "heldout")},
                          indent=1)

    @classmethod
    def from_json(cls, text: str) -> Splits:
        data = json.loads(text)
        return cls(*(tuple(Brief(**b) for b in data[k]) for k in ("train", "val", "heldout")))


def deal_seed(s: OptimizeConfig) -> int:
    """``seed``, or (null) one derived from the study's purpose: the same deal every time."""
    from rlmdj.seeding import seed_for

    return int(s.seed) if s.seed is not None else seed_for(0, "optimize_prompt")


def needed_palettes(s: OptimizeConfig) -> int:
    """Palettes the three sets take (one brief per palette)."""
    return s.n_train + s.n_val + s.n_heldout


def palette_files(cfg: DictConfig, s: OptimizeConfig) -> list[Path]:
    """The palette files the briefs are drawn from: ``palettes``, else the curated ones (may be
    empty: the caller screens). A named palette that is not found is a ParameterError."""
    from rlmdj.audio.palette import find_palette
    from rlmdj.experiments.assemble import palette_search_dirs

    if s.palettes:
        dirs = palette_search_dirs(cfg)
        files: list[Path] = []
        for name in s.palettes:
            try:
                files.append(find_palette(str(name), dirs).resolve())
            except ParameterError as exc:
                raise ParameterError(f"{_KEY}.palettes: {exc}") from None
        if len({f for f in files}) != len(files):
            raise ParameterError(f"{_KEY}.palettes names a palette twice; each palette is one brief")
        return files
    curated = Path(str(cfg.experiment.screen.curated_dir))
    return sorted(p.resolve() for p in curated.glob("*.json")) if curated.is_dir() else []


def screen_palette_files(cfg: DictConfig, s: OptimizeConfig, folder: Path) -> list[Path]:
    """A fresh screening (``experiment.screen.n`` palettes, reference DJ): the best
    :func:`needed_palettes` saved under ``folder``; reused when ``folder`` already holds them."""
    from rlmdj.audio.palette import Palette
    from rlmdj.experiments.jobs.screen import score_palettes

    existing = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if existing:
        return [p.resolve() for p in existing]
    need = needed_palettes(s)
    rows = score_palettes(cfg, n=max(need, int(cfg.experiment.screen.n)), workers=1, seed=deal_seed(s))
    folder.mkdir(parents=True, exist_ok=True)
    return [Palette(name=f"opt_screen_{r.index:03d}", samples=dict(r.samples),
                    meta={"screen_obj": r.obj, "screen_rank": r.rank}).save(folder).resolve()
            for r in rows[:need]]


def draw_briefs(files: list[Path], s: OptimizeConfig) -> Splits:
    """Shuffle the palettes with ``seed`` and deal them into the three sets, one brief each."""
    need = needed_palettes(s)
    if len(files) < need:
        raise ParameterError(f"{_KEY}.palettes: {len(files)} palettes, the three sets need {need} "
                             f"(n_train={s.n_train} + n_val={s.n_val} + n_heldout={s.n_heldout}); "
                             "name more palettes or lower the set sizes")
    order = sorted(files, key=lambda p: p.stem)
    random.Random(deal_seed(s)).shuffle(order)
    briefs = [_brief(p, s) for p in order[:need]]
    a, b = s.n_train, s.n_train + s.n_val
    return Splits(tuple(briefs[:a]), tuple(briefs[a:b]), tuple(briefs[b:]))


def _brief(path: Path, s: OptimizeConfig) -> Brief:
    from rlmdj.seeding import seed_for

    return Brief(palette=path.stem, path=str(path), bars=s.bars, seed=seed_for(deal_seed(s), f"brief:{path.stem}"))


def brief_overrides(brief: Brief, replica: int) -> dict[str, Any]:
    """The config values a brief's replica is played with (palette file, bars, replica)."""
    from rlmdj.seeding import seed_for

    return {"palette": {"source": "file", "name": brief.palette, "path": brief.path},
            "bars": brief.bars, "replica": seed_for(brief.seed, f"replica:{replica}") % 1_000_000}
