"""``rlmdj experiment=rerun``: a recorded run's configuration played again, from another folder.

The fast tests build the rerun's config from a composed record (no store); the slow ones record a
sweep of the three deterministic DJs with the ``rlmdj`` command and rerun it, one run and the
whole sweep, from another folder against that store.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from inprocess import run_cli
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from scipy import stats as st

from rlmdj.analysis.studies.reproduction import Reproduction, reproduction_verdict
from rlmdj.errors import ParameterError
from rlmdj.experiments.jobs.rerun import Recorded, check_overrides, drift_warnings, rerun_config
from rlmdj.tracking.identity import config_hash, hashed_key, scrubbed_config

RLMDJ = str(Path(sys.executable).parent / "rlmdj")
EXAMPLE = Path(__file__).resolve().parents[3] / "palettes" / "example.json"


def _recorded(config: dict, *, tags: dict | None = None, pack: str | None = None) -> Recorded:
    inputs = []
    if pack is not None:
        inputs.append(SimpleNamespace(tags=[SimpleNamespace(key="mlflow.data.context", value="samples")],
                                      dataset=SimpleNamespace(profile=json.dumps({"index_sha256": pack}),
                                                              digest=pack[:16])))
    run = SimpleNamespace(info=SimpleNamespace(run_id="0" * 32), data=SimpleNamespace(tags=tags or {}, metrics={}),
                          inputs=SimpleNamespace(dataset_inputs=inputs))
    return Recorded(run=run, config=config, experiment="recorded-exp")


# ------------------------------------------------------------------------------------ fast
def test_hashed_key_follows_the_config_hash(compose_cfg) -> None:
    cfg = compose_cfg("dj=random")
    base = config_hash(cfg)
    for key, value in [("tracking.uri", "sqlite:////elsewhere/x.db"), ("scorer.timeout_s", 7.0),
                       ("samples.cache_dir", "/elsewhere/cache"), ("scorer.cache", True), ("progress", True),
                       ("bars", 12), ("scorer.weights.CE", 0.1), ("dj.candidates", 3), ("palette.path", "/x.json")]:
        changed = cfg.copy()
        OmegaConf.update(changed, key, value)
        assert (config_hash(changed) != base) == hashed_key(key), key


def test_the_record_decides_what_is_played_and_this_launch_where_it_goes(compose_cfg, tmp_path) -> None:
    old_root, here = tmp_path / "old", tmp_path / "here"
    (old_root / "palettes").mkdir(parents=True)
    (here / "palettes").mkdir(parents=True)
    palette = old_root / "palettes" / "mine.json"
    shutil.copy(EXAMPLE, palette)
    original = compose_cfg("dj=random", "bars=12", "replica=3", "scorer.timeout_s=7", "palette.source=file",
                           "palette.name=mine", f"palette.path={palette}", f"paths.root_dir={old_root}")
    record = scrubbed_config(original)
    record["scorer"]["gone_setting"] = 1  # a key this code no longer has
    now = compose_cfg("experiment=rerun", f"paths.root_dir={here}", "experiment.rerun.run_id=x")

    new, notes = rerun_config(now, _recorded(record))
    assert (new.bars, new.replica, new.dj.driver, new.scorer.timeout_s) == (12, 3, "random", 7.0)
    assert new.palette.path == str(palette)  # still where it was recorded: used there
    assert config_hash(new) == config_hash(original)
    assert new.paths.root_dir == str(here) and new.tracking.uri == now.tracking.uri
    assert new.samples.cache_dir == now.samples.cache_dir and new.experiment.name == "run"
    assert new.tracking.experiment == "recorded-exp"
    assert notes == ["recorded settings this code no longer has, ignored: scorer.gone_setting"]

    # Given on the command line, a hash-free key is this launch's.
    new, _ = rerun_config(now, _recorded(record), given=["scorer.timeout_s", "tracking.experiment"])
    assert new.scorer.timeout_s == now.scorer.timeout_s and new.tracking.experiment == now.tracking.experiment

    # The original launch folder is gone: the palette file is found under this one.
    shutil.move(palette, here / "palettes" / "mine.json")
    new, notes = rerun_config(now, _recorded(record))
    assert new.palette.path == str(here / "palettes" / "mine.json")
    assert any(n.startswith(f"palette.path: {palette} is not here; using {here}") for n in notes)


def test_overrides_that_change_the_set_are_refused() -> None:
    check_overrides(["experiment", "experiment.rerun.run_id", "tracking.uri", "paths.root_dir",
                     "scorer.timeout_s", "scorer.cache", "progress"])
    for key in ("bars", "scorer", "dj.candidates", "model.extra.api_base", "palette"):
        with pytest.raises(ParameterError, match=f"{key} would change it"):
            check_overrides([key])


def test_drift_from_the_record_is_one_warning_each(compose_cfg, sample_index) -> None:
    from rlmdj.experiments.assemble import resolve_palette
    from rlmdj.tracking.datasets import index_digest
    from rlmdj.tracking.versions import code_tags

    cfg = compose_cfg("dj=random")
    palette = resolve_palette(cfg, sample_index)
    same = {"rlmdj.git_commit": code_tags().get("rlmdj.git_commit", ""), "rlmdj.palette_hash": palette.sha256}
    assert drift_warnings(_recorded({}, tags=same, pack=index_digest(sample_index)), sample_index, palette) == []
    other = {"rlmdj.git_commit": "f" * 40, "rlmdj.palette_hash": "a" * 64}
    lines = drift_warnings(_recorded({}, tags=other, pack="b" * 64), sample_index, palette)
    assert len(lines) == 3
    assert "the run was recorded at " + "f" * 40 in lines[0]
    assert "sample pack differs" in lines[1] and f"palette {palette.name!r} differs" in lines[2]


def _row(original: float, rerun: float, same: bool = True) -> Reproduction:
    return Reproduction(original="o", rerun="r", status="FINISHED", condition="dj=rlm", replica="0",
                        render_original="a", render_rerun="a" if same else "b", config_original="h",
                        config_rerun="h", metric="proxy/OBJ", obj_original=original, obj_rerun=rerun)


def test_the_reproduction_verdict() -> None:
    assert reproduction_verdict([_row(5.0, 5.0), _row(4.0, 4.0)]) == (
        "reproduced: all 2 reruns rendered byte-identical audio; proxy/OBJ identical on every job")
    original, rerun = [5.0, 4.0, 6.5], [5.5, 4.1, 6.0]
    verdict = reproduction_verdict([_row(o, r, same=False) for o, r in zip(original, rerun, strict=True)])
    test = st.ttest_rel(rerun, original)
    ci = test.confidence_interval()
    assert verdict == (f"not reproduced: 3 of 3 reruns rendered different audio; proxy/OBJ rerun − original "
                       f"{np.mean(np.subtract(rerun, original)):+.3f} (95% CI {ci.low:+.3f} to {ci.high:+.3f}, "
                       f"paired t p={test.pvalue:.3g}, n=3)")


# ------------------------------------------------------------------------------------ slow
def _rlmdj(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RLMDJ, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, pack_cache_dir) -> dict:
    """A sweep of the reference, random and greedy DJs on a palette file of its launch folder."""
    launch = tmp_path_factory.mktemp("launch")
    (launch / "palettes").mkdir()
    shutil.copy(EXAMPLE, launch / "palettes" / "mine.json")
    done = _rlmdj(launch, "-m", "dj=reference,random,greedy", "bars=8", "dj.candidates=2", "palette=mine",
                  "progress=false")
    assert done.returncode == 0, done.stderr[-3000:]
    uri = f"sqlite:///{launch}/mlruns.db"
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("rlmdj").experiment_id
    [parent] = client.search_runs([exp], filter_string="tags.`rlmdj.sweep` = 'parent'")
    kids = client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(kids) == 3
    return {"launch": launch, "uri": uri, "client": client, "exp": exp, "parent": parent,
            "jobs": {k.data.tags["rlmdj.dj"]: k for k in kids}}


def _runs(recorded: dict) -> list:
    return recorded["client"].search_runs([recorded["exp"]], max_results=1000)


@pytest.mark.slow
def test_one_run_is_played_again_from_another_folder(recorded, tmp_path) -> None:
    original = recorded["jobs"]["greedy"]
    assert original.data.tags["rlmdj.path.palette.path"].startswith(str(recorded["launch"]))
    done = _rlmdj(tmp_path, "experiment=rerun", f"experiment.rerun.run_id={original.info.run_id}",
                  f"tracking.uri={recorded['uri']}", "progress=false")
    assert done.returncode == 0, done.stderr[-3000:]
    [rerun] = recorded["client"].search_runs(
        [recorded["exp"]], filter_string=f"tags.`rlmdj.rerun_of` = '{original.info.run_id}'")
    assert rerun.info.status == "FINISHED" and rerun.info.run_id != original.info.run_id
    for tag in ("rlmdj.render_sha256", "rlmdj.config_hash", "rlmdj.palette_hash", "rlmdj.dj"):
        assert rerun.data.tags[tag] == original.data.tags[tag], tag
    assert rerun.data.metrics["proxy/OBJ"] == original.data.metrics["proxy/OBJ"]
    assert rerun.data.tags["rlmdj.rerun.render_identical"] == "true"
    assert rerun.data.tags["rlmdj.path.paths.root_dir"] == str(tmp_path)  # this launch's folder
    assert f"rerun of {original.info.run_id}: render identical · config hash identical" in done.stdout
    assert "sample pack" not in done.stderr and "palette" not in done.stderr
    assert not (tmp_path / "mlruns.db").exists()  # the store named by tracking.uri holds it


@pytest.mark.slow
def test_a_sweep_is_played_again_under_a_new_parent(recorded, tmp_path) -> None:
    client, parent = recorded["client"], recorded["parent"]
    done = _rlmdj(tmp_path, "experiment=rerun", f"experiment.rerun.parent={parent.info.run_id}",
                  f"tracking.uri={recorded['uri']}", "progress=false")
    assert done.returncode == 0, done.stderr[-3000:]
    [new] = client.search_runs([recorded["exp"]], filter_string=f"tags.`rlmdj.rerun_of` = '{parent.info.run_id}'")
    assert new.info.status == "FINISHED" and new.data.tags["rlmdj.swept_keys"] == "dj"
    kids = client.search_runs([recorded["exp"]], filter_string=f"tags.mlflow.parentRunId = '{new.info.run_id}'")
    assert len(kids) == 3
    for kid in kids:
        original = client.get_run(kid.data.tags["rlmdj.rerun_of"])
        assert original.data.tags["mlflow.parentRunId"] == parent.info.run_id
        for tag in ("rlmdj.render_sha256", "rlmdj.config_hash", "rlmdj.cond.dj", "rlmdj.replica"):
            assert kid.data.tags[tag] == original.data.tags[tag], tag
    assert sorted(k.data.tags["rlmdj.dj"] for k in kids) == ["greedy", "random", "reference"]
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("rerun ") and "/3 · " in ln]
    assert [ln.split(" · ")[0] for ln in lines] == ["rerun 1/3", "rerun 2/3", "rerun 3/3"]
    assert all("render identical · config hash identical" in ln for ln in lines)
    verdict = "reproduced: all 3 reruns rendered byte-identical audio; proxy/OBJ identical on every job"
    assert verdict in done.stdout
    assert new.data.metrics["rerun/identical_renders"] == 3 and new.data.metrics["rerun/max_abs_delta_OBJ"] == 0
    assert verdict in new.data.tags["mlflow.note.content"]
    assert {"rerun/reproduction.md", "rerun/reproduction.json"} <= {
        a.path for a in client.list_artifacts(new.info.run_id, "rerun")}


@pytest.mark.slow
def test_a_bad_rerun_is_one_line_and_creates_nothing(recorded, tmp_path, monkeypatch, capsys) -> None:
    client, uri = recorded["client"], recorded["uri"]
    unfinished = client.create_run(recorded["exp"], run_name="still playing").info.run_id
    before = len(_runs(recorded))
    done = _rlmdj(tmp_path, "experiment=rerun", "experiment.rerun.run_id=0123456789abcdef0123456789abcdef",
                  f"tracking.uri={uri}")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"rlmdj: error: experiment.rerun.run_id=0123456789abcdef0123456789abcdef: no such run in this store "
        f"({uri}); give the full run id, and tracking.uri=... for another store")
    monkeypatch.chdir(tmp_path)
    greedy = recorded["jobs"]["greedy"].info.run_id
    for args, message in [
        ([f"experiment.rerun.run_id={unfinished}"], "the run is RUNNING, not FINISHED"),
        ([f"experiment.rerun.run_id={greedy}", f"experiment.rerun.parent={recorded['parent'].info.run_id}"],
         "needs exactly one of experiment.rerun.run_id"),
        ([], "needs exactly one of experiment.rerun.run_id"),
        ([f"experiment.rerun.run_id={greedy}", "bars=16"], "bars would change it"),
        ([f"experiment.rerun.run_id={recorded['parent'].info.run_id}"], "use experiment.rerun.parent="),
        ([f"experiment.rerun.parent={greedy}"], "has no FINISHED jobs to rerun"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            run_cli(["experiment=rerun", f"tracking.uri={uri}", *args], monkeypatch)
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and message in err[-1] and err[-1].startswith("rlmdj: error: "), (args, err)
    # A store that is not there is not created to look for the run in it.
    with pytest.raises(SystemExit):
        run_cli(["experiment=rerun", f"experiment.rerun.run_id={greedy}",
                 f"tracking.uri=sqlite:///{tmp_path}/none.db"], monkeypatch)
    assert "no store there" in capsys.readouterr().err and not (tmp_path / "none.db").exists()
    assert len(_runs(recorded)) == before
    client.set_terminated(unfinished, "KILLED")
