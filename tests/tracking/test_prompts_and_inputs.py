"""Prompt versions follow the text; screening candidates are the screening run's input."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from rlmdj.tracking.prompts import register_prompt, registry_name
from rlmdj.tracking.run import TrackedRun


@pytest.fixture()
def client(store_uri):
    mlflow.set_tracking_uri(store_uri)
    return MlflowClient(store_uri)


def _run(client, exp):
    return TrackedRun(client, exp)


def test_prompt_versions_are_reused_for_the_same_text_and_bumped_when_it_changes(client):
    exp = client.create_experiment("rlmdj")
    runs = [_run(client, exp) for _ in range(3)]
    with runs[0] as r0:
        v1 = register_prompt(r0, name="baseline", text="Play techno.")
    with runs[1] as r1:
        again = register_prompt(r1, name="baseline", text="Play techno.")
    with runs[2] as r2:
        v2 = register_prompt(r2, name="baseline", text="Play techno, slowly.")
    assert (v1.name, int(v1.version)) == ("rlmdj-baseline", 1)
    assert int(again.version) == 1 and int(v2.version) == 2
    assert sorted(int(v.version) for v in client.search_prompt_versions("rlmdj-baseline")) == [1, 2]
    tags = client.get_run(r1.run_id).data.tags
    assert tags["rlmdj.prompt_version"] == "rlmdj-baseline v1"
    assert '"rlmdj-baseline"' in tags["mlflow.linkedPrompts"]
    assert client.get_run(r2.run_id).data.tags["rlmdj.prompt_uri"] == "prompts:/rlmdj-baseline/2"


def test_registry_names_are_safe():
    assert registry_name("hypnotic_peak") == "rlmdj-hypnotic_peak"
    assert registry_name("my prompt/v2") == "rlmdj-my-prompt-v2"


@pytest.mark.slow
def test_screening_logs_its_candidates_as_a_dataset(tmp_path, compose_cfg):
    from rlmdj.experiments.jobs.screen import screen_palettes

    cfg = compose_cfg("experiment=screen_palettes", "experiment.screen.n=3", "experiment.screen.top_k=1",
                      "experiment.screen.bars=4", "experiment.screen.workers=1", "experiment.screen.seed=5")
    rows, saved, run_id = screen_palettes(cfg)
    run = MlflowClient(f"sqlite:///{tmp_path}/mlruns.db").get_run(run_id)
    assert run.info.run_name == "screen n=3"
    contexts = {[t.value for t in d.tags if t.key == "mlflow.data.context"][0]: d.dataset
                for d in run.inputs.dataset_inputs}
    assert set(contexts) == {"screening", "samples"}
    assert contexts["screening"].name == "screen-s5-candidates"
    assert '"n": 3' in contexts["screening"].source
    assert not any(k.startswith(("experiment.gap.", "serve.", "dj.", "model.")) for k in run.data.params)
    assert "experiment.screen.n" in run.data.params


def test_comparisons_name_the_prompt_versions_each_condition_played():
    from rlmdj.analysis.compare import compare
    from rlmdj.analysis.records import RunRecord

    records = []
    for prompt, version, base in (("baseline", "rlmdj-baseline v1", 6.0), ("v7", "rlmdj-v7 v3", 6.4)):
        for r in range(3):
            records.append(RunRecord(
                run_id=f"{prompt}{r}", condition={"prompt": prompt}, metrics={"proxy/OBJ": base + 0.1 * r},
                scorer="proxy-v1", replica=r, config_hash=f"{prompt}{r}", palette_hash=f"p{r}",
                prompt_version=version, job=len(records)))
    result = compare(records)
    (note,) = [n for n in result.notes if n.startswith("prompt versions: ")]
    assert "prompt=baseline: rlmdj-baseline v1" in note and "prompt=v7: rlmdj-v7 v3" in note
