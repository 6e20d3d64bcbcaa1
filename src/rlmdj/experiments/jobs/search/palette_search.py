"""``rlmdj experiment=search_palettes``: search the palettes with Optuna instead of drawing them.

Palette quality is the largest lever on OBJ, and screening (``experiment=screen_palettes``)
draws palettes at random. Here Optuna chooses one sample per role (loops for loop roles,
one-shots for the others: :func:`~rlmdj.search.palettes.palette_space`), learning from every
palette scored which samples score well. A trial is evaluated as screening evaluates a palette,
by the same functions: played with the reference arrangement at ``experiment.search.bars`` and
scored in a worker process (``experiment.search.workers``; with ``scorer=http|modal`` rendered
there and scored ``scorer.max_batch_sets`` per ``POST /score_batch``). No trial is a run: a
hundred trials write no audio, only rows of the ranked table and trials of the Optuna study.

One parent MLflow run holds the search: ``search/ranked.csv`` (every completed trial), the
study's summary and plots, ``search/best_OBJ``, ``search/median_OBJ``, ``search/n_trials`` and
``search/n_failed``. The top K are saved as new files in ``palettes/curated/`` (an existing file
is never replaced; a palette already curated is not saved twice) with the study, trial, scorer,
OBJ and bars in their ``meta``, and each is played again as a child run with its audio and run
card. ``experiment.resume=true`` continues the latest study of the same search (trials already
told are not run again; trials an interruption left open are asked again).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.config.experiment import SearchConfig
from rlmdj.errors import ParameterError
from rlmdj.search.palettes import Outcome, PaletteStudy, Scored, TrialRow, trial_name

__all__ = ["SearchOutcome", "check", "evaluate_trials", "evaluator", "open_search", "search_job", "search_palettes",
           "settings", "worker_config"]

_KEY = "experiment.search"


def settings(cfg: DictConfig) -> SearchConfig:
    """``experiment.search`` as its schema dataclass."""
    from rlmdj.config import bind

    return bind(cfg.experiment.search, SearchConfig, _KEY)


# ------------------------------------------------------------------------------ preflight
def check(cfg: DictConfig) -> None:
    """The common checks, then ``experiment.search.*``: counts in range, a sampler that can search
    palettes, a storage that can be opened (a journal file is not created here)."""
    from rlmdj.experiments.cli.preflight import check_common
    from rlmdj.search.palettes import PALETTE_SAMPLERS
    from rlmdj.validation import folder_writable, number, setting

    check_common(cfg)
    n = int(number(cfg, f"{_KEY}.n_trials", lo=1, hi=1_000_000, integer=True, example=100) or 0)
    top_k = setting(cfg, f"{_KEY}.top_k")
    number(cfg, f"{_KEY}.top_k", integer=True, example=min(n, SearchConfig.top_k))
    if not 1 <= int(top_k) <= n:
        raise ParameterError(f"{_KEY}.top_k must be between 1 and {_KEY}.n_trials ({n}), got {top_k} "
                             f"(e.g. {_KEY}.top_k={min(n, SearchConfig.top_k)})")
    number(cfg, f"{_KEY}.bars", lo=1, hi=4096, integer=True, example=SearchConfig.bars)
    number(cfg, f"{_KEY}.workers", lo=0, hi=1024, integer=True, example=2)
    number(cfg, f"{_KEY}.seed", lo=0, hi=2**32 - 1, integer=True, example=0, optional=True)
    sampler = str(setting(cfg, f"{_KEY}.sampler"))
    if sampler not in PALETTE_SAMPLERS:
        raise ParameterError(f"{_KEY}.sampler={sampler}: not a sampler for palettes (one choice per role); "
                             f"choose one of {', '.join(PALETTE_SAMPLERS)}")
    study = setting(cfg, f"{_KEY}.study")
    if study is not None and not str(study).strip():
        raise ParameterError(f"{_KEY}.study must name a study or be null, got an empty string")
    _check_storage(cfg)
    folder_writable(setting(cfg, f"{_KEY}.curated_dir"), f"{_KEY}.curated_dir")


def _default_storage(cfg: DictConfig) -> Path:
    from rlmdj.search.study import default_storage_path

    return default_storage_path(str(cfg.tracking.uri), fallback_dir=str(cfg.paths.root_dir))


def _check_storage(cfg: DictConfig) -> None:
    """The storage opens (a database) or can be created (a journal file); a study named with
    ``experiment.search.study`` that it already holds is refused unless resuming."""
    from rlmdj.search.study import open_storage
    from rlmdj.validation import folder_writable

    spec = OmegaConf.select(cfg, f"{_KEY}.storage")
    key, default = f"{_KEY}.storage", _default_storage(cfg)
    if spec is not None and (not str(spec).strip() or "://" in str(spec)):
        storage = open_storage(str(spec), default_path=default, key=key)  # a database, or refused
    else:
        path = Path(str(spec)).expanduser() if spec is not None else default
        if path.is_dir():
            raise ParameterError(f"{key}={path}: cannot open the journal file (it is a folder); name a writable file")
        folder_writable(path.parent, key)
        storage = open_storage(str(path), default_path=default, key=key) if path.is_file() else None
    study = OmegaConf.select(cfg, f"{_KEY}.study")
    if storage is not None and study is not None and not cfg.experiment.resume:
        _refuse_existing(str(study), storage)


def _refuse_existing(name: str, storage: Any) -> None:
    import optuna

    if name in optuna.study.get_all_study_names(storage):
        raise ParameterError(f"{_KEY}.study={name}: the study already exists in this storage; set "
                             "experiment.resume=true to continue it, or name another study")


# -------------------------------------------------------------------- the evaluation core
def _render_trial(number: int, samples: Mapping[str, str]) -> tuple[int, str, Any, dict[str, str]]:
    """In a worker: trial ``number``'s palette played by the reference DJ (screening's render)."""
    from rlmdj.audio.palette import Palette
    from rlmdj.experiments.jobs.screen import render_palette

    palette = Palette(name=trial_name(number), samples=dict(samples))
    return number, palette.name, render_palette(palette), dict(samples)


def _score_trial(number: int, samples: Mapping[str, str]) -> tuple[float, dict[str, float]]:
    """In a worker: render and score trial ``number``'s palette."""
    from rlmdj.experiments.jobs.screen import worker_score

    result = worker_score(_render_trial(number, samples)[2])
    return float(result.obj), dict(result.scores)


def worker_config(cfg: DictConfig) -> str:
    """The config the workers render with: the whole config, ``bars`` set to the search's."""
    plain: Any = OmegaConf.to_container(cfg, resolve=True)
    plain["bars"] = int(cfg.experiment.search.bars)
    return OmegaConf.to_yaml(OmegaConf.create(plain))


class _Pool:
    """Each worker renders and scores one palette; a trial per free worker (local scorers)."""

    def __init__(self, pool: ProcessPoolExecutor | None, slots: int) -> None:
        self.pool, self.slots = pool, slots
        self._futures: dict[Future, int] = {}
        self._inline: list[tuple[int, Mapping[str, str]]] = []

    def submit(self, number: int, samples: Mapping[str, str]) -> None:
        if self.pool is None:
            self._inline.append((number, dict(samples)))
        else:
            self._futures[self.pool.submit(_score_trial, number, dict(samples))] = number

    def collect(self) -> list[tuple[int, Outcome]]:
        if self.pool is None:
            number, samples = self._inline.pop(0)
            try:
                return [(number, Scored(*_score_trial(number, samples)))]
            except Exception as exc:  # noqa: BLE001 - a palette that fails fails its trial only
                return [(number, exc)]
        done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
        out: list[tuple[int, Outcome]] = []
        for future in done:
            number = self._futures.pop(future)
            error = future.exception()
            out.append((number, error if error is not None else Scored(*future.result())))
        return out


class _Batches:
    """Workers render; this process scores ``scorer.max_batch_sets`` sets per ``POST /score_batch``
    (screening's batching). A round's trials are asked together, so a batch is full."""

    def __init__(self, cfg: DictConfig, pool: ProcessPoolExecutor | None, slots: int) -> None:
        from rlmdj.experiments.assemble import build_scorer

        self.cfg, self.pool, self.slots = cfg, pool, slots
        self.scorer = build_scorer(cfg)
        self._pending: list[tuple[int, Any]] = []

    def submit(self, number: int, samples: Mapping[str, str]) -> None:
        if self.pool is not None:
            self._pending.append((number, self.pool.submit(_render_trial, number, dict(samples))))
            return
        try:
            self._pending.append((number, _render_trial(number, samples)))
        except Exception as exc:  # noqa: BLE001 - the trial fails, the round goes on
            self._pending.append((number, exc))

    def collect(self) -> list[tuple[int, Outcome]]:
        from rlmdj.experiments.jobs.screen import score_in_batches

        out: list[tuple[int, Outcome]] = []
        renders = []
        for number, item in self._pending:
            if isinstance(item, Future):
                item = item.exception() or item.result()
            if isinstance(item, BaseException):
                out.append((number, item))
            else:
                renders.append(item)
        self._pending.clear()
        score_in_batches(self.cfg, renders, lambda r: out.append((r[0], Scored(r[2], r[3]))), self.scorer,
                         failed=lambda i, name, exc: out.append((i, exc)))
        return out


def evaluator(cfg: DictConfig, workers: int, pool: ProcessPoolExecutor | None) -> Any:
    """The evaluator the job uses: in ``pool`` (or this process when None), batched for scorer=http|modal."""
    if str(cfg.scorer.name) in ("http", "modal"):
        return _Batches(OmegaConf.create(worker_config(cfg)), pool, max(workers, int(cfg.scorer.max_batch_sets)))
    return _Pool(pool, workers)


def evaluate_trials(cfg: DictConfig, study: PaletteStudy, n: int, on_told: Any = None) -> None:
    """Run ``n`` more trials of ``study`` in ``experiment.search.workers`` processes (1: this one)."""
    from rlmdj.experiments.jobs.screen import setup_worker
    from rlmdj.search.palettes import run_trials

    if n <= 0:
        return
    workers = max(1, min(_workers(settings(cfg)), n))
    cfg_yaml = worker_config(cfg)
    if workers <= 1:
        setup_worker(cfg_yaml)
        run_trials(study, n, evaluator(cfg, 1, None), on_told)
        return
    with ProcessPoolExecutor(workers, initializer=setup_worker, initargs=(cfg_yaml,)) as pool:
        run_trials(study, n, evaluator(cfg, workers, pool), on_told)


# --------------------------------------------------------------------------- the study
@dataclass
class SearchOutcome:
    """What a search left: its study, where it is stored, the ranked trials and the curated files."""

    study: PaletteStudy
    name: str
    storage: str
    seed: int
    resumed: bool
    rows: list[TrialRow] = field(default_factory=list)
    curated: dict[int, str] = field(default_factory=dict)  # trial number -> file stem ("= x" if existing)
    saved: list[Path] = field(default_factory=list)
    ran: int = 0
    run_id: str | None = None
    children: list[Any] = field(default_factory=list)


def _kind(cfg: DictConfig, s: SearchConfig) -> str:
    """What makes two searches' OBJ comparable (pack, roles, length, tempo, render, scorer)."""
    what = {"samples": {k: OmegaConf.to_container(cfg.samples, resolve=True)[k]  # type: ignore[index]
                        for k in ("builtin", "pack_seed", "variants_per_role", "paths")},
            "roles": list(cfg.palette.roles), "bars": s.bars, "bpm": float(cfg.bpm),
            "render": [cfg.render.sample_rate, cfg.render.normalize_dbfs, cfg.render.gain_ramp_ms],
            "scorer": [str(cfg.scorer.name), OmegaConf.to_container(cfg.scorer.weights, resolve=True)]}
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"palettes-{s.bars}b-{cfg.scorer.name}-{digest}"


def _study_name(cfg: DictConfig, s: SearchConfig, storage: Any, resume: bool) -> str:
    """``experiment.search.study``, else the next (or, resuming, the latest) study of this search."""
    import optuna

    if s.study is not None:
        if not resume:
            _refuse_existing(str(s.study), storage)
        return str(s.study)
    names = set(optuna.study.get_all_study_names(storage))
    kind = _kind(cfg, s)
    numbers = [int(n.rsplit("-", 1)[1]) for n in names
               if n.startswith(kind + "-") and n.rsplit("-", 1)[1].isdigit()]
    k = max(numbers, default=0)
    return f"{kind}-{k if resume and k else k + 1}"


def open_search(cfg: DictConfig) -> SearchOutcome:
    """Open (or, with ``experiment.resume``, continue) the study; enqueue warm starts."""
    from rlmdj.experiments.assemble import load_index
    from rlmdj.search.loop import requeue_interrupted
    from rlmdj.search.palettes import curated_starts, palette_space
    from rlmdj.search.study import (
        DIRECTIONS,
        describe_storage,
        fail_stale_trials,
        open_storage,
        open_study,
    )
    from rlmdj.seeding import seed_for

    s = settings(cfg)
    resume = bool(cfg.experiment.resume)
    space = palette_space(load_index(cfg, progress=bool(cfg.progress)), list(cfg.palette.roles))
    storage = open_storage(s.storage, default_path=_default_storage(cfg), key=f"{_KEY}.storage")
    where = describe_storage(s.storage, default_path=_default_storage(cfg))
    name = _study_name(cfg, s, storage, resume)
    seed = int(s.seed) if s.seed is not None else seed_for(0, f"search:{name}")
    study = open_study(name=name, storage=storage, direction=DIRECTIONS[0], sampler=s.sampler, seed=seed,
                       n_jobs=_slots(cfg, s))
    palettes = PaletteStudy(study, space)
    resumed = bool(study.get_trials(deepcopy=False))
    if resumed:
        fail_stale_trials(study, storage)  # a stopped process's trials, asked again below
        requeue_interrupted(study)
    else:
        for key, value in {"bars": s.bars, "scorer": str(cfg.scorer.name), "sampler": s.sampler,
                           "seed": seed, "roles": palettes.roles}.items():
            study.set_user_attr(f"rlmdj.{key}", value)
        if s.warm_start:
            palettes.enqueue(curated_starts(s.curated_dir, space, scorer=str(cfg.scorer.name), bars=s.bars,
                                            limit=min(s.top_k, s.n_trials)))
    return SearchOutcome(palettes, name, where, seed, resumed)


def _workers(s: SearchConfig) -> int:
    """``workers``, or one per core when it is 0."""
    import os

    return max(1, s.workers if s.workers > 0 else (os.cpu_count() or 1))


def _slots(cfg: DictConfig, s: SearchConfig) -> int:
    batched = str(cfg.scorer.name) in ("http", "modal")
    return max(_workers(s), int(cfg.scorer.max_batch_sets)) if batched else _workers(s)


def _counted(out: SearchOutcome) -> int:
    from rlmdj.search.loop import counted_trials

    return counted_trials(out.study.study)


# ----------------------------------------------------------------------------- the job
def search_palettes(cfg: DictConfig) -> SearchOutcome:
    """The whole experiment: the trials, the ranked table, the curated files and the child runs."""
    from rlmdj.experiments.cli.progress import Progress
    from rlmdj.experiments.jobs.run import _open_run
    from rlmdj.experiments.jobs.search.palette_report import log_search, play_top, save_top
    from rlmdj.tracking import config_hash
    from rlmdj.tracking.params import run_params
    from rlmdj.tracking.versions import code_tags

    s = settings(cfg)
    out = open_search(cfg)  # before the run: a storage or study refused leaves no run behind
    out_dir = Path(str(cfg.paths.output_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    before = _counted(out)
    todo = max(0, s.n_trials - before)
    if out.resumed:
        print(f"rlmdj: resume: study {out.name} has {before} of {s.n_trials} trials; running {todo}",
              file=sys.stderr)
    params, path_tags = run_params(cfg, job="search_palettes")
    params.update({f"{_KEY}.storage": out.storage, f"{_KEY}.study_used": out.name, f"{_KEY}.seed_used": out.seed})
    run = _open_run(cfg, None, {"rlmdj.experiment": "search_palettes", "rlmdj.config_hash": config_hash(cfg),
                                "rlmdj.search.study": out.name, **code_tags(), **path_tags},
                    run_name=cfg.tracking.run_name or f"search n={s.n_trials}", keep_dir=out_dir)
    out.run_id = run.run_id
    with run:
        run.log_params(params)
        run.flush(artifacts=False)
        t0 = time.perf_counter()
        label = f"search (after {before})" if before else "search"
        with Progress(label, todo, unit="trials", enabled=bool(cfg.progress)) as progress:

            def told(number: int, outcome: Outcome) -> None:
                out.ran += 1
                if isinstance(outcome, BaseException):
                    print(f"rlmdj: search: trial {number} failed: {outcome}", file=sys.stderr)
                best = out.study.rows()[:1]
                note = f"best OBJ {best[0].obj:.3f} (trial {best[0].number})" if best else "no trial scored yet"
                progress.update(out.ran, note=note)

            evaluate_trials(cfg, out.study, todo, on_told=told)
        elapsed = time.perf_counter() - t0
        out.rows = out.study.rows()
        save_top(cfg, s, out)
        log_search(cfg, s, run, out, elapsed)
        out.children = play_top(cfg, s, out)
        objs = [r.obj for r in out.rows]
        if objs:
            run.set_description(
                f"Searched {len(objs)} palettes with Optuna ({s.sampler}, study `{out.name}`) and the reference "
                f"arrangement ({s.bars} bars, {cfg.scorer.name} scorer). Best: trial {out.rows[0].number} OBJ "
                f"{objs[0]:.3f}; median {statistics.median(objs):.3f}. Saved: "
                f"{', '.join(p.stem for p in out.saved) or 'none new'}. Table: `search/ranked.csv`.")
    return out


def search_job(cfg: DictConfig) -> float | None:
    """Search palettes, print the top of the ranking, return the best OBJ."""
    from rlmdj.experiments.jobs.search.palette_report import print_search

    out = search_palettes(cfg)
    print_search(cfg, settings(cfg), out)
    return out.rows[0].obj if out.rows else None
