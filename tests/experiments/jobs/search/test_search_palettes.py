"""``rlmdj experiment=search_palettes`` end to end: through the command (a small search, its
curated files and child runs, resuming its study, bad settings refused in one line), and in
process for a failing trial and batched scoring over HTTP."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.storages.journal import JournalFileBackend

pytestmark = pytest.mark.slow  # the rlmdj command, renders, MLflow stores

RLMDJ = str(Path(sys.executable).parent / "rlmdj")
SMALL = ["experiment=search_palettes", "experiment.search.n_trials=6", "experiment.search.top_k=2",
         "experiment.search.bars=4", "experiment.search.workers=2", "progress=false"]
EXISTING = {"kick": "kick-00", "hihat": "hihat-00", "bassline": "bassline-00", "perc": "perc-00",
            "texture": "texture-00", "clap": "clap-00"}


def _rlmdj(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RLMDJ, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def _journal(launch: Path) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(JournalFileBackend(str(launch / "optuna.journal")))


def _runs(launch: Path) -> tuple[MlflowClient, list]:
    client = MlflowClient(tracking_uri=f"sqlite:///{launch}/mlruns.db")
    exp = client.get_experiment_by_name("rlmdj").experiment_id
    return client, client.search_runs([exp], max_results=100)


def _parents(runs: list) -> list:
    return sorted((r for r in runs if r.data.tags.get("rlmdj.experiment") == "search_palettes"),
                  key=lambda r: r.info.start_time)


@pytest.fixture(scope="module")
def searched(tmp_path_factory, pack_cache_dir) -> dict:
    """A 6-trial search (top 2, 4 bars) in a folder that already holds palette_001."""
    launch = tmp_path_factory.mktemp("search")
    curated = launch / "palettes" / "curated"
    curated.mkdir(parents=True)
    (curated / "palette_001.json").write_text(json.dumps(
        {"name": "palette_001", "samples": EXISTING, "meta": {"OBJ": 1.0, "scorer": "proxy", "bars": 4}}))
    before = (curated / "palette_001.json").read_bytes()
    proc = _rlmdj(launch, *SMALL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"launch": launch, "curated": curated, "before": before, "proc": proc}


def test_a_search_ranks_its_trials_keeps_the_top_k_and_plays_them_as_child_runs(searched):
    launch, curated = searched["launch"], searched["curated"]
    client, runs = _runs(launch)
    (parent,) = _parents(runs)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 3 and len(children) == 2  # no run, and no audio, per trial
    assert parent.info.status == "FINISHED" and all(c.info.status == "FINISHED" for c in children)
    m = parent.data.metrics
    assert m["search/n_trials"] == 6 and m["search/n_failed"] == 0 and m["search/median_OBJ"] <= m["search/best_OBJ"]
    table = Path(client.download_artifacts(parent.info.run_id, "search/ranked.csv", str(launch)))
    ranked = list(csv.DictReader(table.read_text().splitlines()))
    assert len(ranked) == 6 and float(ranked[0]["OBJ"]) == pytest.approx(m["search/best_OBJ"], abs=1e-4)
    assert [r["curated"] for r in ranked[:3]] == ["palette_002", "palette_003", ""]
    # The trials are the Optuna study's, in the journal beside the MLflow store.
    study_name = parent.data.tags["rlmdj.search.study"]
    study = optuna.load_study(study_name=study_name, storage=_journal(launch))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 6
    assert max(t.value for t in study.trials) == pytest.approx(m["search/best_OBJ"])
    # The top 2 are new curated files with their provenance; the existing file is untouched.
    assert (curated / "palette_001.json").read_bytes() == searched["before"]
    assert sorted(p.name for p in curated.iterdir()) == ["palette_001.json", "palette_002.json", "palette_003.json"]
    for rank, name in enumerate(("palette_002", "palette_003"), 1):
        meta = json.loads((curated / f"{name}.json").read_text())["meta"]
        trial = study.trials[meta["trial"]]
        assert (meta["study"], meta["rank"], meta["scorer"], meta["bars"]) == (study_name, rank, "proxy", 4)
        assert meta["OBJ"] == pytest.approx(trial.value) and meta["search_run_id"] == parent.info.run_id
        child = next(c for c in children if c.data.tags["rlmdj.search.trial"] == str(meta["trial"]))
        # The child run is the same palette played again: same render, same score, with its audio and card.
        assert child.data.metrics["proxy/OBJ"] == pytest.approx(meta["OBJ"], abs=1e-9)
        assert child.data.tags["rlmdj.palette"] == name and child.data.tags["rlmdj.bars"] == "4"
        files = {f.path for f in client.list_artifacts(child.info.run_id)}
        assert "run_card.html" in files
        assert any(f.path.endswith("set.flac") for f in client.list_artifacts(child.info.run_id, "audio"))
    out = searched["proc"].stdout + searched["proc"].stderr
    assert "search 6/6 trials" in out and "best OBJ" in out and "palette_002, palette_003" in out


def test_resume_continues_the_study_without_running_finished_trials_again(searched):
    launch, curated = searched["launch"], searched["curated"]
    storage = _journal(launch)
    (name,) = optuna.get_all_study_names(storage)
    first = [(t.params, t.value) for t in optuna.load_study(study_name=name, storage=storage).trials]
    files = {p.name: p.read_bytes() for p in curated.iterdir()}
    proc = _rlmdj(launch, *SMALL, "experiment.search.n_trials=8", "experiment.resume=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"study {name} has 6 of 8 trials; running 2" in proc.stderr
    trials = optuna.load_study(study_name=name, storage=_journal(launch)).trials
    assert len(trials) == 8 and [(t.params, t.value) for t in trials[:6]] == first
    for path in curated.iterdir():  # never overwritten; an already curated palette is not saved again
        assert files.get(path.name, path.read_bytes()) == path.read_bytes()
    _, runs = _runs(launch)
    resumed = _parents(runs)[-1]
    assert resumed.data.tags["rlmdj.search.study"] == name and resumed.data.metrics["search/n_trials"] == 8
    # Without resume, the same search is a new study; warm-started, it tries the best curated palette first.
    best_curated = max((json.loads(p.read_text()) for p in curated.iterdir()), key=lambda d: d["meta"]["OBJ"])
    proc = _rlmdj(launch, *SMALL, "experiment.search.n_trials=2", "experiment.search.top_k=1",
                  "experiment.search.warm_start=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = optuna.get_all_study_names(_journal(launch))
    assert sorted(names) == sorted([name, name[:-1] + "2"])
    fresh = optuna.load_study(study_name=name[:-1] + "2", storage=_journal(launch))
    assert fresh.trials[0].params == best_curated["samples"]


@pytest.mark.parametrize("overrides, key", [
    (["experiment.search.n_trials=0"], "experiment.search.n_trials"),
    (["experiment.search.top_k=0"], "experiment.search.top_k"),
    (["experiment.search.n_trials=6", "experiment.search.top_k=7"], "experiment.search.top_k"),
    (["experiment.search.sampler=cmaes"], "experiment.search.sampler"),
    (["experiment.search.sampler=grid"], "experiment.search.sampler"),
    (["experiment.search.storage=FOLDER"], "experiment.search.storage"),
    (["experiment.search.storage=ftp://host/x"], "experiment.search.storage"),
    (["experiment.search.storage=postgresql://me:s3cr3t-pw@127.0.0.1:1/db"], "experiment.search.storage"),
])
def test_bad_settings_are_one_line_naming_the_key_and_leave_nothing(tmp_path, pack_cache_dir, overrides, key):
    (tmp_path / "FOLDER").mkdir()
    proc = _rlmdj(tmp_path, "experiment=search_palettes", *[o.replace("FOLDER", str(tmp_path / "FOLDER"))
                                                          for o in overrides])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("rlmdj: error: ") and key in lines[0], lines
    assert "s3cr3t-pw" not in proc.stderr + proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FOLDER"]  # no store, journal or output folder


def test_an_existing_study_named_without_resume_is_refused_before_anything_runs(tmp_path, pack_cache_dir):
    optuna.create_study(study_name="mine", storage=_journal(tmp_path))
    proc = _rlmdj(tmp_path, "experiment=search_palettes", "experiment.search.study=mine")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "rlmdj: error: experiment.search.study=mine: the study already exists in this storage; set "
        "experiment.resume=true to continue it, or name another study"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optuna.journal"]


# ------------------------------------------------------------------------------ in process
def test_a_failing_trial_is_told_fail_and_the_search_goes_on(compose_cfg, sample_index, monkeypatch, capsys):
    from rlmdj.experiments.jobs import screen
    from rlmdj.experiments.jobs.search.palette_search import search_palettes

    calls = {"n": 0}
    real = screen.worker_score

    def flaky(master):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the scorer choked on this palette")
        return real(master)

    monkeypatch.setattr(screen, "worker_score", flaky)
    cfg = compose_cfg("experiment=search_palettes", "experiment.search.n_trials=5", "experiment.search.top_k=1",
                      "experiment.search.bars=2", "experiment.search.workers=1")
    out = search_palettes(cfg)
    assert len(out.rows) == 4 and out.study.failed() == 1
    failed = [t for t in out.study.study.trials if t.state.name == "FAIL"]
    assert len(failed) == 1 and "choked" in failed[0].user_attrs["error"]
    assert f"trial {failed[0].number} failed" in capsys.readouterr().err
    client = MlflowClient(tracking_uri=str(cfg.tracking.uri))
    metrics = client.get_run(out.run_id).data.metrics
    assert metrics["search/n_failed"] == 1 and metrics["search/n_trials"] == 4


class _BatchCounter:
    """Scores from window RMS and records the size of each batch it is sent."""

    name, identity, model_identity = "audiobox", "audiobox/test/rms", "rms-v1"

    def __init__(self) -> None:
        self.batches: list[int] = []
        self._lock = threading.Lock()

    def score(self, audio, *, sr):
        from rlmdj.scoring.base import AXES, ScoreResult, WindowScore, plan_windows

        mono = np.asarray(audio, dtype=np.float64).reshape(len(audio), -1).mean(axis=1)
        w = plan_windows(len(mono), sr=sr)[0]
        rms = float(np.sqrt(np.mean(mono ** 2)))
        scores = {a: 4.0 + i + 10 * rms for i, a in enumerate(AXES)}
        return ScoreResult(self.name, self.identity, scores, [WindowScore(0.0, w.valid / sr, 1.0, scores)])

    def score_batch(self, items):
        with self._lock:
            self.batches.append(len(items))
        return [self.score(a, sr=sr) for a, sr in items]


def test_with_a_scoring_server_trials_are_scored_in_batches(compose_cfg, sample_index):
    from rlmdj.experiments.jobs.search.palette_search import search_palettes
    from rlmdj.scoring.serving.server import ServerThread, create_app
    from rlmdj.scoring.serving.service import ScoringService

    scorer = _BatchCounter()
    with ServerThread(create_app(ScoringService(scorer))) as srv:
        cfg = compose_cfg("experiment=search_palettes", "scorer=http", f"scorer.url={srv.url}", "scorer.cache=false",
                          "scorer.max_batch_sets=3", "experiment.search.n_trials=7", "experiment.search.top_k=1",
                          "experiment.search.bars=2", "experiment.search.workers=1", "tracking.enabled=false")
        out = search_palettes(cfg)
    assert scorer.batches[:3] == [3, 3, 1]  # then the top palette's child run is scored on its own
    assert len(out.rows) == 7 and out.rows[0].scores["CE"] > 0
