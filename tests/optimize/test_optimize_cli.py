"""``rlmdj experiment=optimize_prompt`` end to end through the command, against scripted servers.

The DJ (:mod:`idea_dj`) plays clearly better sets when its instructions hold "long holds at the
peak", clearly worse ones with "cut everything to silence often", and the very same sets
otherwise; the reflection model (:mod:`scripted_reflection`) proposes, in order, a neutral
rewrite of the parent it is shown, the better idea, the worse one and another neutral rewrite.
The study runs twice on one store: first with a metric-call budget that stops it during its
second decision (the better rewrite's), then resumed (``experiment.resume=true``) with a larger
one, where GEPA repeats the interrupted iteration and the reflection proposes the better rewrite
again, then the worse one and a neutral one. Checked: the
better rewrite is accepted, chosen and confirmed better on the held-out palettes (the verdict is
in the study's description), the neutral and worse ones are rejected, every candidate is a
version of ``rlmdj-baseline`` in the Prompt Registry with its lineage tags, every set is a child
run with its trace, the resumed study plays no set the first one played, and the chosen prompt
is written to ``prompts/baseline_opt_1.txt`` and plays as ``prompt=baseline_opt_1``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from console_script import run_rlmdj
from idea_dj import BAD_IDEA, GOOD_IDEA, IdeaDJ, with_idea
from mlflow.tracking import MlflowClient
from scripted_reflection import ScriptedReflection

from rlmdj.resources import bundled_dir

pytestmark = pytest.mark.slow

KEY_VAR = "RLMDJ_TEST_REFLECT_KEY"
PALETTES = [f"opt{i}" for i in range(6)]
BASE = (bundled_dir("prompts") / "baseline.txt").read_text()
STUDY = [
    "experiment=optimize_prompt", "model=local", "dj.sandbox.kind=local", "guardrails.critic=false",
    "prompt=baseline", "progress=false", f"experiment.optimize.palettes=[{','.join(PALETTES)}]",
    "experiment.optimize.n_train=2", "experiment.optimize.n_val=2", "experiment.optimize.n_heldout=2",
    "experiment.optimize.minibatch=2", "experiment.optimize.max_replicas=3",
    "experiment.optimize.val_replicas=1", "experiment.optimize.bars=16", "experiment.optimize.alpha=0.1",
    "experiment.optimize.confirm_max_pairs=8", "experiment.optimize.reflection_model=openai/reflect",
    f"experiment.optimize.reflection_api_key_env={KEY_VAR}",
]


def neutral(n: int):
    return lambda parent: with_idea(parent, "neutral", n)


def better(parent: str) -> str:
    return with_idea(parent, "good")


def worse(parent: str) -> str:
    return with_idea(parent, "bad")


def study(cwd: Path, dj: IdeaDJ, reflection: ScriptedReflection, calls: int, *extra: str):
    started = time.perf_counter()
    proc = run_rlmdj(cwd, *STUDY, f"model.api_base={dj.base_url}",
                     f"experiment.optimize.reflection_api_base={reflection.base_url}",
                     f"experiment.optimize.max_metric_calls={calls}", *extra,
                     env={KEY_VAR: "sk-test-reflection"}, timeout=420)
    assert proc.returncode == 0, proc.stderr[-4000:]
    print(f"study ({calls} calls{', resumed' if extra else ''}): {time.perf_counter() - started:.0f} s")
    return proc


def studies(client: MlflowClient) -> list:
    exp = client.get_experiment_by_name("rlmdj")
    return client.search_runs([exp.experiment_id], "tags.`rlmdj.optimize.prompt` = 'baseline'",
                              order_by=["attributes.start_time ASC"])


def sets_of(client: MlflowClient, parent_id: str) -> list:
    exp = client.get_experiment_by_name("rlmdj")
    return client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'",
                              max_results=1000)


def set_key(run) -> tuple[str, str, str]:
    t = run.data.tags
    return t["rlmdj.optimize.candidate"], t["rlmdj.optimize.brief"], t["rlmdj.optimize.replica"]


def lineage(client: MlflowClient, run_id: str) -> list[dict]:
    return json.loads(Path(client.download_artifacts(run_id, "optimize/lineage.json")).read_text())


def idea(text: str) -> str:
    """The idea a text plays (:func:`idea_dj.idea_of`'s rule: the worse one spoils the better)."""
    low = text.lower()
    return "bad" if BAD_IDEA in low else "good" if GOOD_IDEA in low else "neutral"


def change(text: str) -> str:
    """What the reflection changed: the idea of the line it added last (each proposal adds one)."""
    return idea(text.strip().splitlines()[-1])


@pytest.fixture
def palettes(tmp_path: Path, sample_index) -> list[Path]:
    """Six random palettes as files of the project's palettes folder (one per brief)."""
    from rlmdj.audio.palette import random_palette

    folder = tmp_path / "palettes"
    folder.mkdir()
    return [random_palette(sample_index, seed=2000 + i, name=name).save(folder / f"{name}.json")
            for i, name in enumerate(PALETTES)]


def test_the_study_accepts_the_better_rewrite_confirms_it_resumes_and_writes_it(tmp_path, palettes):
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    started = time.perf_counter()
    with IdeaDJ() as dj:
        # --- a first session, stopped by its metric-call budget (8 sets: the start's validation,
        # the neutral rewrite's decision, the better rewrite's minibatch) in its second decision
        with ScriptedReflection([neutral(1), better]) as reflection:
            study(tmp_path, dj, reflection, 8)
        (first,) = studies(client)
        assert first.info.status == "FINISHED"
        assert first.data.tags["rlmdj.optimize.stop_reason"].startswith("max_metric_calls")
        played_first = sets_of(client, first.info.run_id)
        assert len(played_first) == len(dj.opened) == 8  # one child run per set the DJ played
        assert len({set_key(r) for r in played_first}) == len(played_first)
        decided = [c for c in lineage(client, first.info.run_id) if c["iteration"] > 0]
        assert change(decided[0]["text"]) == "neutral" and not decided[0]["accepted"]
        assert decided[0]["reason"].startswith("rejected")
        assert not (tmp_path / "prompts").exists()  # the start was kept: nothing to write

        # --- resumed with a larger budget: GEPA's state picks up, no set is played again
        with ScriptedReflection([better, worse, neutral(2)]) as reflection:
            proc = study(tmp_path, dj, reflection, 22, "experiment.resume=true")
            shown = list(reflection.shown)
            keys = {h.get("Authorization") for h in reflection.headers}
        assert keys == {"Bearer sk-test-reflection"}  # the key from reflection_api_key_env
        assert "resume: continuing the study of run" in proc.stderr
        _, second = studies(client)
        assert second.data.tags["rlmdj.optimize.resumed_from"] == first.info.run_id
        played_second = sets_of(client, second.info.run_id)
        assert played_second and len(played_second) == len(dj.opened) - 8
        replayed = {set_key(r) for r in played_first} & {set_key(r) for r in played_second}
        assert not replayed, f"sets played again after the resume: {sorted(replayed)}"
        played = played_first + played_second
        assert all(r.info.status == "FINISHED" for r in played)
        # The resumed GEPA went on from its second iteration: the start was the parent shown first.
        assert shown and idea(shown[0]) == "neutral" and GOOD_IDEA not in shown[0]

        # --- the decisions: the better rewrite in, the neutral and worse ones out
        cands = lineage(client, second.info.run_id)
        proposed = [c for c in cands if c["iteration"] > 0]
        table = [(c["iteration"], change(c["text"]), c["accepted"], c["reason"][:60]) for c in proposed]
        accepted = [c for c in proposed if c["accepted"]]
        assert [change(c["text"]) for c in accepted] == ["good"], table
        assert accepted[0]["reason"].startswith("accepted")
        rejected = [c for c in proposed if c["reason"].startswith("rejected")]
        assert {"neutral", "bad"} <= {change(c["text"]) for c in rejected}, table
        assert all(not c["accepted"] for c in rejected)
        assert all(c["accepted"] or c["reason"].startswith(("rejected", "undecided")) for c in proposed)

        # --- the verdict: chosen by validation lower bound, confirmed better on held-out briefs
        tags, description = second.data.tags, second.data.tags["mlflow.note.content"]
        chosen = next(c for c in cands if c["hash"] == tags["rlmdj.optimize.chosen"])
        assert chosen is accepted[0] or chosen["hash"] == accepted[0]["hash"]
        assert tags["rlmdj.optimize.verdict"] == "better", description
        assert "**Verdict: better.**" in description and "held-out" in description
        summary = json.loads(Path(client.download_artifacts(second.info.run_id,
                                                            "optimize/summary.json")).read_text())
        assert summary["confirmation"]["effect"] > 0.3 and summary["confirmation"]["low"] > 0
        assert summary["metric_calls"] == 22 and summary["stop_reason"].startswith("max_metric_calls")
        assert summary["metric_calls"] + summary["confirmation_sets"] == len(played)
        assert f"{summary['metric_calls']} sets played in the search" in description
        assert f"{summary['confirmation_sets']} sets played" in description
        heldout = {r.data.tags["rlmdj.optimize.brief"].split("/")[0] for r in played
                   if r.data.tags["rlmdj.optimize.split"] == "heldout"}
        searched = {r.data.tags["rlmdj.optimize.brief"].split("/")[0] for r in played
                    if r.data.tags["rlmdj.optimize.split"] != "heldout"}
        assert len(heldout) == 2 and not heldout & searched

        # --- every candidate a version of rlmdj-baseline, with its lineage
        versions = {}
        for c in cands:
            name, _, number = c["version"].rpartition(" v")
            assert name == "rlmdj-baseline", c["version"]
            versions[c["hash"]] = client.get_prompt_version(name, number)
            assert versions[c["hash"]].template == c["text"]
        assert {change(c["text"]) for c in proposed} == {"neutral", "good", "bad"}
        # A text decided again after the resume keeps one version, tagged with its last decision.
        last = {c["hash"]: c for c in proposed}
        for c in last.values():
            t = versions[c["hash"]].tags
            assert t["rlmdj.optimize.iteration"] == str(c["iteration"])
            assert t["rlmdj.optimize.accepted"] == str(c["accepted"]).lower()
            assert t["rlmdj.optimize.decision"] == c["reason"]
            assert t["rlmdj.optimize.parent_version"].startswith("rlmdj-baseline v")
            assert "improved instruction" in t["rlmdj.optimize.rationale"]  # what the reflection said
            assert "rlmdj.optimize.minibatch_child" in t
            assert t["rlmdj.optimize.study"] in (first.info.run_id, second.info.run_id)
        t = versions[chosen["hash"]].tags
        assert t["rlmdj.optimize.parent_version"] == cands[0]["version"]
        assert float(t["rlmdj.optimize.val_low"]) <= float(t["rlmdj.optimize.val_mean"])

        # --- every set a child run with its trace
        for r in (played_first[0], played_second[0], played_second[-1]):
            assert client.search_traces(locations=[r.info.experiment_id], run_id=r.info.run_id)

        # --- the chosen prompt, written and playable by name
        path = tmp_path / "prompts" / "baseline_opt_1.txt"
        assert path.is_file() and chosen["text"] in path.read_text()
        assert "prompt=baseline_opt_1" in description
        print(f"study, both sessions: {time.perf_counter() - started:.0f} s, {len(played)} sets")
        before = len(dj.opened)
        proc = run_rlmdj(tmp_path, "dj=rlm", "model=local", f"model.api_base={dj.base_url}",
                         "dj.sandbox.kind=local", "prompt=baseline_opt_1", "bars=16", "progress=false",
                         timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert [i for i, _ in dj.opened[before:]] == ["good"]
        system = next(m["content"] for m in dj.requests[-1]["messages"] if m["role"] == "system")
        assert chosen["text"].strip() in system and "rlmdj optimised prompt" not in system
