"""A study stopped by SIGTERM continues with ``experiment.resume=true``: the first parent run ends
KILLED with its state, the second continues it (tagged ``rlmdj.optimize.resumed_from``) and no
(candidate, brief, replica) set is played twice."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from console_script import RLMDJ, run_rlmdj
from fake_openai import FakeOpenAI
from mlflow import MlflowClient

pytestmark = [pytest.mark.slow]

DJ = "print(add('kick', 0.92, 'four_on_floor'))\nprint(play(8))"
ARGS = ("experiment=optimize_prompt", "model=local", "dj.sandbox.kind=local", "prompt=baseline", "progress=false",
        "guardrails.critic=false", "experiment.optimize.palettes=[c0,c1,c2,c3]", "experiment.optimize.n_train=2",
        "experiment.optimize.n_val=1", "experiment.optimize.n_heldout=1", "experiment.optimize.minibatch=1",
        "experiment.optimize.val_replicas=2", "experiment.optimize.bars=16", "experiment.optimize.max_metric_calls=9",
        "experiment.optimize.reflection_model=openai/reflect", "experiment.optimize.reflection_api_key_env=RK")


def played(cwd: Path) -> int:
    logs = list(cwd.glob("outputs/*/*/optimize/state/rollouts.jsonl"))
    return sum(len(p.read_text().splitlines()) for p in logs)


def test_sigterm_then_resume_continues_the_study(tmp_path: Path, sample_index, pack_cache_dir, process_group):
    from rlmdj.audio.palette import random_palette

    for i in range(4):
        random_palette(sample_index, seed=300 + i, name=f"c{i}").save(tmp_path / "palettes" / f"c{i}.json")
    n = itertools.count(1)
    with FakeOpenAI([], fallback=DJ) as dj, \
            FakeOpenAI([], reply=lambda body: f"Hold longer.\n```\nPlay a steady set, variant {next(n)}.\n```") as refl:
        args = (*ARGS, f"model.api_base={dj.base_url}", f"experiment.optimize.reflection_api_base={refl.base_url}")
        env = {**os.environ, "RK": "k"}
        env.pop("HYDRA_FULL_ERROR", None)
        proc = process_group([RLMDJ, *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        while played(tmp_path) < 4 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        assert proc.returncode != 0
        first_sets = played(tmp_path)
        second = run_rlmdj(tmp_path, *args, "experiment.resume=true", env={"RK": "k"}, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resume: continuing the study of run" in second.stderr

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    exp = client.get_experiment_by_name("rlmdj").experiment_id
    parents = client.search_runs([exp], "tags.`rlmdj.experiment` = 'optimize_prompt' and "
                                 "tags.`rlmdj.optimize.prompt` = 'baseline'", order_by=["attributes.start_time ASC"])
    assert [p.info.status for p in parents] == ["KILLED", "FINISHED"]
    first, last = parents
    assert last.data.tags["rlmdj.optimize.resumed_from"] == first.info.run_id
    assert any(a.path == "optimize/state" for a in client.list_artifacts(first.info.run_id, "optimize"))
    summary = json.loads(Path(client.download_artifacts(last.info.run_id, "optimize/summary.json",
                                                         str(tmp_path / "dl"))).read_text())
    assert summary["metric_calls"] == 9 and summary["stop_reason"].startswith("max_metric_calls")
    done = [c for p in parents for c in client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{p.info.run_id}'")
            if c.info.status == "FINISHED"]
    keys = [tuple(c.data.tags[f"rlmdj.optimize.{k}"] for k in ("candidate", "brief", "replica")) for c in done]
    assert len(keys) == len(set(keys)) == 9 + summary["confirmation_sets"]  # none played twice
    assert first_sets >= 4 and played(tmp_path) >= 9
