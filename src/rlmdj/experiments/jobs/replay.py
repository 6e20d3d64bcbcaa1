"""``rlmdj experiment=replay``: reproduce an RLM run without calling the model.

The source is an MLflow run (``experiment.replay.run_id=<id>``, its ``dj/transcript.json`` artifact) or a
transcript file (``experiment.replay.transcript=path``). The replay reuses the recorded palette, set length
and the DJ/guardrail/sample/render settings, serves the recorded LM responses in order, and is
tracked as a new run tagged ``rlmdj.replay_of``. Its audio is byte-identical to the original;
if the replay asks for anything the transcript does not hold, the run fails with the divergence
reported (tag ``dj.replay_divergence``) instead of carrying on.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from rlmdj.config.bind import bind
from rlmdj.config.dj import ReplayConfig
from rlmdj.dj.rlm.transcript import Transcript
from rlmdj.errors import ParameterError

__all__ = ["check", "replay_job", "replay_overrides", "transcript_from_run"]


def transcript_from_run(cfg: DictConfig, run_id: str, dest: Path) -> Path:
    """Download ``dj/transcript.json`` of MLflow run ``run_id`` into ``dest``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=str(cfg.tracking.uri))
    try:
        local = client.download_artifacts(run_id, "dj/transcript.json", str(dest))
    except Exception as exc:  # noqa: BLE001 - MLflow raises several types for a missing run/file
        raise ParameterError(
            f"run {run_id!r} has no dj/transcript.json artifact ({exc}); only dj=rlm runs can be replayed"
        ) from None
    return Path(local)


def replay_overrides(cfg: DictConfig, transcript: Transcript, path: Path, workdir: Path) -> DictConfig:
    """``cfg`` with the recorded set parameters, palette and settings, and the replay source."""
    meta = transcript.meta
    new = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    OmegaConf.set_struct(new, False)
    recorded: dict[str, Any] = dict(meta.get("config") or {})
    for key in ("bars", "bpm", "replica"):
        if key in recorded:
            new[key] = recorded[key]
    new.bars = int(meta.get("bars", new.bars))
    new.bpm = float(meta.get("bpm", new.bpm))
    for group in ("dj", "guardrails", "samples", "render", "ears"):
        if group in recorded:
            new[group] = OmegaConf.merge(new.get(group) or {}, recorded[group])
    palette = meta.get("palette")
    if palette:
        pfile = workdir / "replayed_palette.json"
        pfile.write_text(json.dumps(palette, indent=1))
        new.palette.source = "file"
        new.palette.name = str(palette.get("name", "replayed"))
        new.palette.path = str(pfile)
    with open_dict(new):
        new.dj.driver = "rlm"
        new.dj.replay_transcript = str(path)
        new.experiment.name = "run"
    return new


def check(cfg: DictConfig) -> None:
    """What the replayed run reads that is not recorded: the store, the scorer, the folders (the
    DJ, the palette and the set come from the recording)."""
    from rlmdj.experiments.cli.preflight import (
        check_folders,
        check_numbers,
        check_scorer,
        check_tracking,
    )

    check_numbers(cfg)
    check_tracking(cfg)
    check_scorer(cfg)
    check_folders(cfg)


def replay_job(cfg: DictConfig) -> float | None:
    """Replay one recorded RLM run as a new tracked run; returns its OBJ."""
    from rlmdj.experiments.cli.summary import print_run_summary
    from rlmdj.experiments.jobs.run import run_set

    rcfg = bind(cfg.experiment.replay, ReplayConfig, "experiment.replay")
    run_id, file = rcfg.run_id, rcfg.transcript
    if bool(run_id) == bool(file):
        raise ParameterError(
            "experiment=replay needs exactly one source: experiment.replay.run_id=<mlflow run id> "
            "or experiment.replay.transcript=path/to/transcript.json"
        )
    # The downloaded transcript and replayed palette are only needed while the set replays.
    with tempfile.TemporaryDirectory(prefix="rlmdj-replay-") as tmp:
        workdir = Path(tmp)
        path = transcript_from_run(cfg, str(run_id), workdir) if run_id else Path(str(file))
        transcript = Transcript.load(path)
        if run_id:
            transcript.meta["run_id"] = str(run_id)
            path = transcript.save(workdir / "transcript.json")
        new = replay_overrides(cfg, transcript, path, workdir)
        outcome = run_set(new, extra_tags={"rlmdj.replay_of": str(run_id or file),
                                           "rlmdj.replay": "true"})
    print_run_summary(new, outcome)
    return outcome.score.obj if outcome.score is not None else None
