"""The sequential sweeper drives any Hydra launcher through ``Launcher.launch``: rounds, stop,
an overlay's replica range replaced, failed jobs re-raised (a scripted launcher, no runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from hydra_plugins.rlmdj_sequential.sequential_sweeper import SequentialSweeper
from rlmdj.errors import ParameterError


class ScriptedLauncher:
    """Returns OBJ = objective(overrides) for every job; records each launch call."""

    def __init__(self, objective, sweep_file: Path | None = None) -> None:
        self.objective = objective
        self.sweep_file = sweep_file
        self.calls: list[tuple[list[list[str]], int]] = []
        self.totals: list[int] = []  # the sweep file's n_jobs ("job k/N") when each round starts

    def launch(self, job_overrides, initial_job_idx: int) -> list[JobReturn]:
        self.calls.append(([list(o) for o in job_overrides], initial_job_idx))
        if self.sweep_file is not None and self.sweep_file.is_file():
            self.totals.append(json.loads(self.sweep_file.read_text())["n_jobs"])
        out = []
        for overrides in job_overrides:
            ret = JobReturn()
            ret.cfg = OmegaConf.create(dict(o.split("=", 1) for o in overrides))
            try:
                ret.return_value = self.objective(dict(o.split("=", 1) for o in overrides))
                ret.status = JobStatus.COMPLETED
            except Exception as exc:  # noqa: BLE001 - a job failure, as Hydra reports it
                ret.return_value, ret.status = exc, JobStatus.FAILED
            out.append(ret)
        return out


def _sweeper(tmp_path: Path, objective, compare: dict | None = None,
             **settings) -> tuple[SequentialSweeper, ScriptedLauncher]:
    sweeper = SequentialSweeper(**settings)
    launcher = ScriptedLauncher(objective, tmp_path / ".rlmdj_sweep.json")
    sweeper.launcher = launcher
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}},
                                       "experiment": {"compare": compare or {}}})
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


def _random_is_lower(o: dict) -> float:
    noise = [0.03, -0.05, 0.02, 0.04, -0.01, 0.0, 0.05, -0.02]
    r = int(o["replica"])
    return 6.0 + 0.1 * r - (0.6 + noise[r] if o["dj"] == "random" else 0.0)


def test_the_baseline_is_the_comparisons(tmp_path: Path, capsys) -> None:
    sweeper, launcher = _sweeper(tmp_path, _random_is_lower, compare={"baseline": "random"})
    sweeper.sweep(["dj=reference,random"])
    first = launcher.calls[0][0]
    assert first[0] == ["dj=random", "replica=0"]  # the baseline leads each round
    out = capsys.readouterr().out
    assert "baseline dj=random;" in out
    assert "sequential verdict: reference vs random: +0.6" in out and "higher, different from the baseline" in out
    with pytest.raises(ParameterError, match=r"experiment\.compare\.baseline='nosuch' matches 0 conditions"):
        _sweeper(tmp_path, _random_is_lower, compare={"baseline": "nosuch"})[0].sweep(["dj=reference,random"])


def test_the_primary_axis_is_read_from_each_jobs_run(tmp_path: Path, monkeypatch, capsys) -> None:
    import rlmdj.experiments.sweep.context as sweep_module

    asked = []

    def finished_metric(cfg, primary: str) -> float:  # the job's run, found by its configuration
        asked.append(primary)
        return 10.0 - _random_is_lower(dict(cfg))  # CE ranks the conditions the other way round

    monkeypatch.setattr(sweep_module, "finished_metric", finished_metric)
    sweeper, _ = _sweeper(tmp_path, lambda o: 0.0, compare={"primary": "CE"})
    sweeper.sweep(["dj=reference,random"])
    out = capsys.readouterr().out
    assert set(asked) == {"CE"} and "deciding on CE" in out
    assert "sequential verdict: random vs reference: +0.6" in out and " CE, " in out
    with pytest.raises(ParameterError, match=r"experiment\.compare\.primary=XX"):
        _sweeper(tmp_path, lambda o: 0.0, compare={"primary": "XX"})[0].sweep(["dj=reference,random"])


def test_job_count_is_jobs_launched_through_each_round(tmp_path: Path, monkeypatch) -> None:
    from rlmdj.experiments.sweep.sequential_record import ParentLog

    monkeypatch.setattr(ParentLog, "from_sweep_dir", classmethod(lambda cls, d: cls(None, None)))  # no store
    (tmp_path / ".rlmdj_sweep.json").write_text(json.dumps({"parent_run_id": None, "n_jobs": 3}))
    sweeper, launcher = _sweeper(tmp_path, _random_is_lower)
    sweeper.sweep(["dj=reference,random,b"])  # 3 conditions: N was 3, the number of conditions
    assert launcher.totals == [9, 15]  # 3 conditions x 3 replicas, then x 5
