"""A run that fails or is interrupted ends FAILED or KILLED with what it produced logged."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from rlmdj.dj.drivers import registry as drivers
from rlmdj.dj.drivers.base import DriverReport
from rlmdj.experiments.jobs.run import run_set
from rlmdj.scoring.proxy import ProxyScorer

pytestmark = pytest.mark.pipeline


class ExplodingDriver:
    """Plays a few bars, then fails the way a driver can: an error or Ctrl-C."""

    name = "exploding"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def perform(self, session) -> None:
        session.add("kick", 0.9)
        session.play(4)
        raise self.exc

    def report(self) -> DriverReport:
        return DriverReport(metrics={"dj/lm_calls": 3.0}, artifacts={"dj/transcript.json": "[]"})


@pytest.mark.slow  # a tracked run end to end
@pytest.mark.parametrize(("exc", "status"), [(RuntimeError("driver crashed"), "FAILED"),
                                            (KeyboardInterrupt(), "KILLED")])
def test_failed_run_keeps_partial_audio_and_transcript(tmp_path, monkeypatch, compose_cfg, exc, status):
    monkeypatch.setitem(drivers.DRIVERS, "exploding", lambda cfg, **_: ExplodingDriver(exc))
    cfg = compose_cfg("dj.driver=exploding", "bars=8")
    with pytest.raises(type(exc)):
        run_set(cfg)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    experiment = client.get_experiment_by_name("rlmdj")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == status
    assert run.data.metrics["dj/lm_calls"] == 3.0
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "palette.json", "arrangement.json", "dj"} <= artifacts
    audio = {a.path for a in client.list_artifacts(run.info.run_id, "audio")}
    assert audio == {"audio/partial.flac"}
    assert len(client.get_metric_history(run.info.run_id, "dj/layers")) == 4


def test_proxy_orders_the_real_reference_above_silence_and_drone(sample_index):
    from rlmdj.audio.grid import Grid
    from rlmdj.audio.palette import random_palette
    from rlmdj.audio.wavio import normalize_peak
    from rlmdj.dj.drivers.reference import ReferenceDriver
    from rlmdj.dj.session import Session

    grid = Grid()
    session = Session(index=sample_index, palette=random_palette(sample_index, seed=1), grid=grid,
                      max_bars=32)
    ReferenceDriver().perform(session)
    scorer = ProxyScorer()
    reference = scorer.score(normalize_peak(session.audio()), sr=grid.sr)
    n = len(session.audio())
    t = np.arange(n) / grid.sr
    drone = 0.5 * np.sin(2 * np.pi * 55 * t)
    silence = np.zeros(n)
    noise = np.random.default_rng(0).standard_normal(n) * 0.3
    for other in (drone, silence, noise):
        assert scorer.score(other, sr=grid.sr).scores["CE"] < reference.scores["CE"] - 1.0
