"""What one run produced: :class:`RunOutcome`, shared by the run pipeline and its summaries.

A data model only: it imports nothing from the pipeline (:mod:`rlmdj.experiments.jobs.run`) or the
printers (:mod:`rlmdj.experiments.cli.summary`), so both depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rlmdj.scoring.base import ScoreResult

__all__ = ["RunOutcome"]


@dataclass
class RunOutcome:
    """What a run produced; ``status`` is the MLflow end state."""

    run_id: str | None
    status: str
    config_hash: str
    output_dir: Path
    score: ScoreResult | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    wav_path: Path | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    experiment_id: str | None = None
    run_name: str = ""
    audio_artifact: str | None = None  # e.g. audio/set.flac inside the run's artifacts
