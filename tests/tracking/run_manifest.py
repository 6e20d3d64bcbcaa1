"""The shape of what a set leaves in MLflow, as keys only: params, tags, metrics with their steps,
artifact paths, inputs, traces and prompt links. Values that differ between two runs of the same
config (times, ids, hashes of timestamps) are left out, so two recordings compare key by key.

``python tests/tracking/run_manifest.py <out.json>`` records the default set and a traced,
prompted set in a scratch store and writes their manifests (``data/run_manifest.json`` was made so,
by the synchronous recorder, before runs were recorded in the background).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

# The config each manifest records (besides paths and progress=false).
CASES: dict[str, list[str]] = {"default": ["bars=16"], "traced": ["bars=16"]}


class TracedDriver:
    """The reference DJ with a transcript and a prompt: its run has a trace and a prompt version,
    which the default set has not (the RLM needs the sandbox; this needs nothing)."""

    prompt_name = "manifest"
    prompt_text = "play a techno set"

    def __init__(self, inner: Any) -> None:
        import time

        self._inner = inner
        self.name = inner.name
        now = time.time()
        self.transcript = type("T", (), {})()
        self.transcript.meta = {"prompt_name": "manifest", "model": "openai/gpt-test", "bars": 16}
        self.transcript.calls = [{
            "lm": "main", "model": "openai/gpt-test", "attempt": 0,
            "messages": [{"role": "user", "content": "go"}], "options": {},
            "outputs": ["[[ ## reasoning ## ]]\nthink\n\n[[ ## code ## ]]\n```python\nprint(play(16))\n```"],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}, "cost": 0.0, "error": None,
            "wall_s": 0.01, "ended_at": now}]
        self.tools = type("Tools", (), {})()
        self.tools.trace = [{"seq": 0, "tool": "play", "args": [16], "bar": 0, "result": {"ok": True},
                             "t0": now, "t1": now + 0.01}]
        self.replay = None
        self.stop_reason, self.summary, self.autopilot_bars = "submit", "", 0

    def system_text(self) -> str:
        return self.prompt_text

    def perform(self, session: Any) -> None:
        self._inner.perform(session)

    def report(self) -> Any:
        return self._inner.report()


def _artifacts(client: Any, run_id: str, path: str | None = None) -> list[str]:
    out: list[str] = []
    for info in client.list_artifacts(run_id, path):
        out += _artifacts(client, run_id, info.path) if info.is_dir else [info.path]
    return sorted(out)


def manifest(client: Any, run_id: str) -> dict[str, Any]:
    """The keys a run holds: what a recorder must reproduce, whatever the values."""
    import mlflow

    mlflow.set_tracking_uri(client.tracking_uri)  # search_traces asks the fluent API's store
    run = client.get_run(run_id)
    metrics = {key: sorted(m.step for m in client.get_metric_history(run_id, key))
               for key in run.data.metrics}
    inputs = sorted(f"{[t.value for t in d.tags if t.key == 'mlflow.data.context'][0]}:{d.dataset.name}"
                    for d in run.inputs.dataset_inputs)
    traces = mlflow.search_traces(locations=[run.info.experiment_id], run_id=run_id, return_type="list")
    return {
        "status": run.info.status,
        "params": sorted(run.data.params),
        "tags": sorted(run.data.tags),
        "metrics": {k: metrics[k] for k in sorted(metrics)},
        "artifacts": _artifacts(client, run_id),
        "inputs": inputs,
        "traces": [sorted(s.name for s in t.data.spans) for t in traces],
        "trace_tags": [sorted(k for k in t.info.tags if not k.startswith("mlflow.")) for t in traces],
        "prompts": sorted(tag for tag in run.data.tags if tag.startswith("rlmdj.prompt")),
    }


def record(case: str, root: Path, *, synchronous: bool = False) -> dict[str, Any]:
    """Record ``case`` with :func:`rlmdj.experiments.jobs.run.run_set` under ``root``; its manifest.

    ``synchronous``: with the run's process writing to the store itself (:class:`TrackedRun`).
    """
    from hydra import compose, initialize_config_dir
    from mlflow.tracking import MlflowClient

    from rlmdj.config import register_configs
    from rlmdj.experiments.jobs import run as job
    from rlmdj.resources import bundled_dir

    register_configs()
    with initialize_config_dir(config_dir=str(bundled_dir("conf")), version_base="1.3"):
        cfg = compose("config", overrides=[f"paths.root_dir={root}", f"paths.output_dir={root}/out",
                                           "progress=false", *CASES[case]])
    make, queued = job.make_driver, getattr(job, "_open_queued", None)
    if case == "traced":
        job.make_driver = lambda c: TracedDriver(make(c))
    if synchronous and queued is not None:
        job._open_queued = lambda c, parent, tags, *, run_name, out_dir: job._open_run(
            c, parent, tags, run_name=run_name, keep_dir=out_dir)
    try:
        outcome = job.run_set(cfg)
    finally:
        job.make_driver = make
        if queued is not None:
            job._open_queued = queued
    return manifest(MlflowClient(f"sqlite:///{root}/mlruns.db"), outcome.run_id)


def main(out: str) -> None:
    found = {}
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            found[case] = record(case, Path(tmp))
    Path(out).write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
