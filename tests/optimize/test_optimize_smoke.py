"""One study through the ``rlmdj`` command with scripted LMs: a DJ whose play follows one idea in
its instructions and a reflection model that proposes that idea first. The better prompt is
accepted, chosen, confirmed on held-out briefs and written as a prompt file; everything is in
MLflow (parent run with state, table, summary and verdict; a child run per set; a registry
version per candidate with its lineage)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from console_script import run_rlmdj
from idea_dj import IdeaDJ, with_idea
from mlflow import MlflowClient
from scripted_reflection import ScriptedReflection

from rlmdj.resources import bundled_dir

pytestmark = [pytest.mark.slow]

BASE = (bundled_dir("prompts") / "baseline.txt").read_text()


def test_a_study_accepts_chooses_confirms_and_writes_the_better_prompt(tmp_path: Path, sample_index,
                                                                      pack_cache_dir):
    from rlmdj.audio.palette import random_palette

    for i in range(6):
        random_palette(sample_index, seed=200 + i, name=f"b{i}").save(tmp_path / "palettes" / f"b{i}.json")
    good = with_idea(BASE, "good")
    with IdeaDJ() as dj, ScriptedReflection([good]) as reflection:
        proc = run_rlmdj(
            tmp_path, "experiment=optimize_prompt", "model=local", f"model.api_base={dj.base_url}",
            "dj.sandbox.kind=local", "prompt=baseline", "progress=false", "guardrails.critic=false",
            "experiment.optimize.palettes=[b0,b1,b2,b3,b4,b5]", "experiment.optimize.n_train=2",
            "experiment.optimize.n_val=2", "experiment.optimize.n_heldout=2", "experiment.optimize.minibatch=2",
            "experiment.optimize.val_replicas=1", "experiment.optimize.max_replicas=4",
            "experiment.optimize.alpha=0.2", "experiment.optimize.bars=16", "experiment.optimize.max_metric_calls=24",
            "experiment.optimize.confirm_max_pairs=12", "experiment.optimize.reflection_model=openai/reflect",
            f"experiment.optimize.reflection_api_base={reflection.base_url}",
            "experiment.optimize.reflection_api_key_env=RLMDJ_TEST_REFLECT_KEY",
            env={"RLMDJ_TEST_REFLECT_KEY": "k"}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "optimize forecast" in proc.stderr and "optimize_prompt: candidates" in proc.stdout

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    exp = client.get_experiment_by_name("rlmdj").experiment_id
    (parent,) = client.search_runs([exp], "tags.`rlmdj.experiment` = 'optimize_prompt' and "
                                   "tags.`rlmdj.optimize.prompt` = 'baseline'")
    children = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert parent.info.status == "FINISHED"
    summary = json.loads(Path(client.download_artifacts(parent.info.run_id, "optimize/summary.json",
                                                         str(tmp_path / "dl"))).read_text())
    # The idea the DJ plays better with was accepted, chosen and confirmed.
    assert summary["chosen_index"] == 1 and summary["verdict"] == "better", summary
    assert len(children) == summary["metric_calls"] + summary["confirmation_sets"]
    assert {c.data.tags["rlmdj.optimize.split"] for c in children} == {"train", "val", "heldout"}
    assert all(c.info.status == "FINISHED" for c in children)
    description = parent.data.tags["mlflow.note.content"]
    assert "Verdict: better" in description and "OBJ [" in description
    arts = {a.path for a in client.list_artifacts(parent.info.run_id, "optimize")}
    assert {"optimize/candidates.csv", "optimize/confirmation.json", "optimize/state"} <= arts
    # The candidate's registry version carries its lineage.
    versions = list(client.search_prompt_versions("rlmdj-baseline", max_results=1000))
    child = next(v for v in versions if v.template == good.strip() or v.template == good)
    assert child.tags["rlmdj.optimize.accepted"] == "true" and child.tags["rlmdj.optimize.iteration"] == "1"
    assert child.tags["rlmdj.optimize.parent_version"].startswith("rlmdj-baseline v")
    assert "rlmdj.optimize.val_mean" in child.tags and "rlmdj.optimize.minibatch_child" in child.tags
    # The prompt file: a new one, usable as prompt=baseline_opt_1, its header not sent.
    written = tmp_path / "prompts" / "baseline_opt_1.txt"
    assert written.is_file() and written.read_text().startswith("# rlmdj optimised prompt")
    shown = run_rlmdj(tmp_path, "dj=rlm", "model=local", "prompt=baseline_opt_1", "--cfg", "job", timeout=120)
    assert shown.returncode == 0 and "baseline_opt_1.txt" in shown.stdout, shown.stderr[-2000:]
    assert os.environ.get("RLMDJ_TEST_REFLECT_KEY") is None
