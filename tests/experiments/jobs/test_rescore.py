"""``rlmdj experiment=rescore``: a finished sweep's sets scored again through POST /score_batch."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hydra.core.global_hydra import GlobalHydra
from mlflow.tracking import MlflowClient
from rms_scorer import RmsScorer

from rlmdj.scoring.serving.server import ServerThread, create_app
from rlmdj.scoring.serving.service import ScoringService

pytestmark = [pytest.mark.slow, pytest.mark.scale]  # a sweep and a server on 127.0.0.1


def _cli(args: list[str], monkeypatch) -> None:
    from rlmdj.cli import main

    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["rlmdj", *args])
    try:
        main()
    finally:
        GlobalHydra.instance().clear()


def test_rescore_logs_new_scores_in_batches_and_skips_scored_runs(tmp_path, monkeypatch, pack_cache_dir):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    store = [f"tracking.uri={uri}", f"tracking.artifact_location={tmp_path}/art", "progress=false"]
    _cli(["-m", f"hydra.sweep.dir={tmp_path}/ms", "bars=4", "dj=random", "replica=range(3)",
          "experiment.analysis=none", *store], monkeypatch)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("rlmdj").experiment_id
    [parent] = client.search_runs([exp], filter_string="tags.`rlmdj.sweep` = 'parent'")
    pid = parent.info.run_id
    scorer = RmsScorer()
    with ServerThread(create_app(ScoringService(scorer))) as srv:
        rescore = ["experiment=rescore", f"experiment.rescore.parent={pid[:8]}", "scorer=http",
                   f"scorer.url={srv.url}", "scorer.cache=false", "scorer.max_batch_sets=2", *store]
        _cli(rescore, monkeypatch)
        assert scorer.batches == [2, 1]
        kids = client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{pid}'")
        assert len(kids) == 3
        for kid in kids:
            assert kid.data.tags["rlmdj.rescored.audiobox"] == "audiobox/http/rms-v1"
            path = client.download_artifacts(kid.info.run_id, "audio", str(tmp_path / kid.info.run_id))
            [flac] = [p for p in Path(path).iterdir() if p.stem == "set"]
            audio, sr = sf.read(str(flac), dtype="float32", always_2d=True)
            expected = scorer.score(audio, sr=sr)  # the server saw the same 16 kHz upload
            assert kid.data.metrics["audiobox/OBJ"] == pytest.approx(expected.obj, abs=0.05)
            assert {"audiobox/CE", "audiobox/PQ", "proxy/OBJ"} <= set(kid.data.metrics)
        _cli(rescore, monkeypatch)  # everything already scored: nothing sent
        assert scorer.batches == [2, 1]
    assert np.isfinite([k.data.metrics["audiobox/OBJ"] for k in kids]).all()


def test_rescore_without_a_parent_is_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        _cli(["experiment=rescore", f"tracking.uri=sqlite:///{tmp_path}/m.db", "progress=false"], monkeypatch)
    assert info.value.code != 0
    assert "experiment.rescore.parent" in capsys.readouterr().err
