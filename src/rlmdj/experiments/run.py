"""The default job: play one set, render it, score it, and record everything in MLflow.

Whatever happens — a bad palette, a crashing driver, a dead scorer, Ctrl-C — the run ends
FINISHED, FAILED or KILLED in MLflow with what it produced so far (params, partial audio,
driver transcript), and never stays RUNNING.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.audio.wavio import normalize_peak, write_preview, write_wav
from rlmdj.dj.driver import DriverReport
from rlmdj.dj.drivers import build_driver
from rlmdj.experiments.assemble import build_scorer, load_index, make_session, resolve_palette
from rlmdj.experiments.outcome import RunOutcome
from rlmdj.experiments.progress import bar_progress
from rlmdj.experiments.registry import job
from rlmdj.experiments.summary import print_job_line, print_run_summary
from rlmdj.scoring.signal import signal_metrics
from rlmdj.tracking import (
    NullRun,
    TrackedRun,
    config_hash,
    flatten_config,
    git_commit,
    open_store,
    scrubbed_config,
)
from rlmdj.tracking.timeline import plot_timeline

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


def _open_run(cfg: DictConfig, parent_run_id: str | None, tags: dict[str, str]) -> TrackedRun:
    if not cfg.tracking.enabled:
        return NullRun()
    client, experiment_id = open_store(cfg.tracking)
    return TrackedRun(
        client,
        experiment_id,
        run_name=cfg.tracking.get("run_name") or None,
        tags=tags,
        parent_run_id=parent_run_id,
    )


def run_set(
    cfg: DictConfig,
    *,
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> RunOutcome:
    """Play, render, score and track one set described by ``cfg``."""
    out_dir = Path(str(cfg.paths.output_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    chash = config_hash(cfg)
    tags = {
        "rlmdj.config_hash": chash,
        "rlmdj.dj": str(cfg.dj.driver),
        "rlmdj.replica": str(cfg.replica),
        "rlmdj.bars": str(cfg.bars),
        **(extra_tags or {}),
    }
    commit = git_commit(str(cfg.paths.root_dir))
    if commit:
        tags["rlmdj.git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit.removesuffix("-dirty")
    timer = _Timer()
    run = _open_run(cfg, parent_run_id, tags)
    outcome = RunOutcome(run_id=run.run_id, status="RUNNING", config_hash=chash, output_dir=out_dir)
    with run:
        try:
            run.log_params(flatten_config(cfg))
            run.log_text(OmegaConf.to_yaml(OmegaConf.create(scrubbed_config(cfg))), "config.yaml")
            _perform_and_score(cfg, run, outcome, timer)
        finally:
            outcome.timings_s = dict(timer.stages)
            if timer.stages:
                run.log_metrics({f"time/{k}_s": v for k, v in timer.stages.items()})
    outcome.status = run.status  # the run context always ends it
    return outcome


def _perform_and_score(cfg: DictConfig, run: TrackedRun, outcome: RunOutcome, timer: _Timer) -> None:
    out_dir = outcome.output_dir
    sr = int(cfg.render.sample_rate)
    driver = build_driver(cfg)  # first: a missing API key fails before anything is loaded
    with timer.stage("samples"):
        index = load_index(cfg, progress=bool(cfg.progress))
        palette = resolve_palette(cfg, index)
    run.set_tags({"rlmdj.palette": palette.name, "rlmdj.palette_hash": palette.sha256})
    run.log_text(palette.to_json(), "palette.json")

    session = None
    try:
        with bar_progress(int(cfg.bars), enabled=bool(cfg.progress),
                          label=f"{cfg.dj.driver} DJ") as on_bars:
            session = make_session(cfg, index, palette, on_bars=on_bars)
            with timer.stage("perform"):
                driver.perform(session)
    except BaseException:
        # Keep what the failed set produced: it is often the thing to debug.
        if session is not None and session.bars_played > 0:
            _log_audio(cfg, run, session.audio(), out_dir, stem="partial")
        raise
    finally:
        report = _safe_report(driver)
        _log_driver_report(run, report)
        if session is not None:
            _log_arrangement(cfg, run, session, out_dir,
                             layers_series="dj/layers" not in report.step_metrics)

    with timer.stage("write"):
        master = normalize_peak(session.audio(), target_dbfs=cfg.render.normalize_dbfs)
        outcome.wav_path = _log_audio(cfg, run, master, out_dir, stem="set")
    with timer.stage("score"):
        scorer = build_scorer(cfg)
        score = scorer.score(master, sr=sr)
    run.set_tags({"rlmdj.scorer": score.scorer, "rlmdj.scorer_identity": score.identity})
    with timer.stage("signal"):
        signal = {f"signal/{k}": v for k, v in signal_metrics(master, sr=sr).items()}
    metrics = {**score.metrics(), **signal}
    cache = getattr(scorer, "cache", None)
    if cache is not None:
        metrics.update({f"cache/{k}": float(v) for k, v in cache.stats().items()})
    run.log_metrics(metrics)
    for axis in score.scores:
        run.log_series(f"{score.scorer}/window/{axis}", [w.scores[axis] for w in score.windows])
    run.log_json(score.to_dict(), "scores.json")
    outcome.score = score
    outcome.metrics = {**metrics, **report.metrics}
    _log_run_card(cfg, run, outcome, session, report)


def _log_run_card(cfg: DictConfig, run: TrackedRun, outcome: RunOutcome, session: Any,
                  report: DriverReport) -> None:
    """The HTML run card (listen, timeline, window scores, decisions); never fails the run."""
    from rlmdj.tracking.run_card import write_run_card

    try:
        card = write_run_card(
            outcome.output_dir / "run_card.html",
            title=f"{cfg.dj.driver} · {session.palette.name} · {cfg.bars} bars · replica {cfg.replica}",
            subtitle=f"run {run.run_id} · config {outcome.config_hash}",
            metrics=outcome.metrics, out_dir=outcome.output_dir, score=outcome.score,
            history=[bar.to_dict() for bar in session.history], artifacts=report.artifacts,
            preview_format=str(cfg.render.preview_format),
            seconds_per_bar=session.grid.seconds_per_bar,
        )
        run.log_artifact(card)
    except Exception as exc:  # noqa: BLE001 - the card is a view; the run's data is already logged
        run.set_tags({"rlmdj.run_card_error": repr(exc)[:500]})


def _safe_report(driver: Any) -> DriverReport:
    try:
        return driver.report()
    except Exception as exc:  # noqa: BLE001 - a broken report must not hide the real error
        return DriverReport(tags={"rlmdj.report_error": repr(exc)[:500]})


def _log_driver_report(run: TrackedRun, report: DriverReport) -> None:
    run.log_metrics(report.metrics)
    run.set_tags(report.tags)
    for key, values in report.step_metrics.items():
        run.log_series(key, values)
    for artifact, text in report.artifacts.items():
        run.log_text(text, artifact)


def _log_arrangement(cfg: DictConfig, run: TrackedRun, session: Any, out_dir: Path, *,
                     layers_series: bool = True) -> None:
    history = [bar.to_dict() for bar in session.history]
    run.log_json({"bpm": float(cfg.bpm), "max_bars": session.max_bars, "bars": history},
                 "arrangement.json")
    if layers_series:  # drivers with guardrails report their own per-bar layer counts
        run.log_series("dj/layers", [len(bar.audible) for bar in session.history])
    if history and cfg.tracking.log_timeline:
        png = plot_timeline(history, out_dir / "arrangement.png",
                            roles=list(session.palette.samples),
                            title=f"{cfg.dj.driver} · {session.palette.name}",
                            seconds_per_bar=session.grid.seconds_per_bar)
        run.log_artifact(png)


def _log_audio(cfg: DictConfig, run: TrackedRun, audio: Any, out_dir: Path, *, stem: str) -> Path:
    sr = int(cfg.render.sample_rate)
    wav = write_wav(out_dir / f"{stem}.wav", audio, sr=sr, subtype=str(cfg.render.wav_subtype))
    run.log_artifact(wav, "audio")
    if cfg.tracking.log_preview and stem == "set":
        preview = write_preview(out_dir / f"preview.{cfg.render.preview_format}", audio, sr=sr,
                                fmt=str(cfg.render.preview_format))
        run.log_artifact(preview, "audio")
    return wav


@job("run")
def run_job(cfg: DictConfig) -> float | None:
    """``rlmdj`` with no experiment: one tracked set; returns OBJ for sweepers."""
    from rlmdj.experiments.sweep import job_context

    ctx = job_context(cfg)  # sweep parent + condition tags; a finished twin when resuming
    if ctx.finished_run_id is not None:
        print(f"rlmdj: resume: config already FINISHED in run {ctx.finished_run_id}; skipped")
        return ctx.finished_obj
    in_sweep = ctx.parent_run_id is not None
    if in_sweep:
        cfg.progress = False  # parallel jobs' bars would interleave; the sweep reports at the end
    outcome = run_set(cfg, parent_run_id=ctx.parent_run_id, extra_tags=ctx.tags)
    if in_sweep:
        print_job_line(outcome, f"{ctx.tags.get('rlmdj.condition', 'job')} replica={cfg.replica}")
    else:
        print_run_summary(cfg, outcome)
    return outcome.score.obj if outcome.score is not None else None
