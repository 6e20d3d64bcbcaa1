"""The short end-of-run summary: scores, signal, where the time went, how to look at it."""

from __future__ import annotations

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from rlmdj.axes import OBJ_AND_AXES
from rlmdj.experiments.outcome import RunOutcome

__all__ = ["print_job_line", "print_run_summary", "print_ui_lines"]


def print_run_summary(cfg: DictConfig, outcome: RunOutcome, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"rlmdj run · {outcome.status}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    keys = [k for k in outcome.metrics if k.split("/")[-1] in OBJ_AND_AXES]
    keys += [k for k in ("signal/lufs", "signal/peak_dbfs", "signal/silence_fraction") if k in outcome.metrics]
    for key in keys:
        table.add_row(key, f"{outcome.metrics[key]:.3f}")
    console.print(table)
    if outcome.timings_s:
        spent = ", ".join(f"{k} {v:.2f}s" for k, v in outcome.timings_s.items())
        console.print(f"time: {spent}", soft_wrap=True)
    if outcome.wav_path is not None:
        console.print(f"audio: {outcome.wav_path}", soft_wrap=True)
    if outcome.run_id:
        console.print(f"run {outcome.run_name or outcome.run_id} (experiment "
                      f"{cfg.tracking.experiment!r}); audio: {outcome.audio_artifact or 'none'} "
                      "and run_card.html in its artifacts", soft_wrap=True)
        print_ui_lines(cfg, outcome.experiment_id, outcome.run_id)


def print_ui_lines(cfg: DictConfig, experiment_id: str | None, run_id: str | None) -> None:
    """The last lines of a job: the run's URL and a UI command that works from any shell.

    Plain ``print`` so a terminal never wraps them inside a word: each is one pasteable line.
    """
    from rlmdj.tracking.store import run_url, ui_command  # MLflow: only once a run was tracked

    if experiment_id and run_id:
        print(f"run URL: {run_url(cfg.tracking, experiment_id, run_id)}", flush=True)
    command = ui_command(cfg.tracking)
    if command != str(cfg.tracking.uri):
        print(f"MLflow UI: {command}", flush=True)


def print_job_line(outcome: RunOutcome, label: str, console: Console | None = None) -> None:
    """One line per sweep job, so the sweep's closing comparison is not buried."""
    console = console or Console()
    obj = f"{outcome.score.scorer}/OBJ {outcome.score.obj:.3f}" if outcome.score is not None else "no score"
    console.print(f"{label}: {obj} · {outcome.status} · run {outcome.run_id}", soft_wrap=True)
