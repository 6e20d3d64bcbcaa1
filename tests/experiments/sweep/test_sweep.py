"""Sweeps: parent/child runs, comparison numbers against scipy, resume, the gap test, run cards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from inprocess import children, client_for, parents, run_cli
from scipy import stats as st


@pytest.mark.slow
def test_sweep_parent_children_comparison_and_resume(store, monkeypatch, capsys) -> None:
    sweep = [f"hydra.sweep.dir={store['dir']}/multirun/a", "bars=8", "dj=reference,random",
             "replica=range(3)", "experiment.compare.baseline=reference"]
    run_cli(["-m", *sweep, *store["overrides"]], monkeypatch)
    client, exp = client_for(store["uri"])
    [parent] = parents(client, exp)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["rlmdj.swept_keys"] == "dj"
    kids = children(client, exp, parent.info.run_id)
    assert len(kids) == 6 and all(k.info.status == "FINISHED" for k in kids)
    assert sorted((k.data.tags["rlmdj.cond.dj"], k.data.tags["rlmdj.replica"]) for k in kids) == sorted(
        (d, str(r)) for d in ("reference", "random") for r in range(3))

    # The comparison logged to the parent agrees with scipy on the children's metrics.
    arts = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert {"comparison/comparison.md", "comparison/comparison.html", "comparison/summary.csv",
            "comparison/tests.csv", "comparison/distributions.png", "comparison/listen.html"} <= arts
    # Replica r shares palette and seed across conditions: the contrast is paired by replica.
    by_replica = {d: {int(k.data.tags["rlmdj.replica"]): k.data.metrics["proxy/OBJ"] for k in kids
                      if k.data.tags["rlmdj.cond.dj"] == d} for d in ("reference", "random")}
    obj = {d: [v[r] for r in range(3)] for d, v in by_replica.items()}
    from rlmdj.analysis.from_store import compare_from_store

    c = compare_from_store(client, [exp], {"baseline": "dj=reference"}, parent=parent.info.run_id)
    [row] = c.primary_tests()
    assert row.label == "dj=random" and row.metric == "proxy/OBJ" and row.design == "paired"
    assert row.diff == pytest.approx(np.mean(obj["random"]) - np.mean(obj["reference"]))
    assert row.p_t == pytest.approx(st.ttest_rel(obj["random"], obj["reference"]).pvalue)
    assert c.group("dj=random").summaries["proxy/OBJ"].sd == pytest.approx(np.std(obj["random"], ddof=1))
    # The verdict is the parent's description, and its numbers are parent metrics.
    after_sweep = client.get_run(parent.info.run_id).data
    assert "random vs reference:" in after_sweep.tags["mlflow.note.content"]
    assert after_sweep.metrics["compare/random/delta_OBJ"] == pytest.approx(row.diff)
    assert after_sweep.metrics["compare/random/n"] == 3
    listen = Path(client.download_artifacts(parent.info.run_id, "comparison/listen.html", str(store["dir"])))
    page = listen.read_text()
    assert page.count("data:audio/") == 6 and "<script" not in page

    # Every child has a self-contained run card.
    card_dir = client.download_artifacts(kids[0].info.run_id, "run_card.html", str(store["dir"]))
    html = Path(card_dir).read_text()
    assert "data:audio/ogg;base64," in html and "data:image/png;base64," in html and "<svg" in html
    assert "<script" not in html

    # Resume: one run was interrupted; re-running the sweep runs only that one, in the same parent.
    killed = kids[0]
    client.set_terminated(killed.info.run_id, "KILLED")
    run_cli(["-m", *sweep, "experiment.resume=true", *store["overrides"]], monkeypatch)
    assert [p.info.run_id for p in parents(client, exp)] == [parent.info.run_id]
    after = children(client, exp, parent.info.run_id)
    assert len(after) == 7
    new = [k for k in after if k.info.run_id not in {x.info.run_id for x in kids}]
    assert len(new) == 1 and new[0].data.tags["rlmdj.config_hash"] == killed.data.tags["rlmdj.config_hash"]
    assert new[0].info.status == "FINISHED"

    # A wider sweep resumed over this store reuses the six FINISHED configurations from the first
    # sweep (they stay children of that parent) and runs only the new replica; its comparison
    # still counts all four replicas per condition.
    wider = [f"hydra.sweep.dir={store['dir']}/multirun/b", "bars=8", "dj=reference,random",
             "replica=range(4)", "experiment.resume=true"]
    run_cli(["-m", *wider, *store["overrides"]], monkeypatch)
    [second] = [p for p in parents(client, exp) if p.info.run_id != parent.info.run_id]
    assert len(children(client, exp, second.info.run_id)) == 2
    c2 = compare_from_store(client, [exp], {}, parent=second.info.run_id)
    assert c2.baseline == "dj=reference"  # the first value of the swept key
    assert [g.summaries["proxy/OBJ"].n for g in c2.groups] == [4, 4]

    # Store-wide, a configuration run again outside any sweep counts once; conditions are the
    # config keys that differ (dj.driver), not bookkeeping such as experiment.resume or paths.
    run_cli([f"hydra.run.dir={store['dir']}/outputs/again", "bars=8", "dj=reference", "replica=0",
             *store["overrides"]], monkeypatch)
    capsys.readouterr()
    run_cli(["experiment=compare", f"hydra.run.dir={store['dir']}/outputs/cmp", *store["overrides"]], monkeypatch)
    out = capsys.readouterr().out
    [cmp_run] = client.search_runs([exp], filter_string="tags.`rlmdj.sweep` = 'compare'")
    data = client.get_run(cmp_run.info.run_id).data
    assert data.tags["rlmdj.compare.group_by"] == "dj.driver"
    assert data.metrics["compare/random/n"] == 4
    assert "1 run(s) set aside as duplicates" in out and "verdict: random vs reference" in out
    assert "random vs reference:" in data.tags["mlflow.note.content"]
    arts = {a.path for a in client.list_artifacts(cmp_run.info.run_id, "comparison")}
    assert {"comparison/listen.html", "comparison/comparison.html"} <= arts

    # experiment=compare takes a unique prefix of the parent id; a wrong id lists the parents.
    from rlmdj.analysis.from_store import resolve_parent
    from rlmdj.errors import ParameterError

    assert resolve_parent(client, second.info.run_id[:10]).info.run_id == second.info.run_id
    with pytest.raises(ParameterError, match="recent sweep parents"):
        resolve_parent(client, "nosuchrun")


@pytest.mark.slow
def test_gap_test_yields_four_cells(store, monkeypatch) -> None:
    run_cli(["experiment=gap_test", f"hydra.sweep.dir={store['dir']}/multirun/gap",
             "bars=8,16", "replica=range(2)",
             "experiment.gap.target_bars=8", "experiment.gap.alt_bars=16", *store["overrides"]], monkeypatch)
    client, exp = client_for(store["uri"])
    [parent] = parents(client, exp)
    kids = children(client, exp, parent.info.run_id)
    cells = {(k.data.tags["rlmdj.cond.dj"], k.data.tags["rlmdj.cond.bars"]) for k in kids}
    assert cells == {("reference", "8"), ("reference", "16"), ("random", "8"), ("random", "16")}
    assert len(kids) == 8
    metrics = client.get_run(parent.info.run_id).data.metrics
    assert {"gap/B-A", "gap/C-A", "gap/D-A", "gap/D-B"} <= set(metrics)
    arts = {a.path for a in client.list_artifacts(parent.info.run_id, "gap_test")}
    assert "gap_test/gap_test.md" in arts
    # D-A = (D-B) + (B-A) on paired replicas.
    assert metrics["gap/D-A"] == pytest.approx(metrics["gap/D-B"] + metrics["gap/B-A"])

