"""What a palette search leaves behind: the curated files, the parent run's record, the child
runs of the top palettes and the table on the terminal (:mod:`~rlmdj.experiments.jobs.search.palette_search`).

The top K are the K best *distinct* palettes (a sampler may ask one palette twice). Each is saved
as screening saves its palettes (:func:`~rlmdj.experiments.jobs.screen.save_curated`: a new
numbered file, never an existing one replaced, a palette already curated not saved twice), with
the study, trial, rank, sampler and storage as its provenance, and played again by the reference
DJ as a child run of the search, with its audio, scores and run card.
"""

from __future__ import annotations

import copy
import statistics
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from rlmdj.config.experiment import SearchConfig
from rlmdj.search.palettes import TrialRow, trial_name

__all__ = ["child_config", "distinct_top", "log_search", "play_top", "print_search", "save_top"]


def distinct_top(rows: list[TrialRow], k: int) -> list[TrialRow]:
    """The ``k`` best trials whose palettes differ (rows ranked best first)."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    top = []
    for row in rows:
        key = tuple(sorted(row.samples.items()))
        if key not in seen:
            seen.add(key)
            top.append(row)
        if len(top) == k:
            break
    return top


def _screen_rows(rows: list[TrialRow], curated: dict[int, str]) -> list[Any]:
    from rlmdj.experiments.jobs.screen import ScreenRow

    return [ScreenRow(rank=k + 1, name=trial_name(r.number), index=r.number, obj=r.obj, scores=r.scores,
                      samples=r.samples, curated=curated.get(r.number, "")) for k, r in enumerate(rows)]


def save_top(cfg: DictConfig, s: SearchConfig, out: Any) -> None:
    """Save the top K as new curated files; ``out.curated`` names each one's file (``= x``: existing)."""
    from rlmdj.experiments.jobs.screen import curated_samples, save_curated

    folder = Path(s.curated_dir)
    existing = curated_samples(folder)
    top = _screen_rows(distinct_top(out.rows, s.top_k), {})  # ranked 1..K
    new = [r for r in top if tuple(sorted(r.samples.items())) not in existing]

    def provenance(row: Any) -> dict[str, Any]:
        return {"search_run_id": out.run_id, "study": out.name, "storage": out.storage, "trial": row.index,
                "rank": row.rank, "sampler": s.sampler}

    out.saved = save_curated(new, folder, prefix=s.prefix, run_id=out.run_id, scorer=str(cfg.scorer.name),
                             bars=s.bars, provenance=provenance)
    out.curated = {r.index: p.stem for r, p in zip(new, out.saved, strict=True)}
    out.curated.update({r.index: f"= {existing[key]}" for r in top
                        if (key := tuple(sorted(r.samples.items()))) in existing})


def log_search(cfg: DictConfig, s: SearchConfig, run: Any, out: Any, elapsed: float) -> None:
    """The parent run's record: ranked table, metrics, trial curves, study summary and plots."""
    from dataclasses import asdict

    from rlmdj.experiments.jobs.screen import write_ranked_csv
    from rlmdj.search.study import save_plots, summarise

    write_ranked_csv(_screen_rows(out.rows, out.curated), run.artifact_path("search/ranked.csv"))
    summary = summarise(out.study.study)
    metrics = {"search/n_trials": float(len(out.rows)), "search/n_failed": float(out.study.failed()),
               "search/ran": float(out.ran), "time/search_s": elapsed}
    if out.ran:
        metrics["search/s_per_trial"] = elapsed / out.ran
    objs = [r.obj for r in out.rows]
    if objs:
        metrics.update({"search/best_OBJ": objs[0], "search/median_OBJ": statistics.median(objs),
                        "search/worst_OBJ": objs[-1]})
        by_number = sorted(out.rows, key=lambda r: r.number)
        running, best = [], float("-inf")
        for r in by_number:
            best = max(best, r.obj)
            running.append(best)
        run.log_series("search/trial_OBJ", [r.obj for r in by_number], [r.number for r in by_number])
        run.log_series("search/best_OBJ_so_far", running, [r.number for r in by_number])
    run.log_metrics(metrics)
    run.log_json({**asdict(summary), "storage": out.storage, "seed": out.seed, "sampler": s.sampler,
                  "resumed": out.resumed}, "search/study.json")
    try:
        save_plots(out.study.study, run.artifact_path("search/study.json").parent)
    except Exception as exc:  # noqa: BLE001 - the plots are a view; the table and metrics are logged
        run.set_tags({"rlmdj.plots_error": repr(exc)[:500]})
    for path in out.saved:
        run.log_artifact(path, "search/curated")
    run.set_tags({"rlmdj.curated": ",".join(p.stem for p in out.saved), "rlmdj.search.storage": out.storage})


def play_top(cfg: DictConfig, s: SearchConfig, out: Any) -> list[Any]:
    """Each top palette played by the reference DJ as a child run (audio, scores, run card).

    A child that fails is reported in one line and the others are played; its entry is None.
    """
    from rlmdj.experiments.jobs.run import run_set

    outcomes: list[Any] = []
    folder = Path(s.curated_dir)
    for rank, row in enumerate(distinct_top(out.rows, s.top_k), 1):
        stem = out.curated.get(row.number, "").removeprefix("= ")
        child = child_config(cfg, s, folder / f"{stem}.json", rank)
        tags = {"rlmdj.search.study": out.name, "rlmdj.search.trial": str(row.number),
                "rlmdj.search.rank": str(rank)}
        try:
            outcomes.append(run_set(child, parent_run_id=out.run_id, extra_tags=tags, quiet=True))
        except Exception as exc:  # noqa: BLE001 - one child's failure is its run's; the others are played
            print(f"rlmdj: search: the child run of trial {row.number} ({stem}) failed: {exc}", file=sys.stderr)
            outcomes.append(None)
    return outcomes


def print_search(cfg: DictConfig, s: SearchConfig, out: Any) -> None:
    """The top of the ranking, the files saved, the study and where the runs are."""
    from rich.console import Console
    from rich.table import Table

    from rlmdj.search.study import summarise

    console = Console()
    rows = out.rows
    if rows:
        table = Table(title=f"Palette search: top {min(len(rows), 15)} of {len(rows)} trials "
                            f"({cfg.scorer.name} scorer, {s.sampler})")
        for h in ("rank", "trial", "OBJ", *rows[0].scores, "curated as"):
            table.add_column(h, justify="left" if h == "curated as" else "right")
        for k, r in enumerate(rows[:15], 1):
            table.add_row(str(k), str(r.number), f"{r.obj:.3f}", *[f"{v:.3f}" for v in r.scores.values()],
                          out.curated.get(r.number, ""))
        console.print(table)
    console.print(f"{summarise(out.study.study).line()}; stored in the {out.storage}", soft_wrap=True)
    if out.saved:
        console.print(f"saved {len(out.saved)} new palette file(s) in {s.curated_dir}: "
                      f"{', '.join(p.stem for p in out.saved)} (use as palette={out.saved[0].stem})", soft_wrap=True)
    played = [c for c in out.children if c is not None]
    if out.children:
        console.print(f"{len(played)} of {len(out.children)} top palettes played again as child runs"
                      + (f" of run {out.run_id}" if out.run_id else ""), soft_wrap=True)
    if out.run_id:
        console.print(f"search run: {out.run_id} (ranked table: search/ranked.csv; continue the study with "
                      "experiment.resume=true)", soft_wrap=True)


def child_config(cfg: DictConfig, s: SearchConfig, path: Path, rank: int) -> DictConfig:
    """A top palette's child run: the reference DJ playing its curated file for ``bars`` bars."""
    child = copy.deepcopy(cfg)
    with open_dict(child):
        child.experiment.name = "run"
        child.bars = s.bars
        child.dj.driver = "reference"
        child.dj.name = "reference"
        child.palette.source = "file"
        child.palette.name = path.stem
        child.palette.path = str(path)
        child.paths.output_dir = str(Path(str(cfg.paths.output_dir)) / f"top-{rank:02d}")
        child.tracking.run_name = None
    return child
