"""experiment=ears_test end to end: the offline cells run, the RLM cells are skipped without a
model, and the paired report reaches the sweep's parent run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inprocess import children, client_for, parents, run_cli


@pytest.mark.slow
def test_ears_test_sweep_reports_against_reference(store, monkeypatch, capsys) -> None:
    run_cli(["experiment=ears_test", f"hydra.sweep.dir={store['dir']}/multirun/e", "bars=8",
             "replica=range(2)", "dj.phrase_bars=4", *store["overrides"]], monkeypatch)
    out = capsys.readouterr().out
    assert out.count("skipped: no model configured") == 4  # listening and deaf, 2 replicas each
    client, exp = client_for(store["uri"])
    [parent] = parents(client, exp)
    kids = children(client, exp, parent.info.run_id)
    assert sorted(k.data.params["dj.driver"] for k in kids) == ["greedy"] * 2 + ["random"] * 2 + ["reference"] * 2
    assert all(k.info.status == "FINISHED" for k in kids)
    # Replica r played one palette in every cell: that is what the contrasts pair on.
    for r in ("0", "1"):
        assert len({k.data.tags["rlmdj.palette_hash"] for k in kids if k.data.tags["rlmdj.replica"] == r}) == 1
    greedy = next(k for k in kids if k.data.params["dj.driver"] == "greedy")
    assert greedy.data.metrics["dj/ears_calls"] >= 2 and "time/ears_s" in greedy.data.metrics
    moves = Path(client.download_artifacts(greedy.info.run_id, "dj/moves.json", str(store["dir"])))
    assert [p["bar"] for p in json.loads(moves.read_text())] == [0, 4]
    arts = {a.path for a in client.list_artifacts(parent.info.run_id, "ears_test")}
    assert arts == {"ears_test/ears_test.md", "ears_test/ears_test.csv"}
    # The standard comparison by design too: every cell against reference, with verdicts.
    assert "comparison/listen.html" in {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert "greedy vs reference:" in client.get_run(parent.info.run_id).data.tags["mlflow.note.content"]
    metrics = client.get_run(parent.info.run_id).data.metrics
    assert metrics["ears_test/greedy/n"] == 2 and "ears_test/greedy_vs_random/delta_OBJ" in metrics
    assert "| greedy - reference | 2 |" in out
