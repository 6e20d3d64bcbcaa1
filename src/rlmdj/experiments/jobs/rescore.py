"""``rlmdj experiment=rescore``: score a finished sweep's sets again, in batches.

Sweeps can render and score with the offline proxy on CPU workers; the real scores then come
from one pass over the sweep on a GPU server or Modal: each FINISHED child's stored set
(``audio/set.*``) is fetched, ``scorer.max_batch_sets`` sets go per ``POST /score_batch`` (any
scorer works; an HTTP scorer batches), and each run gets ``<scorer>/CE..PQ`` and
``<scorer>/OBJ`` plus a tag naming the scorer's identity. A set the scorer refuses fails alone:
it is reported and the others are logged; the job then exits 1 with one line saying how many
failed. Re-running skips runs already scored (resume), so it retries only those.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlmdj.errors import EnvironmentProblem, ParameterError

__all__ = ["RESCORE_TAG_PREFIX", "rescore_job", "set_audio_path"]

RESCORE_TAG_PREFIX = "rlmdj.rescored."


def set_audio_path(client: Any, run_id: str, dst: str) -> Path:
    """Download the run's set audio (``audio/set.<ext>``); ParameterError if it has none."""
    found = [a.path for a in client.list_artifacts(run_id, "audio") if Path(a.path).stem == "set"]
    if not found:
        raise ParameterError(f"run {run_id} has no audio/set.* artifact to score")
    return Path(client.download_artifacts(run_id, sorted(found)[0], dst))


def rescore_job(cfg: DictConfig) -> None:
    """Score every FINISHED child of ``experiment.rescore.parent`` with ``cfg.scorer``."""
    import soundfile as sf
    from mlflow.entities import Metric, RunTag

    from rlmdj.analysis.from_store import resolve_parent
    from rlmdj.experiments.assemble import build_scorer
    from rlmdj.experiments.cli.progress import Progress
    from rlmdj.scoring.base import BatchScorer
    from rlmdj.tracking.store import open_store

    r = cfg.experiment.rescore
    if not r.parent:
        raise ParameterError("experiment.rescore.parent: name the sweep's parent run id (a unique prefix "
                             "is enough), e.g. experiment.rescore.parent=3f2a9c")
    # MLflow draws a "Downloading artifacts" bar per file; the sets are counted below instead.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client, _ = open_store(cfg.tracking)
    parent = resolve_parent(client, str(r.parent), key="experiment.rescore.parent")
    pid = parent.info.run_id
    kids = client.search_runs([parent.info.experiment_id], max_results=10_000,
                              filter_string=f"tags.mlflow.parentRunId = '{pid}' and attributes.status = 'FINISHED'")
    scorer = build_scorer(cfg)
    metric = f"{scorer.name}/OBJ"
    todo = [k for k in kids if r.overwrite or metric not in k.data.metrics]
    size = max(1, int(cfg.scorer.max_batch_sets))
    done = failed = 0
    with tempfile.TemporaryDirectory(prefix="rlmdj-rescore-") as tmp, \
            Progress("rescoring", len(todo), unit="sets", enabled=bool(cfg.progress)) as progress:
        for c0 in range(0, len(todo), size):
            chunk, items = [], []
            for run in todo[c0 : c0 + size]:
                try:
                    audio, sr = sf.read(str(set_audio_path(client, run.info.run_id, tmp)), dtype="float32",
                                        always_2d=True)
                except (ParameterError, RuntimeError, OSError) as exc:
                    failed += 1
                    print(f"rlmdj: rescore: run {run.info.run_id} skipped: {exc}", file=sys.stderr)
                    continue
                chunk.append(run)
                items.append((audio, int(sr)))
            if not items:
                progress.update(done + failed)
                continue
            outcomes = (scorer.score_batch_outcomes(items) if isinstance(scorer, BatchScorer)
                        else [scorer.score(a, sr=s) for a, s in items])
            now = int(time.time() * 1000)
            for run, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    failed += 1
                    print(f"rlmdj: rescore: run {run.info.run_id} not scored: {outcome}", file=sys.stderr)
                    continue
                client.log_batch(
                    run.info.run_id,
                    metrics=[Metric(k, float(v), now, 0) for k, v in outcome.metrics().items()],
                    tags=[RunTag(f"{RESCORE_TAG_PREFIX}{scorer.name}", str(outcome.identity))],
                )
                done += 1
            progress.update(done + failed)
            for path in Path(tmp).rglob("*"):
                if path.is_file():
                    path.unlink()
    print(f"rescore: sweep {pid}: {done} of {len(kids)} finished runs scored with {scorer.identity}"
          + (f"; {len(kids) - len(todo)} already had {metric}" if len(kids) > len(todo) else "")
          + (f"; {failed} failed" if failed else ""))
    if failed:
        raise EnvironmentProblem(f"experiment.rescore: {failed} of {len(todo)} set(s) could not be scored "
                                 "(each is named above); run the same command again to retry only those")
    return None
