"""``hydra/sweeper=sequential`` end to end: rounds as child runs of one parent, the record on the
parent, resume, refusal before any job runs, and the plugin's place in the wheel."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from inprocess import children, client_for, parents, run_cli

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_sequential_sweep_rounds_record_and_resume(store, monkeypatch, capsys) -> None:
    sweep = [f"hydra.sweep.dir={store['dir']}/multirun/seq", "hydra/sweeper=sequential", "bars=8",
             "dj=reference,random", "hydra.sweeper.min_replicas=2", "hydra.sweeper.round_size=1",
             "hydra.sweeper.max_replicas=3"]
    run_cli(["-m", *sweep, *store["overrides"]], monkeypatch)
    out = capsys.readouterr().out
    client, exp = client_for(store["uri"])
    [parent] = parents(client, exp)
    tags = client.get_run(parent.info.run_id).data.tags
    kids = children(client, exp, parent.info.run_id)
    rounds = int(tags["rlmdj.sequential.rounds"])
    replicas = int(tags["rlmdj.sequential.replicas"])
    assert rounds == replicas - 1 and replicas in (2, 3)  # rounds after 2 and (maybe) 3 replicas
    assert len(kids) == 2 * replicas and all(k.info.status == "FINISHED" for k in kids)
    assert {k.data.tags["rlmdj.cond.dj"] for k in kids} == {"reference", "random"}
    assert tags["rlmdj.sequential.stop_reason"] in ("decided", "max_replicas")
    assert tags["mlflow.note.content"].startswith("Sequential sweep (")
    assert "random vs reference:" in tags["rlmdj.sequential.verdict"]
    record = json.loads(Path(client.download_artifacts(parent.info.run_id, "sequential/sequential.json",
                                                       str(store["dir"]))).read_text())
    assert record["baseline"] == "dj=reference" and len(record["rounds"]) == rounds
    assert "sequential: round 1, 2 replicas per condition" in out
    # The stopping verdict ends the sweep's report; the parent's URL and the UI command follow.
    tail = out.rstrip().splitlines()[-3:]
    assert tail[0].startswith("- random vs reference:")
    assert tail[1].startswith("run URL: ") and tail[2].startswith("MLflow UI: ")

    # A larger budget with experiment.resume=true continues in the same parent: the finished
    # replicas are not run again.
    # With 3 pairs the sequence cannot exclude anything yet, so this budget ends undecided.
    assert tags["rlmdj.sequential.stop_reason"] == "max_replicas" and replicas == 3
    more = [*[o for o in sweep if "max_replicas" not in o], "hydra.sweeper.max_replicas=4",
            "experiment.resume=true"]
    run_cli(["-m", *more, *store["overrides"]], monkeypatch)
    assert [p.info.run_id for p in parents(client, exp)] == [parent.info.run_id]
    after = children(client, exp, parent.info.run_id)
    hashes = [k.data.tags["rlmdj.config_hash"] for k in after]
    assert len(hashes) == len(set(hashes)) == 8  # each configuration ran once; replica 3 was added
    assert client.get_run(parent.info.run_id).data.tags["rlmdj.sequential.replicas"] == "4"


@pytest.mark.slow
def test_sequential_sweep_with_one_condition_is_refused_before_any_job(store, monkeypatch, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["-m", f"hydra.sweep.dir={store['dir']}/multirun/one", "hydra/sweeper=sequential",
                 "dj=random", "bars=8", *store["overrides"]], monkeypatch)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sweep at least two" in err
    assert not (Path(store["dir"]) / "mlruns.db").exists() or not parents(*client_for(store["uri"]))


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "message"), [
    ("experiment.compare.baseline=nosuch", "experiment.compare.baseline='nosuch' matches 0 conditions"),
    ("experiment.compare.primary=XX", "experiment.compare.primary=XX: choose one of OBJ"),
])
def test_a_baseline_or_primary_the_sweep_cannot_use_is_refused_before_any_job(
        store, monkeypatch, capsys, setting: str, message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["-m", f"hydra.sweep.dir={store['dir']}/multirun/bad", "hydra/sweeper=sequential",
                 "dj=reference,random", "bars=8", setting, *store["overrides"]], monkeypatch)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (Path(store["dir"]) / "mlruns.db").exists() or not parents(*client_for(store["uri"]))


def test_plugin_is_found_by_hydra_and_shipped_in_the_wheel() -> None:
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    names = [p.__name__ for p in Plugins.instance().discover(Sweeper)]
    assert "SequentialSweeper" in names
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "src/hydra_plugins" in wheel["packages"]
    assert not (ROOT / "src" / "hydra_plugins" / "__init__.py").exists()  # a namespace package
