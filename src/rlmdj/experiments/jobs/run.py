"""The default job: play one set, render it, score it, and record everything in MLflow.

Whatever happens — a bad palette, a crashing driver, a dead scorer, Ctrl-C — the run ends
FINISHED, FAILED or KILLED in MLflow with what it produced so far (params, partial audio,
driver transcript), and never stays RUNNING.

The set's audio is stored once, as the run's ``audio/set.flac`` artifact (``render.
artifact_format``), with the SHA-256 of the float render as tag ``rlmdj.render_sha256``;
Hydra's output folder keeps only its own config files. With tracking off, the artifacts are
written to the output folder instead. No stage waits on MLflow: the run is recorded by a writer
process from a journal in the output folder (:mod:`rlmdj.tracking.writer`), which opens the
store while the set is played; the job returns once the store holds the whole run. An RLM set
also leaves a trace, its prompt version and its inputs.

:func:`run_set` is a list of stages (resolve, perform, write, score, log), each leaving in the
run what it produced; what each part of the record holds is :mod:`rlmdj.tracking.record.set_record`'s.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from rlmdj.dj.drivers.base import Driver, DriverReport
from rlmdj.experiments.assemble import (
    build_scorer,
    load_index,
    make_driver,
    make_session,
    resolve_palette,
)
from rlmdj.experiments.cli.progress import bar_progress, stage_line
from rlmdj.experiments.cli.summary import print_job_line, print_run_summary
from rlmdj.experiments.outcome import RunOutcome
from rlmdj.experiments.sweep.interrupts import deferred_interrupts
from rlmdj.scoring.base import CachingScorer, Scorer, ScoreResult, windowed
from rlmdj.tracking import NullRun, TrackedRun, config_hash, open_store
from rlmdj.tracking.identity import resolved_dict
from rlmdj.tracking.params import run_params
from rlmdj.tracking.record.naming import set_run_name
from rlmdj.tracking.record.set_record import (
    log_config,
    log_description,
    log_performance,
    log_preview,
    log_run_card,
    log_score,
    log_set_audio,
    log_setup,
    prompt_label,
)
from rlmdj.tracking.versions import code_tags

if TYPE_CHECKING:
    from rlmdj.audio.palette import Palette
    from rlmdj.audio.samples import SampleIndex
    from rlmdj.dj.session import Session

__all__ = ["RunOutcome", "run_set", "run_job"]


class _Timer:
    """Wall time per pipeline stage, reported in the summary and as ``time/...`` metrics."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - t0


@dataclass
class _Set:
    """One set as the stages fill it in: what it is played and scored with, then what it produced."""

    driver: Driver
    scorer: Scorer
    index: SampleIndex
    palette: Palette
    prompt: Any = None  # the registered prompt version (prompted drivers, tracking on)
    session: Session | None = None
    performed: float | None = None  # wall-clock start of the performance
    report: DriverReport = field(default_factory=DriverReport)
    timeline: Path | None = None
    signal: dict[str, float] = field(default_factory=dict)
    preview: tuple[bytes, str] | None = None


def _open_run(cfg: DictConfig, parent_run_id: str | None, tags: dict[str, str], *,
              run_name: str | None = None, keep_dir: Path | None = None) -> TrackedRun:
    if not cfg.tracking.enabled:
        return NullRun(keep_dir)
    client, experiment_id = open_store(cfg.tracking)
    return TrackedRun(
        client,
        experiment_id,
        run_name=run_name or cfg.tracking.run_name or None,
        tags=tags,
        parent_run_id=parent_run_id,
    )


def _open_queued(cfg: DictConfig, parent_run_id: str | None, tags: dict[str, str], *,
                 run_name: str | None, out_dir: Path) -> TrackedRun:
    """The set's run, recorded in the background; with tracking off, a :class:`NullRun`."""
    if not cfg.tracking.enabled:
        return NullRun(out_dir)
    from rlmdj.tracking.writer import QueuedRun

    uri = str(cfg.tracking.uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_absolute():
        uri = "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    location = cfg.tracking.artifact_location
    return QueuedRun(uri=uri, experiment=str(cfg.tracking.experiment), scorer=str(cfg.scorer.name),
                     artifact_location=str(Path(str(location)).resolve()) if location else None,
                     out_dir=out_dir, run_name=run_name or cfg.tracking.run_name or None, tags=tags,
                     parent_run_id=parent_run_id)


def _run_tags(cfg: DictConfig, chash: str, path_tags: dict[str, str],
              extra_tags: dict[str, str] | None) -> dict[str, str]:
    """What the runs table can filter on from the start: config, DJ, replica, bars, code, paths."""
    return {
        "rlmdj.config_hash": chash,
        "rlmdj.dj": str(cfg.dj.driver),
        "rlmdj.replica": str(cfg.replica),
        "rlmdj.bars": str(cfg.bars),
        **code_tags(),
        **path_tags,
        **(extra_tags or {}),
    }


def run_set(
    cfg: DictConfig,
    *,
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
    quiet: bool = False,
) -> RunOutcome:
    """Play, render, score and track one set described by ``cfg``.

    ``quiet``: no progress or stage lines (sweep jobs print one result line each instead).
    """
    out_dir = Path(str(cfg.paths.output_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    resolved = resolved_dict(cfg)  # once: the hash, the params and the logged config read it
    chash = config_hash(resolved)
    params, path_tags = run_params(resolved)
    run = _open_queued(cfg, parent_run_id, _run_tags(cfg, chash, path_tags, extra_tags),
                       run_name=set_run_name(cfg), out_dir=out_dir)
    outcome = RunOutcome(run_id=None, status="RUNNING", config_hash=chash, output_dir=out_dir)
    timer = _Timer()
    with run:
        try:
            log_config(run, resolved, params)
            _play_and_score(cfg, run, outcome, timer, quiet=quiet)
        finally:
            _send(run, outcome, timer, quiet=quiet)
            sent = time.perf_counter()
    # "log" includes the wait for the writer to hold the whole run (the end of the run context).
    outcome.timings_s["log"] = outcome.timings_s.get("log", 0.0) + time.perf_counter() - sent
    outcome.status = run.status  # the run context always ends it
    outcome.run_name = run.run_name
    outcome.run_id, outcome.experiment_id = run.run_id, run.experiment_id
    if run.write_error is not None:  # the set is whole on disk; the store did not take it
        from rlmdj.errors import EnvironmentProblem

        raise EnvironmentProblem(run.write_error)
    return outcome


def _play_and_score(cfg: DictConfig, run: TrackedRun, outcome: RunOutcome, timer: _Timer, *,
                    quiet: bool) -> None:
    """The stages in order; each leaves in the run what it produced, also when a later one fails."""
    s = _resolve(cfg, timer, quiet=quiet)
    s.prompt = log_setup(cfg, run, palette=s.palette, index=s.index, driver=s.driver)
    with contextlib.ExitStack() as kept:  # a failure waits until the audio being written is whole
        with contextlib.ExitStack() as held:  # Ctrl-C waits from the set's end until then
            _perform(cfg, run, s, timer, held, quiet=quiet)
            writes = kept.enter_context(_write(cfg, run, s, timer, quiet=quiet))
        score = _score(cfg, run, s, writes.master, timer, quiet=quiet)
        _log_score(run, outcome, s, score)
        with timer.stage("write"):
            (outcome.audio_artifact, outcome.wav_path), s.preview = writes.result()
    _log(cfg, run, outcome, s, score, timer)


def _resolve(cfg: DictConfig, timer: _Timer, *, quiet: bool) -> _Set:
    """The driver, the scorer and the palette, in the order that fails cheapest: a missing API key
    before anything is loaded, a dead scorer before the samples."""
    driver = make_driver(cfg)
    with timer.stage("score"):
        scorer = _preflight(build_scorer(cfg))
    with timer.stage("samples"):
        index = load_index(cfg, progress=bool(cfg.progress) and not quiet)
        palette = resolve_palette(cfg, index)
    return _Set(driver, scorer, index, palette)


def _preflight(scorer: Scorer) -> Scorer:
    """The scorer states its identity before the set is played: a dead scoring endpoint
    (GET /health) or a missing checkpoint costs no set, and no LLM tokens."""
    _ = scorer.identity
    return scorer


def _perform(cfg: DictConfig, run: TrackedRun, s: _Set, timer: _Timer, held: contextlib.ExitStack, *,
             quiet: bool) -> None:
    """Play the set; from its end on, ``held`` defers Ctrl-C/SIGTERM (the run still ends KILLED):
    a long set's write stage takes seconds and must not lose the whole set.

    Played or failed, the driver's report, the arrangement and the trace are logged; a failed set
    keeps the bars it played as ``audio/partial``: it is often the thing to debug.
    """
    try:
        with bar_progress(int(cfg.bars), enabled=bool(cfg.progress), quiet=quiet,
                          label=f"{cfg.dj.driver} DJ") as on_bars:
            s.session = make_session(cfg, s.index, s.palette, on_bars=on_bars)
            with timer.stage("perform"):
                s.performed = time.time()
                s.driver.perform(s.session)
        held.enter_context(deferred_interrupts())
    except BaseException:
        if s.session is not None and s.session.bars_played > 0:
            with deferred_interrupts("writing the partial audio"):
                log_set_audio(cfg, run, s.session.audio(), stem="partial")
        raise
    finally:
        s.report, s.timeline = log_performance(cfg, run, s.driver, s.session, prompt=s.prompt,
                                               performed=s.performed)


def _write(cfg: DictConfig, run: TrackedRun, s: _Set, timer: _Timer, *, quiet: bool) -> _AudioWrites:
    """Normalise the set and start writing its audio and preview (they are written while it is scored)."""
    from rlmdj.audio.wavio import normalize_peak

    stage_line(f"writing audio ({cfg.render.artifact_format})", quiet=quiet)
    with timer.stage("write"):
        master = normalize_peak(s.session.audio(), target_dbfs=cfg.render.normalize_dbfs)
        return _AudioWrites(cfg, run, master)


class _AudioWrites:
    """The set's audio artifact and its listening preview, encoded in two threads while the
    main thread scores the set (libsndfile's encoders release the GIL).

    :meth:`result` returns ``((artifact, wav_path), preview)`` or raises what a write raised;
    leaving the ``with`` block only waits. Either way signals are held until the files are complete.
    """

    def __init__(self, cfg: DictConfig, run: TrackedRun, master: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.master = master
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rlmdj-write")
        self._audio = self._pool.submit(log_set_audio, cfg, run, master, stem="set")
        self._preview = self._pool.submit(log_preview, cfg, run, master)
        self._pool.shutdown(wait=False)

    def result(self) -> tuple[tuple[str, Path | None], tuple[bytes, str] | None]:
        self.wait()
        return self._audio.result(), self._preview.result()

    def wait(self) -> None:
        from concurrent.futures import wait

        with deferred_interrupts():
            wait([self._audio, self._preview])

    def __enter__(self) -> _AudioWrites:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.wait()  # the set's audio is whole on disk before the run ends


def _score(cfg: DictConfig, run: TrackedRun, s: _Set, master: Any, timer: _Timer, *,
           quiet: bool) -> ScoreResult:
    """Score the set (tagging the scorer that did) and measure its signal."""
    from rlmdj.scoring.signal import signal_metrics

    sr = int(cfg.render.sample_rate)
    stage_line(f"scoring with the {cfg.scorer.name} scorer", quiet=quiet)
    with timer.stage("score"), _windows_progress(s.scorer, cfg, quiet=quiet):
        score = s.scorer.score(master, sr=sr)
    run.set_tags({"rlmdj.scorer": score.scorer, "rlmdj.scorer_identity": score.identity})
    with timer.stage("signal"):
        s.signal = {f"signal/{k}": v for k, v in signal_metrics(master, sr=sr).items()}
    return score


@contextmanager
def _windows_progress(scorer: Scorer, cfg: DictConfig, *, quiet: bool) -> Iterator[None]:
    """Windows k/N while a model scorer works through a long set (a :class:`~rlmdj.scoring.base.WindowedScorer`, under its cache too)."""
    reporter = windowed(scorer)
    if quiet or reporter is None:
        yield
        return
    from rlmdj.experiments.cli.progress import Progress

    with Progress(f"{scorer.name} windows", 0, unit="windows", enabled=bool(cfg.progress)) as progress:
        reporter.on_windows = lambda done, total: progress.update(done, total)
        try:
            yield
        finally:
            reporter.on_windows = None


def _log(cfg: DictConfig, run: TrackedRun, outcome: RunOutcome, s: _Set, score: ScoreResult,
         timer: _Timer) -> None:
    """The run card and the run's note."""
    prompt = prompt_label(s.prompt)
    with timer.stage("card"):
        log_run_card(cfg, run, score=score, metrics=outcome.metrics, config_hash=outcome.config_hash,
                     session=s.session, report=s.report, preview=s.preview, timeline=s.timeline,
                     prompt=prompt)
    log_description(cfg, run, score=score, metrics=outcome.metrics, palette=s.palette.name,
                    audio_file=outcome.audio_artifact, prompt=prompt)


def _log_score(run: TrackedRun, outcome: RunOutcome, s: _Set, score: ScoreResult) -> None:
    """The scores, handed to the writer at once: it stores them while the audio is still being
    encoded, not after; ``outcome`` holds the same numbers."""
    metrics = {**score.metrics(), **s.signal, **_cache_metrics(s.scorer)}
    log_score(run, score, metrics)
    run.flush(artifacts=False)
    outcome.score = score
    outcome.metrics = {**metrics, **s.report.metrics}


def _cache_metrics(scorer: Scorer) -> dict[str, float]:
    """``cache/hits`` and ``cache/misses`` of a scorer with a score cache."""
    if not isinstance(scorer, CachingScorer):
        return {}
    return {f"cache/{k}": float(v) for k, v in scorer.cache.stats().items()}


def _send(run: TrackedRun, outcome: RunOutcome, timer: _Timer, *, quiet: bool) -> None:
    """Stage timings (a failed run's too), then everything queued, in one flush."""
    outcome.timings_s = dict(timer.stages)
    if timer.stages:
        run.log_metrics({f"time/{k}_s": v for k, v in timer.stages.items()})
    stage_line("logging to MLflow" if run.tracked else "writing the run's files", quiet=quiet)
    t0 = time.perf_counter()
    run.flush()
    outcome.timings_s["log"] = time.perf_counter() - t0


def _sweep_line(cfg: DictConfig, ctx: Any) -> str:
    from rlmdj.experiments.cli.progress import sweep_job_done

    label = f"{ctx.tags.get('rlmdj.condition', 'job')} replica={cfg.replica}"
    done = sweep_job_done()
    if done is None:
        return label
    k, n = done
    return f"job {k}/{n} · {label}" if n else f"job {k} · {label}"


def run_job(cfg: DictConfig) -> float | None:
    """``rlmdj`` with no experiment: one tracked set; returns OBJ for sweepers."""
    from rlmdj.experiments.sweep.budget import budget_gate
    from rlmdj.experiments.sweep.context import job_context

    ctx = job_context(cfg)  # sweep parent + condition tags; a finished twin when resuming
    if ctx.finished_run_id is not None:
        print(f"rlmdj: resume: config already FINISHED in run {ctx.finished_run_id}; skipped")
        return ctx.finished_obj
    in_sweep = ctx.parent_run_id is not None
    label = f"{ctx.tags.get('rlmdj.condition', 'job')} replica={cfg.replica}"
    with budget_gate(cfg, label) as admission:  # experiment.budget_usd: a set past it is skipped
        if not admission.admitted:
            return None
        outcome = admission.outcome = run_set(cfg, parent_run_id=ctx.parent_run_id,
                                              extra_tags=ctx.tags, quiet=in_sweep)
    if in_sweep:
        print_job_line(outcome, _sweep_line(cfg, ctx))
    else:
        print_run_summary(cfg, outcome)
    return outcome.score.obj if outcome.score is not None else None
