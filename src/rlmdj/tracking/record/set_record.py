"""What a played set leaves in its run, one function per part, in the order the run writes them.

The run pipeline (:mod:`rlmdj.experiments.jobs.run`) decides *when*; this module decides *what*:
params and config, the palette and the set's inputs, the prompt version, the driver's report,
the arrangement, the trace, the audio and its preview, the scores and the run card. With
tracking off (:class:`~rlmdj.tracking.run.NullRun`) the same files land in the output folder.

Views of data the run already holds (input lineage, the prompt registry, the trace, the run
card) never fail the run: their error is tagged ``rlmdj.<part>_error`` and the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlmdj.dj.drivers.base import Driver, DriverReport, PromptedDriver
from rlmdj.scoring.base import ScoreResult
from rlmdj.tracking.identity import config_yaml, scrubbed_config
from rlmdj.tracking.record.naming import set_description, set_run_name
from rlmdj.tracking.run import TrackedRun

__all__ = [
    "log_config",
    "log_description",
    "log_performance",
    "log_preview",
    "log_run_card",
    "log_score",
    "log_set_audio",
    "log_setup",
    "log_trace",
    "prompt_label",
]


def _error_tag(run: TrackedRun, part: str, exc: BaseException) -> None:
    run.set_tags({f"rlmdj.{part}_error": repr(exc)[:500]})


def log_config(run: TrackedRun, cfg: DictConfig | Mapping[str, Any], params: dict[str, Any]) -> None:
    """Params and the masked config, sent at once: the runs table shows what the run is while it
    plays. ``cfg`` may be the config already resolved (:func:`~rlmdj.tracking.identity.resolved_dict`)."""
    run.log_params(params)
    run.log_text(config_yaml(scrubbed_config(cfg)), "config.yaml")
    run.flush(artifacts=False)


def log_setup(cfg: DictConfig, run: TrackedRun, *, palette: Any, index: Any, driver: Driver) -> Any | None:
    """The run's name and palette, its inputs and the driver's prompt; the prompt version, if any."""
    run.set_name(set_run_name(cfg, palette.name))
    run.set_tags({"rlmdj.palette": palette.name, "rlmdj.palette_hash": palette.sha256})
    run.log_text(palette.to_json(), "palette.json")
    _log_inputs(cfg, run, palette, index)
    return _register_prompt(run, driver)


def prompt_label(prompt: Any | None) -> str | None:
    """``rlmdj-baseline v3`` for a registered prompt version, as the card and the note print it."""
    return f"{prompt.name} v{prompt.version}" if prompt is not None else None


def _log_inputs(cfg: DictConfig, run: TrackedRun, palette: Any, index: Any) -> None:
    if not run.tracked:
        return
    from rlmdj.tracking.datasets import log_set_inputs

    try:
        log_set_inputs(run, palette=palette, index=index, samples=cfg.samples)
    except Exception as exc:  # noqa: BLE001 - lineage is a view; the run's data is logged anyway
        _error_tag(run, "inputs", exc)


def _register_prompt(run: TrackedRun, driver: Driver) -> Any | None:
    """Register the system text a prompted driver sends (a new version only when it changed)."""
    if not run.tracked or not isinstance(driver, PromptedDriver) or not driver.prompt_text:
        return None
    try:
        return run.register_prompt(str(driver.prompt_name), driver.system_text())
    except Exception as exc:  # noqa: BLE001 - the prompt text is also in the transcript
        _error_tag(run, "prompt_registry", exc)
        return None


def log_performance(cfg: DictConfig, run: TrackedRun, driver: Driver, session: Any, *,
                    prompt: Any | None, performed: float | None) -> tuple[DriverReport, Path | None]:
    """What the driver did, played or failed: its report, the arrangement (when a session was
    made) and the trace; the report and the timeline PNG's path, if drawn."""
    report = _safe_report(driver)
    _log_driver_report(run, report)
    timeline = None
    if session is not None:  # drivers with guardrails report their own per-bar layer counts
        timeline = _log_arrangement(cfg, run, session, layers_series="dj/layers" not in report.step_metrics)
    log_trace(cfg, run, driver, prompt, performed)
    return report, timeline


def _safe_report(driver: Driver) -> DriverReport:
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


def _log_arrangement(cfg: DictConfig, run: TrackedRun, session: Any, *, layers_series: bool) -> Path | None:
    """The arrangement (JSON, per-bar layers, timeline PNG); the PNG's path, if drawn."""
    history = [bar.to_dict() for bar in session.history]
    run.log_json({"bpm": float(cfg.bpm), "max_bars": session.max_bars, "bars": history},
                 "arrangement.json")
    if layers_series:
        run.log_series("dj/layers", [len(bar.audible) for bar in session.history])
    if history and cfg.tracking.log_timeline:
        from rlmdj.tracking.record.timeline import plot_timeline

        return plot_timeline(history, run.artifact_path("arrangement.png"),
                             roles=list(session.palette.samples),
                             title=f"{cfg.dj.driver} · {session.palette.name}",
                             seconds_per_bar=session.grid.seconds_per_bar)
    return None


def log_trace(cfg: DictConfig, run: TrackedRun, driver: Driver, prompt: Any | None,
              performed: float | None) -> None:
    """The set's trace (drivers that keep a transcript), linked to the run and its prompt version."""
    if not run.tracked or not cfg.tracking.traces:
        return
    from rlmdj.tracking.traces import set_trace_from_driver

    try:
        record = set_trace_from_driver(driver)
        if record is None:
            return
        record.tags["rlmdj.run_name"] = run.run_name
        if performed is not None:
            record.started_at, record.ended_at = performed, time.time()
        run.log_trace(record, prompt)
    except Exception as exc:  # noqa: BLE001 - the transcript artifact holds the same record
        _error_tag(run, "trace", exc)


def log_set_audio(cfg: DictConfig, run: TrackedRun, audio: Any, *, stem: str) -> tuple[str, Path | None]:
    """Write the set (``stem="set"``) or a failed set's ``partial`` audio once, as an artifact,
    and tag its render hash; the artifact path and, with tracking off, the file on disk."""
    from rlmdj.tracking.record.audio import render_sha256, write_set_audio

    path = write_set_audio(run.artifact_path(f"audio/{stem}"), audio, sr=int(cfg.render.sample_rate),
                           fmt=str(cfg.render.artifact_format), wav_subtype=str(cfg.render.wav_subtype))
    run.set_tags({f"rlmdj.{'render' if stem == 'set' else stem}_sha256": render_sha256(audio)})
    return f"audio/{path.name}", (None if run.tracked else path)


def log_preview(cfg: DictConfig, run: TrackedRun, master: Any) -> tuple[bytes, str] | None:
    """The listening preview (``audio/preview.ogg``, at most 1 MB per minute): its bytes and MIME.

    The run card inlines the same bytes; comparisons' listening rooms read the artifact.
    """
    if not cfg.tracking.log_preview:
        return None
    sr = int(cfg.render.sample_rate)
    fmt = str(cfg.render.preview_format).lower()
    if fmt == "ogg":
        from rlmdj.tracking.record.audio import listening_preview

        data = listening_preview(master, sr=sr)
        run.artifact_path("audio/preview.ogg").write_bytes(data)
        return data, "audio/ogg"
    from rlmdj.audio.wavio import write_preview

    path = write_preview(run.artifact_path(f"audio/preview.{fmt}"), master, sr=sr, fmt=fmt)
    return path.read_bytes(), {"mp3": "audio/mpeg"}.get(fmt, f"audio/{fmt}")


def log_score(run: TrackedRun, score: ScoreResult, metrics: dict[str, float]) -> None:
    """The run's metrics, the per-window curves and ``scores.json``."""
    run.log_metrics(metrics)
    _log_windows(run, score)
    run.log_json(score.to_dict(), "scores.json")


def _log_windows(run: TrackedRun, score: ScoreResult) -> None:
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


def log_run_card(cfg: DictConfig, run: TrackedRun, *, score: ScoreResult | None, metrics: dict[str, float],
                 config_hash: str, session: Any, report: DriverReport, preview: tuple[bytes, str] | None,
                 timeline: Path | None, prompt: str | None) -> None:
    """The HTML run card (listen, timeline, window scores, decisions); never fails the run."""
    from rlmdj.tracking.record.run_card import (
        build_run_card,
        decisions_from_artifacts,
        decisions_from_history,
    )

    try:
        windows = [{"start_s": w.start_s, "duration_s": w.duration_s, "scores": dict(w.scores)}
                   for w in score.windows] if score is not None else []
        history = [bar.to_dict() for bar in session.history]
        subtitle = f"run {run.run_id} · config {config_hash}"
        if prompt:
            subtitle += f" · prompt {prompt}"
        html = build_run_card(
            title=f"{cfg.dj.driver} · {session.palette.name} · {cfg.bars} bars · replica {cfg.replica}",
            subtitle=subtitle, metrics=metrics, preview=preview[0] if preview else None,
            preview_mime=preview[1] if preview else "audio/ogg",
            timeline_png=timeline.read_bytes() if timeline is not None and timeline.is_file() else None,
            windows=windows,
            weights=dict(score.weights) if score is not None else None,
            decisions=decisions_from_history(history) + decisions_from_artifacts(report.artifacts),
            seconds_per_bar=session.grid.seconds_per_bar,
        )
        run.log_text(html, "run_card.html")
    except Exception as exc:  # noqa: BLE001 - the card is a view; the run's data is already logged
        _error_tag(run, "run_card", exc)


def log_description(cfg: DictConfig, run: TrackedRun, *, score: ScoreResult, metrics: dict[str, float],
                    palette: str, audio_file: str | None, prompt: str | None) -> None:
    """The run's note: scores, loudness, where to listen and the prompt version."""
    run.set_description(set_description(
        scorer=score.scorer, metrics=metrics, palette=palette, dj=str(cfg.dj.driver),
        bars=int(cfg.bars), audio_file=audio_file, prompt=prompt,
    ))
