"""The sequential sweeper drives any Hydra launcher through ``Launcher.launch``: rounds, stop,
an overlay's replica range replaced, failed jobs re-raised (a scripted launcher, no runs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from hydra_plugins.rlmdj_sequential.sequential_sweeper import SequentialSweeper


class ScriptedLauncher:
    """Returns OBJ = objective(overrides) for every job; records each launch call."""

    def __init__(self, objective) -> None:
        self.objective = objective
        self.calls: list[tuple[list[list[str]], int]] = []

    def launch(self, job_overrides, initial_job_idx: int) -> list[JobReturn]:
        self.calls.append(([list(o) for o in job_overrides], initial_job_idx))
        out = []
        for overrides in job_overrides:
            ret = JobReturn()
            try:
                ret.return_value = self.objective(dict(o.split("=", 1) for o in overrides))
                ret.status = JobStatus.COMPLETED
            except Exception as exc:  # noqa: BLE001 - a job failure, as Hydra reports it
                ret.return_value, ret.status = exc, JobStatus.FAILED
            out.append(ret)
        return out


def _sweeper(tmp_path: Path, objective, **settings) -> tuple[SequentialSweeper, ScriptedLauncher]:
    sweeper = SequentialSweeper(**settings)
    launcher = ScriptedLauncher(objective)
    sweeper.launcher = launcher
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    sweeper.validate_batch_is_legal = lambda batch: None  # no config tree to compose here
    return sweeper, launcher


def test_rounds_until_decided(tmp_path: Path, capsys) -> None:
    noise = [0.03, -0.05, 0.02, 0.04, -0.01, 0.0, 0.05, -0.02]

    def obj(o: dict) -> float:
        r = int(o["replica"])
        return 6.0 + 0.1 * r - (0.6 + noise[r] if o["dj"] == "random" else 0.0)

    sweeper, launcher = _sweeper(tmp_path, obj)
    sweeper.sweep(["dj=reference,random", "bars=8"])
    assert [idx for _, idx in launcher.calls] == [0, 6]  # job numbers continue across rounds
    first, second = (batch for batch, _ in launcher.calls)
    assert first[0] == ["bars=8", "dj=reference", "replica=0"] and len(first) == 6
    assert {o[-1] for o in second} == {"replica=3", "replica=4"}
    out = capsys.readouterr().out
    assert "round 2, 5 replicas per condition" in out
    assert "sequential verdict: random vs reference: −0.6" in out and "different from the baseline" in out
    assert (tmp_path / "multirun.yaml").is_file()


def test_overlay_replica_range_is_replaced_and_budget_ends_undecided(tmp_path: Path, capsys) -> None:
    def obj(o: dict) -> float:  # b differs from a by +-0.5 on alternate replicas: never decided
        return 6.0 + (0.0 if o["dj"] == "a" else (0.5 if int(o["replica"]) % 2 else -0.5))

    sweeper, launcher = _sweeper(tmp_path, obj,
                                 max_replicas=4, round_size=1, params={"replica": "range(5)", "dj": "a,b"})
    sweeper.sweep([])
    assert sum(len(batch) for batch, _ in launcher.calls) == 8
    out = capsys.readouterr().out
    assert "undecided at max_replicas=4" in out and "cannot exclude anything" not in out
    tiny, _ = _sweeper(tmp_path, obj, max_replicas=3)
    tiny.sweep(["dj=a,b"])
    assert "with max_replicas=3 the confidence sequence cannot exclude anything" in capsys.readouterr().out


def test_a_failed_job_stops_the_sweep_with_its_error(tmp_path: Path) -> None:
    def obj(o: dict) -> float:
        if o["dj"] == "random" and o["replica"] == "1":
            raise RuntimeError("scorer down")
        return 6.0

    sweeper, _ = _sweeper(tmp_path, obj)
    with pytest.raises(RuntimeError, match="scorer down"):
        sweeper.sweep(["dj=reference,random"])
