"""The short end-of-run summary: scores, signal, where the time went, how to look at it."""

from __future__ import annotations

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from rlmdj.experiments.outcome import RunOutcome
from rlmdj.tracking import ui_command

__all__ = ["print_job_line", "print_run_summary"]


def print_run_summary(cfg: DictConfig, outcome: RunOutcome, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"rlmdj run · {outcome.status}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    keys = [k for k in outcome.metrics if k.split("/")[-1] in ("OBJ", "CE", "CU", "PC", "PQ")]
    keys += [k for k in ("signal/lufs", "signal/peak_dbfs", "signal/silence_fraction") if k in outcome.metrics]
    for key in keys:
        table.add_row(key, f"{outcome.metrics[key]:.3f}")
    console.print(table)
    if outcome.timings_s:
        spent = ", ".join(f"{k} {v:.2f}s" for k, v in outcome.timings_s.items())
        console.print(f"time: {spent}")
    if outcome.wav_path is not None:
        console.print(f"audio: {outcome.wav_path}")
    if outcome.run_id:
        console.print(f"run id: [bold]{outcome.run_id}[/bold]  (experiment {cfg.tracking.experiment!r})")
        console.print(f"open the MLflow UI: [bold]{ui_command(cfg.tracking)}[/bold]")


def print_job_line(outcome: RunOutcome, label: str, console: Console | None = None) -> None:
    """One line per sweep job, so the sweep's closing comparison is not buried."""
    console = console or Console()
    obj = f"{outcome.score.scorer}/OBJ {outcome.score.obj:.3f}" if outcome.score is not None else "no score"
    console.print(f"{label}: {obj} · {outcome.status} · run {outcome.run_id}", soft_wrap=True)
