"""``rlmdj experiment=screen_palettes``: rank random palettes with the reference arrangement.

Palette quality is the biggest lever (OBJ 5.2-7.18 across 100 random palettes in the earlier
prototype), so palettes are screened with the deterministic reference arrangement before any
DJ plays them: no LLM, no DJ variance, only the samples. Draws are role-correct (loops for loop
roles, one-shots for drums) because the sample index and :func:`random_palette` enforce it.

One MLflow run holds the screening: the ranked table (``screening/ranked.csv``), the score
distribution as metrics, and the top K palettes, which are also written as *new* files under
``palettes/curated/`` (numbered after the highest existing one; an existing file is never
replaced) with the screening run id, rank and scores in their ``meta``.

Repeated screenings find new palettes: without ``experiment.screen.seed`` the draw continues
after the highest seed recorded in the curated files, and a palette whose samples are already
curated is not saved twice (the table and ``ranked.csv`` name the file that holds it).

Screening uses several processes when ``experiment.screen.workers`` > 1 (0 = one per core).
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.config.experiment import ScreenConfig

__all__ = [
    "ScreenRow",
    "screen_palettes",
    "score_palettes",
    "save_curated",
    "curated_samples",
    "next_seed",
    "write_ranked_csv",
    "screen_job",
]


@dataclass(frozen=True)
class ScreenRow:
    """One screened palette; ``rank`` is 1 for the best OBJ; ``curated`` names its curated file."""

    rank: int
    name: str
    index: int
    obj: float
    scores: dict[str, float]
    samples: dict[str, str]
    curated: str = ""


_WORKER: dict[str, Any] = {}


def setup_worker(cfg_yaml: str) -> None:
    """A worker process's config, sample index and scorer (the pool's initializer); the palette
    search's workers are set up the same way."""
    from rlmdj.config import register_resolvers
    from rlmdj.experiments.assemble import build_scorer, load_index

    register_resolvers()
    cfg = OmegaConf.create(cfg_yaml)
    _WORKER.update(cfg=cfg, index=load_index(cfg), scorer=build_scorer(cfg))


def render_palette(palette: Any) -> Any:
    """``palette`` played by the reference DJ in a worker set up by :func:`setup_worker`: the
    peak-normalised master of ``bars`` bars."""
    from rlmdj.audio.wavio import normalize_peak
    from rlmdj.dj.drivers.reference import ReferenceDriver
    from rlmdj.experiments.assemble import make_session

    cfg, index = _WORKER["cfg"], _WORKER["index"]
    session = make_session(cfg, index, palette)
    ReferenceDriver().perform(session)
    return normalize_peak(session.audio(), target_dbfs=cfg.render.normalize_dbfs)


def worker_score(master: Any) -> Any:
    """The worker's scorer on a rendered master."""
    return _WORKER["scorer"].score(master, sr=int(_WORKER["cfg"].render.sample_rate))


def _render_one(i: int) -> tuple[int, str, Any, dict[str, str]]:
    """Palette ``i`` played by the reference DJ: (i, name, peak-normalised master, samples)."""
    from rlmdj.audio.palette import random_palette
    from rlmdj.seeding import seed_for

    cfg, index = _WORKER["cfg"], _WORKER["index"]
    seed = int(cfg.experiment.screen.seed)
    palette = random_palette(index, roles=list(cfg.palette.roles), seed=seed_for(i, f"screen:{seed}"),
                             name=f"screen-s{seed}-{i:04d}")
    return i, palette.name, render_palette(palette), dict(palette.samples)


def _score_one(i: int) -> tuple[int, str, float, dict[str, float], dict[str, str]]:
    _, name, master, samples = _render_one(i)
    result = worker_score(master)
    return i, name, result.obj, dict(result.scores), samples


def score_in_batches(cfg: DictConfig, renders: Any, done: Any, scorer: Any = None, failed: Any = None) -> None:
    """Score rendered palettes ``scorer.max_batch_sets`` per ``POST /score_batch`` (scorer=http
    or modal): a GPU server scores the windows of many sets per forward pass. A palette the
    server refuses is reported and left out (or handed to ``failed(i, name, error)``); the
    others are ranked."""
    from rlmdj.experiments.assemble import build_scorer
    from rlmdj.scoring.base import BatchScorer

    scorer = scorer if scorer is not None else build_scorer(cfg)
    size = max(1, int(cfg.scorer.max_batch_sets))
    sr = int(cfg.render.sample_rate)
    pending: list[tuple[int, str, Any, dict[str, str]]] = []

    def flush() -> None:
        items = [(master, sr) for _, _, master, _ in pending]
        outcomes = (scorer.score_batch_outcomes(items) if isinstance(scorer, BatchScorer)
                    else [scorer.score(m, sr=s) for m, s in items])
        for (i, name, _, samples), outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, Exception):
                if failed is not None:
                    failed(i, name, outcome)
                else:
                    print(f"rlmdj: screening: palette {name} not scored: {outcome}", file=sys.stderr)
                continue
            done((i, name, outcome.obj, dict(outcome.scores), samples))
        pending.clear()

    for render in renders:
        pending.append(render)
        if len(pending) >= size:
            flush()
    if pending:
        flush()


def score_palettes(cfg: DictConfig, *, n: int, workers: int = 1, seed: int | None = None,
                   progress: Any = None) -> list[ScreenRow]:
    """Render and score ``n`` seeded random palettes; rows ranked best first.

    ``seed`` picks the draw (default ``experiment.screen.seed``, or 0 when that is unset).
    ``progress``: a :class:`~rlmdj.experiments.cli.progress.Progress` told of each palette scored
    (palettes k/N, ETA, best OBJ so far).
    """
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain["bars"] = int(cfg.experiment.screen.bars)  # type: ignore[index]
    if seed is None:
        seed = int(OmegaConf.select(cfg, "experiment.screen.seed") or 0)
    plain["experiment"]["screen"]["seed"] = int(seed)  # type: ignore[index]
    cfg_yaml = OmegaConf.to_yaml(OmegaConf.create(plain))
    workers = workers if workers > 0 else (os.cpu_count() or 1)
    workers = max(1, min(workers, n))
    raw = []

    def done(row: tuple[int, str, float, dict[str, float], dict[str, str]]) -> None:
        raw.append(row)
        if progress is not None:
            best = max(raw, key=lambda r: r[2])
            progress.update(len(raw), note=f"best OBJ {best[2]:.3f} ({best[1]})")

    if str(cfg.scorer.name) in ("http", "modal"):
        # Render here or in the pool, score in batches from this process.
        if workers == 1:
            setup_worker(cfg_yaml)
            score_in_batches(_WORKER["cfg"], (_render_one(i) for i in range(n)), done, _WORKER["scorer"])
        else:
            with ProcessPoolExecutor(workers, initializer=setup_worker, initargs=(cfg_yaml,)) as pool:
                score_in_batches(OmegaConf.create(cfg_yaml), pool.map(_render_one, range(n)), done)
    elif workers == 1:
        setup_worker(cfg_yaml)
        for i in range(n):
            done(_score_one(i))
    else:
        with ProcessPoolExecutor(workers, initializer=setup_worker, initargs=(cfg_yaml,)) as pool:
            for row in pool.map(_score_one, range(n), chunksize=max(1, min(4, n // (4 * workers)))):
                done(row)
    raw.sort(key=lambda r: (-r[2], r[0]))
    return [ScreenRow(rank=k + 1, name=name, index=i, obj=obj, scores=scores, samples=samples)
            for k, (i, name, obj, scores, samples) in enumerate(raw)]


def write_ranked_csv(rows: Sequence[ScreenRow], path: str | Path) -> Path:
    """rank, palette, OBJ, CE, CU, PC, PQ, then one column per role's sample."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = list(rows[0].scores) if rows else []
    roles = list(rows[0].samples) if rows else []
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["rank", "palette", "OBJ", *axes, "curated", *roles])
        for r in rows:
            w.writerow([r.rank, r.name, f"{r.obj:.4f}", *[f"{r.scores[a]:.4f}" for a in axes], r.curated,
                        *[r.samples.get(role, "") for role in roles]])
    return path


_SCREENED_AS = re.compile(r"^screen-s(\d+)-\d+$")


def _curated_files(folder: Path) -> list[tuple[Path, dict]]:
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not a palette file; screening only reads what it can
        if isinstance(data, dict) and isinstance(data.get("samples"), dict):
            out.append((path, data))
    return out


def curated_samples(folder: str | Path) -> dict[tuple[tuple[str, str], ...], str]:
    """Sample choices already curated in ``folder`` → the file stem that holds them."""
    found: dict[tuple[tuple[str, str], ...], str] = {}
    for path, data in _curated_files(Path(folder)):
        found.setdefault(tuple(sorted(data["samples"].items())), path.stem)
    return found


def next_seed(folder: str | Path) -> int:
    """One past the highest screening seed recorded in ``folder``'s files (0 if none)."""
    seeds = []
    for _, data in _curated_files(Path(folder)):
        meta = data.get("meta") or {}
        m = _SCREENED_AS.match(str(meta.get("screened_as", "")))
        if m:
            seeds.append(int(m.group(1)))
    return max(seeds, default=-1) + 1


def save_curated(rows: Sequence[ScreenRow], folder: str | Path, *, prefix: str = ScreenConfig.prefix,
                 run_id: str | None = None, scorer: str = "", bars: int = ScreenConfig.bars,
                 provenance: Any = None) -> list[Path]:
    """Write each row as ``<prefix>_NNN.json`` numbered after the highest existing file.

    ``meta`` records where the palette came from: the screening run, its draw and rank, or what
    ``provenance(row)`` returns instead (the palette search's study and trial); then the OBJ,
    scores, scorer and length it was judged on.

    Files are created exclusively (``open(..., "x")`` inside :meth:`Palette.save`): a name that
    appears meanwhile is skipped to the next number, never overwritten.
    """
    from rlmdj.audio.palette import Palette
    from rlmdj.errors import ParameterError

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)\.json$")
    taken = [int(m.group(1)) for p in folder.iterdir() if (m := pattern.match(p.name))]
    number = max(taken, default=0) + 1
    saved = []
    for row in rows:
        while True:
            name = f"{prefix}_{number:03d}"
            origin = provenance(row) if provenance is not None else {
                "screening_run_id": run_id, "screened_as": row.name, "rank": row.rank}
            palette = Palette(name=name, samples=row.samples, meta={
                **origin, "OBJ": row.obj, "scores": row.scores, "scorer": scorer, "bars": bars,
                "arrangement": "reference", "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            })
            number += 1
            try:
                saved.append(palette.save(folder / f"{name}.json"))
                break
            except ParameterError:
                continue
    return saved


def screen_palettes(cfg: DictConfig) -> tuple[list[ScreenRow], list[Path], str | None]:
    """The whole experiment: score, rank, log to one MLflow run, save the top K as curated files.

    Of the top K, palettes whose samples are already curated are not saved again; every row's
    ``curated`` names its file (new or existing).
    """
    from rlmdj.experiments.cli.progress import Progress
    from rlmdj.experiments.jobs.run import _open_run
    from rlmdj.tracking import config_hash
    from rlmdj.tracking.params import run_params
    from rlmdj.tracking.record.naming import screen_run_name
    from rlmdj.tracking.versions import code_tags

    s = cfg.experiment.screen
    out_dir = Path(str(cfg.paths.output_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(str(s.curated_dir))
    seed = int(s.seed) if s.seed is not None else next_seed(folder)
    params, path_tags = run_params(cfg, job="screen_palettes")
    run = _open_run(cfg, None, {"rlmdj.experiment": "screen_palettes", "rlmdj.config_hash": config_hash(cfg),
                                **code_tags(), **path_tags},
                    run_name=screen_run_name(cfg), keep_dir=out_dir)
    with run:
        run.log_params({**params, "experiment.screen.seed_used": seed})
        run.flush(artifacts=False)
        t0 = time.perf_counter()
        with Progress("screening palettes", int(s.n), enabled=bool(cfg.progress)) as progress:
            rows = score_palettes(cfg, n=int(s.n), workers=int(s.workers), seed=seed, progress=progress)
        elapsed = time.perf_counter() - t0
        _log_candidates(cfg, run, seed, rows)
        existing = curated_samples(folder)
        top = rows[: int(s.top_k)]
        new = [r for r in top if tuple(sorted(r.samples.items())) not in existing]
        saved = save_curated(new, folder, prefix=str(s.prefix), run_id=run.run_id,
                             scorer=str(cfg.scorer.name), bars=int(s.bars))
        names = {r.index: p.stem for r, p in zip(new, saved, strict=True)}
        names.update({r.index: f"= {existing[key]}" for r in top
                      if (key := tuple(sorted(r.samples.items()))) in existing})
        rows = [replace(r, curated=names.get(r.index, "")) for r in rows]
        write_ranked_csv(rows, run.artifact_path("screening/ranked.csv"))
        objs = sorted(r.obj for r in rows)
        run.log_metrics({"screen/n": float(len(rows)), "screen/best_OBJ": objs[-1], "screen/worst_OBJ": objs[0],
                         "screen/median_OBJ": objs[len(objs) // 2], "time/screen_s": elapsed})
        run.log_series("screen/ranked_OBJ", [r.obj for r in rows])
        for path in saved:
            run.log_artifact(path, "screening/curated")
        run.set_tags({"rlmdj.curated": ",".join(p.stem for p in saved)})
        best = rows[0] if rows else None
        if best is not None:
            run.set_description(
                f"Screened {len(rows)} random palettes with the reference arrangement "
                f"({s.bars} bars, {cfg.scorer.name} scorer). Best: **{best.name}** OBJ "
                f"{best.obj:.3f}; median {objs[len(objs) // 2]:.3f}. Saved: "
                f"{', '.join(p.stem for p in saved) or 'none new'}. Table: `screening/ranked.csv`.")
    return rows, saved, run.run_id


def _log_candidates(cfg: DictConfig, run: Any, seed: int, rows: Sequence[ScreenRow]) -> None:
    """The drawn palettes (and the sample pack) as the screening run's input datasets."""
    if run.run_id is None:
        return
    from rlmdj.experiments.assemble import load_index
    from rlmdj.tracking.datasets import log_screen_inputs

    try:
        ordered = sorted(rows, key=lambda r: r.index)
        log_screen_inputs(run, seed=seed, candidates=[{"palette": r.name, **r.samples} for r in ordered],
                          index=load_index(cfg), samples=cfg.samples)
    except Exception as exc:  # noqa: BLE001 - lineage is a view; the ranking is logged anyway
        run.set_tags({"rlmdj.inputs_error": repr(exc)[:500]})


def screen_job(cfg: DictConfig) -> float | None:
    """Screen palettes, print the top of the ranking, return the best OBJ."""
    from rich.console import Console
    from rich.table import Table

    rows, saved, run_id = screen_palettes(cfg)
    table = Table(title=f"Palette screening: top {min(len(rows), 15)} of {len(rows)} ({cfg.scorer.name} scorer)")
    for h in ("rank", "palette", "OBJ", *rows[0].scores, "curated as"):
        table.add_column(h, justify="left" if h in ("palette", "curated as") else "right")
    for r in rows[:15]:
        table.add_row(str(r.rank), r.name, f"{r.obj:.3f}", *[f"{v:.3f}" for v in r.scores.values()], r.curated)
    console = Console()
    console.print(table)
    folder = Path(str(cfg.experiment.screen.curated_dir))
    if saved:
        console.print(f"saved {len(saved)} new palette file(s) in {folder}: {', '.join(p.stem for p in saved)} "
                      f"(use as palette={saved[0].stem})")
    dupes = sum(1 for r in rows if r.curated.startswith("="))
    if dupes:
        console.print(f"{dupes} of the top {cfg.experiment.screen.top_k} are already curated (= file); "
                      "set experiment.screen.seed to screen other palettes")
    if run_id:
        console.print(f"screening run: {run_id} (ranked table: screening/ranked.csv)")
    return rows[0].obj if rows else None
