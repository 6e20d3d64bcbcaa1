"""The default job: play one set, render it, score it, and record everything in MLflow.

Whatever happens — a bad palette, a crashing driver, a dead scorer, Ctrl-C — the run ends
FINISHED, FAILED or KILLED in MLflow with what it produced so far (params, partial audio,
driver transcript), and never stays RUNNING.

The set's audio is stored once, as the run's ``audio/set.flac`` artifact (``render.
artifact_format``), with the SHA-256 of the float render as tag ``rlmdj.render_sha256``;
Hydra's output folder keeps only its own config files. With tracking off, the artifacts are
written to the output folder instead. MLflow writes are batched (see
:mod:`rlmdj.tracking.run`); an RLM set also leaves a trace, its prompt version and its inputs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.dj.drivers.base import DriverReport
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
from rlmdj.experiments.registry import job
from rlmdj.experiments.sweep.interrupts import deferred_interrupts
from rlmdj.tracking import NullRun, TrackedRun, config_hash, open_store, scrubbed_config
from rlmdj.tracking.naming import set_description, set_run_name
from rlmdj.tracking.params import run_params
from rlmdj.tracking.versions import code_tags

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


def _open_run(cfg: DictConfig, parent_run_id: str | None, tags: dict[str, str], *,
              run_name: str | None = None, keep_dir: Path | None = None) -> TrackedRun:
    if not cfg.tracking.enabled:
        return NullRun(keep_dir)
    client, experiment_id = open_store(cfg.tracking)
    return TrackedRun(
        client,
        experiment_id,
        run_name=run_name or cfg.tracking.get("run_name") or None,
        tags=tags,
        parent_run_id=parent_run_id,
    )


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
    chash = config_hash(cfg)
    params, path_tags = run_params(cfg)
    tags = {
        "rlmdj.config_hash": chash,
        "rlmdj.dj": str(cfg.dj.driver),
        "rlmdj.replica": str(cfg.replica),
        "rlmdj.bars": str(cfg.bars),
        **code_tags(),
        **path_tags,
        **(extra_tags or {}),
    }
    timer = _Timer()
    run = _open_run(cfg, parent_run_id, tags, run_name=set_run_name(cfg), keep_dir=out_dir)
    outcome = RunOutcome(run_id=run.run_id, status="RUNNING", config_hash=chash, output_dir=out_dir)
    outcome.experiment_id = run.experiment_id
    with run:
        try:
            run.log_params(params)
            run.log_text(OmegaConf.to_yaml(OmegaConf.create(scrubbed_config(cfg))), "config.yaml")
            run.flush(artifacts=False)  # the runs table shows what the run is while it plays
            _perform_and_score(cfg, run, outcome, timer, quiet=quiet)
        finally:
            outcome.timings_s = dict(timer.stages)
            if timer.stages:
                run.log_metrics({f"time/{k}_s": v for k, v in timer.stages.items()})
            stage_line("logging to MLflow" if run.run_id else "writing the run's files", quiet=quiet)
            t0 = time.perf_counter()
            run.flush()
            outcome.timings_s["log"] = time.perf_counter() - t0
    outcome.status = run.status  # the run context always ends it
    outcome.run_name = run.run_name
    return outcome


def _perform_and_score(cfg: DictConfig, run: TrackedRun, outcome: RunOutcome, timer: _Timer, *,
                       quiet: bool) -> None:
    from rlmdj.audio.wavio import normalize_peak
    from rlmdj.scoring.signal import signal_metrics

    sr = int(cfg.render.sample_rate)
    driver = make_driver(cfg)  # first: a missing API key fails before anything is loaded
    with timer.stage("score"):
        # The scorer states its identity before the set is played: a dead scoring endpoint
        # (GET /health) or a missing checkpoint costs no set, and no LLM tokens.
        scorer = build_scorer(cfg)
        _ = scorer.identity
    with timer.stage("samples"):
        index = load_index(cfg, progress=bool(cfg.progress) and not quiet)
        palette = resolve_palette(cfg, index)
    run.set_name(set_run_name(cfg, palette.name))
    run.set_tags({"rlmdj.palette": palette.name, "rlmdj.palette_hash": palette.sha256})
    run.log_text(palette.to_json(), "palette.json")
    _log_inputs(cfg, run, palette, index)
    prompt = _register_prompt(cfg, run, driver)
    prompt_version = f"{prompt.name} v{prompt.version}" if prompt is not None else None

    session = None
    timeline: Path | None = None
    performed: float | None = None
    writes: _AudioWrites | None = None
    try:
        # Once the set is played, Ctrl-C/SIGTERM wait until its audio is written (the run still
        # ends KILLED): a long set's write stage takes seconds and must not lose the whole set.
        with contextlib.ExitStack() as hold:
            try:
                with bar_progress(int(cfg.bars), enabled=bool(cfg.progress), quiet=quiet,
                                  label=f"{cfg.dj.driver} DJ") as on_bars:
                    session = make_session(cfg, index, palette, on_bars=on_bars)
                    with timer.stage("perform"):
                        performed = time.time()
                        driver.perform(session)
                hold.enter_context(deferred_interrupts())
            except BaseException:
                # Keep what the failed set produced: it is often the thing to debug.
                if session is not None and session.bars_played > 0:
                    with deferred_interrupts("writing the partial audio"):
                        _write_audio(cfg, run, session.audio(), stem="partial")
                raise
            finally:
                report = _safe_report(driver)
                _log_driver_report(run, report)
                if session is not None:
                    timeline = _log_arrangement(cfg, run, session,
                                                layers_series="dj/layers" not in report.step_metrics)
                _log_trace(cfg, run, driver, prompt, performed)

            stage_line(f"writing audio ({cfg.render.artifact_format})", quiet=quiet)
            with timer.stage("write"):
                master = normalize_peak(session.audio(), target_dbfs=cfg.render.normalize_dbfs)
                writes = _AudioWrites(cfg, run, master)
        stage_line(f"scoring with the {cfg.scorer.name} scorer", quiet=quiet)
        with timer.stage("score"), _windows_progress(scorer, cfg, quiet=quiet):
            score = scorer.score(master, sr=sr)
        run.set_tags({"rlmdj.scorer": score.scorer, "rlmdj.scorer_identity": score.identity})
        with timer.stage("signal"):
            signal = {f"signal/{k}": v for k, v in signal_metrics(master, sr=sr).items()}
        with timer.stage("write"):
            (outcome.audio_artifact, outcome.wav_path), preview = writes.result()
    except BaseException:
        if writes is not None:
            writes.wait()  # the set's audio is whole on disk before the run ends
        raise
    metrics = {**score.metrics(), **signal}
    cache = getattr(scorer, "cache", None)
    if cache is not None:
        metrics.update({f"cache/{k}": float(v) for k, v in cache.stats().items()})
    run.log_metrics(metrics)
    _log_windows(run, score)
    run.log_json(score.to_dict(), "scores.json")
    outcome.score = score
    outcome.metrics = {**metrics, **report.metrics}
    with timer.stage("card"):
        _log_run_card(cfg, run, outcome, session, report, preview, timeline, prompt_version)
    run.set_description(set_description(
        scorer=score.scorer, metrics=outcome.metrics, palette=palette.name, dj=str(cfg.dj.driver),
        bars=int(cfg.bars), audio_file=outcome.audio_artifact, prompt=prompt_version,
    ))


class _AudioWrites:
    """The set's audio artifact and its listening preview, encoded in two threads while the
    main thread scores the set (libsndfile's encoders release the GIL).

    :meth:`result` returns ``((artifact, wav_path), preview)`` or raises what a write raised;
    :meth:`wait` only waits. Either way signals are held until the files are complete.
    """

    def __init__(self, cfg: DictConfig, run: TrackedRun, master: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rlmdj-write")
        self._audio = self._pool.submit(_write_audio, cfg, run, master, stem="set")
        self._preview = self._pool.submit(_write_preview, cfg, run, master)
        self._pool.shutdown(wait=False)

    def result(self) -> tuple[tuple[str, Path | None], tuple[bytes, str] | None]:
        self.wait()
        return self._audio.result(), self._preview.result()

    def wait(self) -> None:
        from concurrent.futures import wait

        with deferred_interrupts():
            wait([self._audio, self._preview])


@contextmanager
def _windows_progress(scorer: Any, cfg: DictConfig, *, quiet: bool) -> Iterator[None]:
    """Windows k/N while a model scorer works through a long set (scorers with ``on_windows``)."""
    if quiet or not hasattr(scorer, "on_windows"):
        yield
        return
    from rlmdj.experiments.cli.progress import Progress

    with Progress(f"{scorer.name} windows", 0, unit="windows", enabled=bool(cfg.progress)) as progress:
        scorer.on_windows = lambda done, total: progress.update(done, total)
        try:
            yield
        finally:
            scorer.on_windows = None


def _log_windows(run: TrackedRun, score: Any) -> None:
    """Per-window curves stepped by the window's start in whole seconds, OBJ included."""
    if not score.windows:
        return
    steps = [int(round(w.start_s)) for w in score.windows]
    for axis in score.scores:
        run.log_series(f"{score.scorer}/window/{axis}", [w.scores[axis] for w in score.windows], steps)
    weights = dict(score.weights)
    if weights and all(a in w.scores for w in score.windows for a in weights):
        objs = [sum(float(weights[a]) * float(w.scores[a]) for a in weights) for w in score.windows]
        run.log_series(f"{score.scorer}/window/OBJ", objs, steps)


def _log_inputs(cfg: DictConfig, run: TrackedRun, palette: Any, index: Any) -> None:
    if run.run_id is None:
        return
    from rlmdj.tracking.datasets import log_set_inputs

    try:
        log_set_inputs(run, palette=palette, index=index, samples=cfg.samples)
    except Exception as exc:  # noqa: BLE001 - lineage is a view; the run's data is logged anyway
        run.set_tags({"rlmdj.inputs_error": repr(exc)[:500]})


def _register_prompt(cfg: DictConfig, run: TrackedRun, driver: Any) -> Any | None:
    """Register the RLM's prompt (new version only when its text changed); its version."""
    text = getattr(driver, "prompt_text", None)
    if run.run_id is None or not text:
        return None
    from rlmdj.tracking.prompts import register_prompt

    try:
        version = register_prompt(run, name=str(getattr(driver, "prompt_name", cfg.prompt.name)),
                                  text=str(text))
    except Exception as exc:  # noqa: BLE001 - the prompt text is also in the transcript
        run.set_tags({"rlmdj.prompt_registry_error": repr(exc)[:500]})
        return None
    return version


def _log_trace(cfg: DictConfig, run: TrackedRun, driver: Any, prompt: Any,
               performed: float | None) -> None:
    """The set's trace (RLM drivers only), linked to the run and to its prompt version."""
    if run.run_id is None or not cfg.tracking.get("traces", True):
        return
    from rlmdj.tracking.traces import log_set_trace, set_trace_from_driver

    try:
        record = set_trace_from_driver(driver)
        if record is None:
            return
        record.tags["rlmdj.run_name"] = run.run_name
        if performed is not None:
            record.started_at, record.ended_at = performed, time.time()
        trace_id = log_set_trace(record, experiment_id=run.experiment_id, run_id=run.run_id)
        if prompt is not None:
            run.client.link_prompt_versions_to_trace([prompt], trace_id)
        run.set_tags({"rlmdj.trace_id": trace_id})
    except Exception as exc:  # noqa: BLE001 - the transcript artifact holds the same record
        run.set_tags({"rlmdj.trace_error": repr(exc)[:500]})


def _log_run_card(cfg: DictConfig, run: TrackedRun, outcome: RunOutcome, session: Any,
                  report: DriverReport, preview: tuple[bytes, str] | None, timeline: Path | None,
                  prompt_version: str | None) -> None:
    """The HTML run card (listen, timeline, window scores, decisions); never fails the run."""
    from rlmdj.tracking.run_card import (
        build_run_card,
        decisions_from_artifacts,
        decisions_from_history,
    )

    try:
        score = outcome.score
        windows = [{"start_s": w.start_s, "duration_s": w.duration_s, "scores": dict(w.scores)}
                   for w in score.windows] if score is not None else []
        history = [bar.to_dict() for bar in session.history]
        subtitle = f"run {run.run_id} · config {outcome.config_hash}"
        if prompt_version:
            subtitle += f" · prompt {prompt_version}"
        html = build_run_card(
            title=f"{cfg.dj.driver} · {session.palette.name} · {cfg.bars} bars · replica {cfg.replica}",
            subtitle=subtitle, metrics=outcome.metrics, preview=preview[0] if preview else None,
            preview_mime=preview[1] if preview else "audio/ogg",
            timeline_png=timeline.read_bytes() if timeline is not None and timeline.is_file() else None,
            windows=windows,
            weights=dict(score.weights) if score is not None else None,
            decisions=decisions_from_history(history) + decisions_from_artifacts(report.artifacts),
            seconds_per_bar=session.grid.seconds_per_bar,
        )
        run.log_text(html, "run_card.html")
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


def _log_arrangement(cfg: DictConfig, run: TrackedRun, session: Any, *,
                     layers_series: bool = True) -> Path | None:
    """Log the arrangement (JSON, per-bar layers, timeline PNG); the PNG's path, if drawn."""
    history = [bar.to_dict() for bar in session.history]
    run.log_json({"bpm": float(cfg.bpm), "max_bars": session.max_bars, "bars": history},
                 "arrangement.json")
    if layers_series:  # drivers with guardrails report their own per-bar layer counts
        run.log_series("dj/layers", [len(bar.audible) for bar in session.history])
    if history and cfg.tracking.log_timeline:
        from rlmdj.tracking.timeline import plot_timeline

        return plot_timeline(history, run.artifact_path("arrangement.png"),
                             roles=list(session.palette.samples),
                             title=f"{cfg.dj.driver} · {session.palette.name}",
                             seconds_per_bar=session.grid.seconds_per_bar)
    return None


def _write_audio(cfg: DictConfig, run: TrackedRun, audio: Any, *, stem: str) -> tuple[str, Path | None]:
    """Write the set (or a failed set's partial audio) once, as an artifact; tag its render hash.

    Returns the artifact path and, when tracking is off, the file in the output folder.
    """
    from rlmdj.tracking.audio_artifact import render_sha256, write_set_audio

    path = write_set_audio(run.artifact_path(f"audio/{stem}"), audio, sr=int(cfg.render.sample_rate),
                           fmt=str(cfg.render.artifact_format), wav_subtype=str(cfg.render.wav_subtype))
    run.set_tags({f"rlmdj.{'render' if stem == 'set' else stem}_sha256": render_sha256(audio)})
    return f"audio/{path.name}", (path if run.run_id is None else None)


def _write_preview(cfg: DictConfig, run: TrackedRun, master: Any) -> tuple[bytes, str] | None:
    """The listening preview (``audio/preview.ogg``, at most 1 MB per minute): its bytes and MIME.

    The run card inlines the same bytes; comparisons' listening rooms read the artifact.
    """
    if not cfg.tracking.log_preview:
        return None
    sr = int(cfg.render.sample_rate)
    fmt = str(cfg.render.preview_format).lower()
    if fmt == "ogg":
        from rlmdj.tracking.audio_artifact import listening_preview

        data = listening_preview(master, sr=sr)
        run.artifact_path("audio/preview.ogg").write_bytes(data)
        return data, "audio/ogg"
    from rlmdj.audio.wavio import write_preview

    path = write_preview(run.artifact_path(f"audio/preview.{fmt}"), master, sr=sr, fmt=fmt)
    return path.read_bytes(), {"mp3": "audio/mpeg"}.get(fmt, f"audio/{fmt}")


def _sweep_line(cfg: DictConfig, ctx: Any) -> str:
    from rlmdj.experiments.cli.progress import sweep_job_done

    label = f"{ctx.tags.get('rlmdj.condition', 'job')} replica={cfg.replica}"
    done = sweep_job_done()
    if done is None:
        return label
    k, n = done
    return f"job {k}/{n} · {label}" if n else f"job {k} · {label}"


@job("run")
def run_job(cfg: DictConfig) -> float | None:
    """``rlmdj`` with no experiment: one tracked set; returns OBJ for sweepers."""
    from rlmdj.experiments.sweep.context import job_context

    ctx = job_context(cfg)  # sweep parent + condition tags; a finished twin when resuming
    if ctx.finished_run_id is not None:
        print(f"rlmdj: resume: config already FINISHED in run {ctx.finished_run_id}; skipped")
        return ctx.finished_obj
    in_sweep = ctx.parent_run_id is not None
    outcome = run_set(cfg, parent_run_id=ctx.parent_run_id, extra_tags=ctx.tags, quiet=in_sweep)
    if in_sweep:
        print_job_line(outcome, _sweep_line(cfg, ctx))
    else:
        print_run_summary(cfg, outcome)
    return outcome.score.obj if outcome.score is not None else None
