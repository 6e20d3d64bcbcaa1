"""The search sweep's record: on its MLflow parent run, and as files in the sweep folder.

As trials end: metrics ``search/trial_value`` and ``search/best_value`` at step = trial number
(the optimisation history, live in the MLflow UI); during the confirmation
``search/confirm/{mean,ci_low,ci_high}`` at step = fresh replicas per configuration. At the end:
tags ``rlmdj.search.{best_trial,best_value,best_params,trials_complete,trials_failed,outcome,
verdict}``, metrics ``search/trials_failed`` and ``search/trials_complete``, and artifacts ``search/optimization_history.png``,
``search/param_importances.png`` and ``search/search.json`` (settings, space, every trial, the
confirmation's rounds and values). The verdict leads the parent's description. The same files
are written under ``<sweep dir>/search/``; without tracking only there. Writes go through the
scrubbing client, like the sequential sweeper's record.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from rlmdj.experiments.sweep.context import SWEEP_FILE
from rlmdj.search.loop import Confirmation, TrialResult
from rlmdj.search.study import StudySummary

__all__ = ["SearchLog"]

_NOTE = "mlflow.note.content"


class SearchLog:
    """Writes a search's progress and summary to the sweep's parent run and folder."""

    def __init__(self, client: Any | None, parent: str | None, out_dir: Path) -> None:
        self.client, self.parent, self.out_dir = client, parent, Path(out_dir)

    @classmethod
    def from_sweep_dir(cls, sweep_dir: Path) -> SearchLog:
        info_file = Path(sweep_dir) / SWEEP_FILE
        out = Path(sweep_dir) / "search"
        if not info_file.is_file():
            return cls(None, None, out)
        from rlmdj.tracking.scrubbing import scrubbing_client

        info = json.loads(info_file.read_text())
        return cls(scrubbing_client(info["tracking_uri"]), info["parent_run_id"], out)

    def sweep_hash(self) -> str | None:
        """The parent's ``rlmdj.sweep_hash``: what the callback matches a resumed sweep by."""
        if self.client is None:
            return None
        return self.client.get_run(self.parent).data.tags.get("rlmdj.sweep_hash")

    def start(self, tags: dict[str, str]) -> None:
        if self.client is not None:
            for k, v in tags.items():
                self.client.set_tag(self.parent, k, v[:4000])

    def _metrics(self, values: dict[str, float], step: int) -> None:
        if self.client is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items() if math.isfinite(v)]
        if metrics:
            self.client.log_batch(self.parent, metrics=metrics)

    def trial(self, result: TrialResult, best: float | None) -> None:
        values = {"search/trial_value": result.mean, "search/trial_sd": result.sd}
        if best is not None:
            values["search/best_value"] = best
        self._metrics(values, result.number)

    def confirm_round(self, c: Confirmation) -> None:
        last = c.rounds[-1]
        self._metrics({"search/confirm/mean": last["mean"], "search/confirm/ci_low": c.low,
                       "search/confirm/ci_high": c.high}, int(last["replicas"]))

    def finish(self, *, study: Any, summary: StudySummary, record: dict[str, Any], verdict: str,
               outcome: str) -> dict[str, Path]:
        """Plots, ``search.json`` and the summary tags; returns the files written."""
        from rlmdj.search.study import save_plots

        self.out_dir.mkdir(parents=True, exist_ok=True)
        files = save_plots(study, self.out_dir)
        record_file = self.out_dir / "search.json"
        record_file.write_text(json.dumps(record, indent=2, default=str))
        files["search"] = record_file
        if self.client is None:
            return files
        tags = {
            "rlmdj.search.trials_complete": str(summary.complete),
            "rlmdj.search.trials_failed": str(summary.failed),
            "rlmdj.search.outcome": outcome,
            "rlmdj.search.verdict": verdict,
        }
        if summary.best_number is not None:
            tags.update({"rlmdj.search.best_trial": str(summary.best_number),
                         "rlmdj.search.best_value": f"{summary.best_value:.6g}",
                         "rlmdj.search.best_params": json.dumps(summary.best_params, default=str)})
        for k, v in tags.items():
            self.client.set_tag(self.parent, k, v[:4000])  # MLflow caps tag values; all is in the JSON
        self._metrics({"search/trials_failed": float(summary.failed),
                       "search/trials_complete": float(summary.complete)}, 0)
        note = self.client.get_run(self.parent).data.tags.get(_NOTE, "")
        sweep = note[note.find("Sweep: `"):] if "Sweep: `" in note else note  # a resumed sweep's: once
        self.client.set_tag(self.parent, _NOTE, (verdict + "\n\n" + sweep).strip()[:4000])
        for path in files.values():
            self.client.log_artifact(self.parent, str(path), "search")
        return files
