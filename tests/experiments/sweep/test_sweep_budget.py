"""A sweep's forecast and its spending cap (``experiment.budget_usd``).

Fast: the budget setting's checks, and the gate's ledger under parallel jobs (processes racing
for the sweep folder's lock, as joblib's workers do). Slow: through the ``rlmdj`` command against
the scripted OpenAI-compatible server: the forecast line before the first job, a sweep that stops
launching at its budget, and its resume under a new budget; bad input is one line, exit 2.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from rlmdj.errors import ParameterError
from rlmdj.experiments.sweep import budget as sweep_budget
from rlmdj.experiments.sweep.forecast import set_key

RLMDJ = str(Path(sys.executable).parent / "rlmdj")
PRICED = "openai/gpt-4.1-mini"  # in LiteLLM's shipped price table


# ------------------------------------------------------------------------------------- fast
@pytest.mark.parametrize("value", [-1, -0.01, math.nan, math.inf])
def test_a_negative_or_non_finite_budget_names_the_key(value):
    with pytest.raises(ParameterError, match=r"experiment\.budget_usd must be"):
        sweep_budget.check_budget_usd(OmegaConf.create({"experiment": {"budget_usd": value}}))


def test_no_budget_or_zero_is_fine():
    assert sweep_budget.check_budget_usd(OmegaConf.create({"experiment": {"budget_usd": None}})) is None
    assert sweep_budget.check_budget_usd(OmegaConf.create({"experiment": {"budget_usd": 0}})) == 0.0


def _llm_cfg() -> object:
    return OmegaConf.create({"dj": {"driver": "rlm"}, "model": {"model": PRICED}, "prompt": {"path": "baseline.txt"},
                             "bars": 16, "guardrails": {"critic": False}, "tracking": {"enabled": False}})


def _job_in_sweep(sweep_dir: str, job: str, hold_s: float, results) -> None:
    """One job of a parallel sweep: through the gate, play (sleep), report what it spent."""
    sweep_budget._job = lambda: (Path(sweep_dir), job)
    with sweep_budget.budget_gate(_llm_cfg(), f"replica={job}") as admission:
        if admission.admitted:
            time.sleep(hold_s)
            admission.outcome = type("Outcome", (), {"metrics": {"dj/cost_usd": 0.3}, "run_id": None})()
    results.put((job, admission.admitted))


def test_parallel_jobs_count_each_other_in_flight(tmp_path, capfd):
    """Six jobs start at once under a $1 budget with a $0.4 forecast each: two fit in flight; once
    they end (spending $0.3 each), one more fits; the others are skipped, each with one line."""
    ledger = {"budget_usd": 1.0, "started": "now", "estimates": {set_key(_llm_cfg()): {"cost_usd": 0.4, "tokens": 1}},
              "spent_usd": 0.0, "in_flight": {}, "ran": [], "skipped": [], "forecast": []}
    (tmp_path / sweep_budget.LEDGER).write_text(json.dumps(ledger))
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    first = [ctx.Process(target=_job_in_sweep, args=(str(tmp_path), str(j), 1.5, results)) for j in range(4)]
    for p in first:
        p.start()
    for p in first:
        p.join(60)
    late = [ctx.Process(target=_job_in_sweep, args=(str(tmp_path), str(j), 0.0, results)) for j in (4, 5)]
    for p in late:
        p.start()
        p.join(60)  # one after the other, as a launcher hands out jobs when workers free up
    admitted = dict(results.get(timeout=5) for _ in range(6))
    assert sum(admitted[str(j)] for j in range(4)) == 2  # 0.4 + 0.4 in flight; a third: 1.2 > 1.0
    assert [admitted["4"], admitted["5"]] == [True, False]  # 0.6 spent + 0.4 fits; then 0.9 + 0.4 does not
    final = json.loads((tmp_path / sweep_budget.LEDGER).read_text())
    assert final["in_flight"] == {} and final["spent_usd"] == pytest.approx(0.9)
    assert len(final["ran"]) == 3 and len(final["skipped"]) == 3
    skipped_lines = [ln for ln in capfd.readouterr().out.splitlines() if "skipped:" in ln]
    assert len(skipped_lines) == 3 and all("experiment.budget_usd=1" in ln for ln in skipped_lines)


def test_a_job_outside_a_budgeted_sweep_is_admitted(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_budget, "_job", lambda: (tmp_path, "0"))  # no ledger there
    with sweep_budget.budget_gate(_llm_cfg(), "x") as admission:
        assert admission.admitted
    assert not (tmp_path / sweep_budget.LEDGER).exists()


# ------------------------------------------------------------------------------------- slow
SET_16 = "print(add('kick', 0.9, 'four_on_floor'))\nprint(play(4))"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "RLMDJ_DEBUG")}
    return {**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def _rlmdj(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([RLMDJ, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _llm_sweep(server: FakeOpenAI, *extra: str) -> list[str]:
    return ["-m", "dj=rlm", "model=local", f"model.api_base={server.base_url}", f"model.model={PRICED}",
            "prompt=baseline", "bars=16", "guardrails.critic=false", "progress=false", *extra]


def _runs(cwd: Path) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{cwd}/mlruns.db")
    exp = client.get_experiment_by_name("rlmdj")
    return client.search_runs([exp.experiment_id], max_results=1000) if exp else []


@pytest.mark.slow
@pytest.mark.sandbox
def test_forecast_budget_stop_and_resume_through_the_command(tmp_path, sample_index):
    with FakeOpenAI([], fallback=SET_16) as server:
        # One set first: the store then knows what a set of this model and prompt costs.
        first = _rlmdj(tmp_path, *_llm_sweep(server, "replica=0", f"hydra.sweep.dir={tmp_path}/sweep0"))
        assert first.returncode == 0, first.stderr[-3000:]
        forecast = [ln for ln in first.stdout.splitlines() if ln.startswith("sweep forecast:")]
        assert forecast and "1 LLM set(s) × ~" in forecast[0] and "prompt size" in forecast[0]
        assert first.stdout.index("sweep forecast:") < first.stdout.index("job 1/1")
        (one,) = [r for r in _runs(tmp_path) if r.data.tags.get("rlmdj.sweep") != "parent"]
        per_set = one.data.metrics["dj/cost_usd"]
        assert per_set > 0

        # Four more under a budget of 2.5 sets: two play, two are skipped, each with one line.
        sweep = _llm_sweep(server, "replica=range(1,5)", f"hydra.sweep.dir={tmp_path}/sweep1")
        capped = _rlmdj(tmp_path, *sweep, f"experiment.budget_usd={2.5 * per_set:.6f}")
        assert capped.returncode == 0, capped.stderr[-3000:]
        out = capped.stdout
        assert "sweep forecast: 4 LLM set(s) × ~" in out and "median of 1 earlier run(s)" in out
        assert out.index("sweep forecast:") < out.index("job ")
        skipped = [ln for ln in out.splitlines() if ln.startswith("rlmdj: budget: job ")]
        assert len(skipped) == 2 and all("would exceed experiment.budget_usd=" in ln for ln in skipped)
        assert "sweep budget: spent $" in out and "2 LLM set(s) played, 2 skipped" in out
        requests_after_cap = len(server.requests)

        parents = [r for r in _runs(tmp_path) if r.data.tags.get("rlmdj.sweep") == "parent"]
        parent = next(p for p in parents if p.data.tags["rlmdj.sweep_dir"].endswith("sweep1"))
        assert parent.data.tags["rlmdj.budget.skipped"] == "2"
        children = [r for r in _runs(tmp_path) if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert len(children) == 2 and {c.info.status for c in children} == {"FINISHED"}

        # The same sweep resumed under a new budget plays only what was skipped.
        resumed = _rlmdj(tmp_path, *sweep, "experiment.resume=true", f"experiment.budget_usd={2.5 * per_set:.6f}")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "sweep forecast: 2 LLM set(s) × ~" in resumed.stdout
        assert "2 LLM set(s) played" in resumed.stdout and "skipped;" not in resumed.stdout
        assert len(server.requests) > requests_after_cap
    children = [r for r in _runs(tmp_path) if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(int(c.data.tags["rlmdj.replica"]) for c in children) == [1, 2, 3, 4]
    assert {c.info.status for c in children} == {"FINISHED"}


@pytest.mark.slow
@pytest.mark.parametrize(("args", "words"), [
    (["-m", "replica=range(2)", "experiment.budget_usd=-1"], "experiment.budget_usd must be a number of dollars >= 0"),
    (["-m", "replica=range(2)", "experiment.budget_usd=abc"], "experiment.budget_usd"),
    (["-m", "replica=range(2)", "dj=rlm", "model=local", "prompt=baseline", "experiment.budget_usd=1"],
     "job #0 (replica=0): experiment.budget_usd: the cost cannot be measured for model.model=openai/local-model"),
    (["dj=rlm", "model=local", "prompt=baseline", "model.max_cost_usd=0.5"],
     "model.max_cost_usd: the cost cannot be measured for model.model=openai/local-model"),
    (["dj=rlm", "model=local", "prompt=baseline", "model.max_tokens_per_set=-3"], "model.max_tokens_per_set must be"),
    (["dj=rlm", "model=local", "prompt=baseline", "dj.max_wall_s=nan"], "dj.max_wall_s must be"),
])
def test_bad_budgets_are_one_line_naming_the_key_and_leave_nothing(tmp_path, sample_index, args, words):
    proc = _rlmdj(tmp_path, *args, "bars=8", "progress=false", f"hydra.sweep.dir={tmp_path}/sweep", timeout=180)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("rlmdj: error: ")]
    assert len(errors) == 1 and words in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and "sweep forecast" not in proc.stdout
    if "cannot be measured" in words:
        assert "model.max_tokens_per_set" in errors[0]
    assert not [r for r in _runs(tmp_path)]
