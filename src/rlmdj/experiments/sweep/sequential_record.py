"""The sequential sweep's record on its MLflow parent run: rounds, stopping reason, verdict.

Per round, metrics ``sequential/<condition>/{mean,ci_low,ci_high}`` at step = replicas per
condition (chart them to watch the interval close); at the end, tags
``rlmdj.sequential.{rounds,replicas,stop_reason,verdict}`` and ``sequential/sequential.json``.
The verdict tag leads the parent's description, above the end-of-sweep comparison.
Without tracking (``tracking.enabled=false``) nothing is written and the sweep still runs.
Writes go through :class:`rlmdj.tracking.scrubbing.ScrubbingClient`: a secret in a condition
(``+model.extra.api_key=sk-a,sk-b``) is masked in the tags, the JSON and the metric keys.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from rlmdj.analysis.verdict import metric_name
from rlmdj.experiments.sweep.context import SWEEP_FILE
from rlmdj.experiments.sweep.sequential import SequentialState
from rlmdj.secrets import scrub_key

__all__ = ["ParentLog"]


class ParentLog:
    """Writes a :class:`SequentialState` to the sweep's parent run (a no-op without one)."""

    def __init__(self, client: Any | None, parent: str | None) -> None:
        self.client, self.parent = client, parent

    @classmethod
    def from_sweep_dir(cls, sweep_dir: Path) -> ParentLog:
        info_file = Path(sweep_dir) / SWEEP_FILE
        if not info_file.is_file():
            return cls(None, None)
        from rlmdj.tracking.scrubbing import scrubbing_client

        info = json.loads(info_file.read_text())
        # The scrubbing client, like every writer: a condition may carry a secret (a swept key).
        return cls(scrubbing_client(info["tracking_uri"]), info["parent_run_id"])

    def round(self, state: SequentialState) -> None:
        if self.client is None:
            return
        from mlflow.entities import Metric

        last = state.rounds[-1]
        now, step = int(time.time() * 1000), int(last["replicas"])
        metrics = []
        for cond, v in last["contrasts"].items():
            # Masked while the key is still beside its value (``password=...`` alone is a word).
            name = scrub_key(cond)
            prefix = f"sequential/{metric_name(name.split('=', 1)[-1] if name.count('=') == 1 else name)}"
            for key, value in (("mean", v["mean"]), ("ci_low", v["low"]), ("ci_high", v["high"])):
                if math.isfinite(value):
                    metrics.append(Metric(f"{prefix}/{key}", float(value), now, step))
        if metrics:
            self.client.log_batch(self.parent, metrics=metrics)
        self.client.set_tag(self.parent, "rlmdj.sequential.rounds", str(len(state.rounds)))

    def finish(self, state: SequentialState, *, stop_reason: str | None = None) -> None:
        if stop_reason:
            state.stop_reason = stop_reason
        if self.client is None:
            return
        verdicts = state.verdicts()
        tags = {
            "rlmdj.sequential.rounds": str(len(state.rounds)),
            "rlmdj.sequential.replicas": str(state.rounds[-1]["replicas"] if state.rounds else 0),
            "rlmdj.sequential.stop_reason": state.stop_reason or "interrupted",
            "rlmdj.sequential.verdict": "Sequential sweep (" + _reason(state) + "):\n"
                                       + "\n".join(f"- {v}" for v in verdicts),
        }
        for k, v in tags.items():
            self.client.set_tag(self.parent, k, v[:4000])  # MLflow caps tag values; all is in the JSON
        with tempfile.TemporaryDirectory(prefix="rlmdj-seq-") as tmp:
            path = Path(tmp) / "sequential.json"
            path.write_text(state.to_json())
            self.client.log_artifact(self.parent, str(path), "sequential")


def _reason(state: SequentialState) -> str:
    n = state.rounds[-1]["replicas"] if state.rounds else 0
    return {"decided": f"every contrast decided after {n} replicas per condition",
            "max_replicas": f"stopped at max_replicas={n}",
            "job_failed": f"stopped after a failed job, {n} replicas per condition",
            }.get(state.stop_reason, state.stop_reason or "interrupted")
