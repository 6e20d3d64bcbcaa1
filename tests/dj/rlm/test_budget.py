"""A set's hard budgets (tokens, cost, wall time), the price table, and the set estimate.

The slow tests play sets through the scripted OpenAI-compatible server (:mod:`fake_openai`):
once a budget is reached no further request reaches it, and the set still renders every bar.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import soundfile as sf
from fake_openai import CRITIC_MARKER, FakeOpenAI
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from scripted import ScriptedLM

from rlmdj.config.dj import DJConfig, ModelConfig
from rlmdj.dj.rlm.budget import (
    BudgetReached,
    SetBudget,
    check_set_budgets,
    estimate_set,
    token_cost,
    token_prices,
)
from rlmdj.dj.rlm.lm import RecordingLM
from rlmdj.dj.rlm.transcript import Transcript
from rlmdj.errors import ParameterError

PRICED = "openai/gpt-4.1-mini"  # in LiteLLM's shipped price table


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ fast: the budget itself
def test_no_limit_by_default_and_each_limit_stops_once_reached():
    free = SetBudget()
    free.spend(10**9, 10**6)
    free.check()
    assert free.reached is None and free.stop_reason is None

    tokens = SetBudget(max_tokens=100)
    tokens.spend(99, None)
    tokens.check()
    tokens.spend(1, None)
    with pytest.raises(BudgetReached) as info:
        tokens.check()
    assert info.value.which == "tokens" and "model.max_tokens_per_set=100" in str(info.value)
    assert tokens.stop_reason == "budget:tokens"

    cost = SetBudget(max_cost_usd=0.01)
    cost.spend(5, 0.004)
    cost.check()
    cost.spend(5, 0.007)
    with pytest.raises(BudgetReached, match="model.max_cost_usd"):
        cost.check()

    clock = Clock()
    meta: dict = {}
    wall = SetBudget(max_wall_s=5, clock=clock, meta=meta)
    clock.now += 60  # nothing counts before the first request (no sandbox here)
    wall.check()
    wall.spend(1, None)
    clock.now += 4.9
    wall.check()
    clock.now += 0.2
    with pytest.raises(BudgetReached, match="dj.max_wall_s"):
        wall.check()
    assert {k: meta["budget_stop"][k] for k in ("which", "calls")} == {"which": "wall", "calls": 1}
    with pytest.raises(BudgetReached):  # once spent, it stays spent
        wall.check()


def test_the_wall_clock_leaves_out_every_sandbox_start_up():
    clock = Clock()
    budget = SetBudget(max_wall_s=5, clock=clock)
    clock.now += 2  # the driver builds the set
    with budget.sandbox_start():
        clock.now += 30  # a start-up on a busy machine, longer than the whole budget
    budget.check()
    assert budget.wall_s() == 0
    clock.now += 3
    budget.check()
    with budget.sandbox_start():  # the sandbox crashed and is replaced
        clock.now += 30
    budget.check()
    assert budget.wall_s() == pytest.approx(3)
    clock.now += 2.1
    with pytest.raises(BudgetReached, match=r"dj.max_wall_s=5: 5.1 s elapsed"):
        budget.check()
    assert budget.metrics()["dj/sandbox_start_s"] == 60


def test_a_replay_stops_where_the_recorded_set_stopped():
    replay = SetBudget.for_set(None, meta={}, recorded={"budget_stop": {"which": "wall", "calls": 2}})
    replay.check()
    replay.spend(0, None)
    replay.check()
    replay.spend(0, None)
    with pytest.raises(BudgetReached):
        replay.check()
    assert replay.stop_reason == "budget:wall"
    unstopped = SetBudget.for_set(None, meta={}, recorded={})
    for _ in range(50):
        unstopped.spend(10**6, 1.0)
    unstopped.check()


def test_a_recording_lm_sends_nothing_once_the_budget_is_spent():
    inner = ScriptedLM(["print(1)"] * 5)
    budget = SetBudget(max_tokens=1)
    lm = RecordingLM(inner, Transcript(), "main", budget=budget)
    lm(messages=[{"role": "user", "content": "x" * 400}])
    assert inner.calls == 1 and budget.tokens > 1
    with pytest.raises(BudgetReached):
        lm(messages=[{"role": "user", "content": "again"}])
    assert inner.calls == 1 and lm.calls == 1  # the refused request was neither sent nor counted


def test_the_run_wrapper_turns_only_a_budget_stop_into_no_prediction():
    budget = SetBudget(max_tokens=1)
    budget.spend(5, None)

    def refused() -> None:
        try:
            budget.check()
        except BudgetReached as exc:
            raise RuntimeError("an adapter wrapped it") from exc

    assert budget.run(refused) is None and budget.reached == "tokens"
    with pytest.raises(ValueError):
        SetBudget().run(lambda: (_ for _ in ()).throw(ValueError("a real failure")))


def test_price_table_and_unknown_models():
    assert token_prices(PRICED) is not None
    assert token_prices("openai/local-model") is None
    assert token_cost(PRICED, 1000, 100) == pytest.approx(sum(p * n for p, n in zip(token_prices(PRICED), (1000, 100), strict=True)))
    assert token_cost("openai/local-model", 1000, 100) is None


def _cfg(dj: dict | None = None, critic: bool = False, **model):
    return OmegaConf.create({"dj": dj or {}, "model": {"model": PRICED, **model},
                             "guardrails": {"critic": critic}})


@pytest.mark.parametrize(("dj", "model", "key"), [
    ({}, {"max_tokens_per_set": -5}, "model.max_tokens_per_set"),
    ({}, {"max_tokens_per_set": 0}, "model.max_tokens_per_set"),
    ({}, {"max_tokens_per_set": 2.5}, "model.max_tokens_per_set"),
    ({}, {"max_cost_usd": -1.0}, "model.max_cost_usd"),
    ({}, {"max_cost_usd": "lots"}, "model.max_cost_usd"),
    ({}, {"max_cost_usd": math.nan}, "model.max_cost_usd"),
    ({"max_wall_s": -3.0}, {}, "dj.max_wall_s"),
    ({"max_wall_s": math.inf}, {}, "dj.max_wall_s"),
])
def test_bad_limits_name_their_key(dj, model, key):
    with pytest.raises(ParameterError, match=key.replace(".", r"\.")):
        check_set_budgets(_cfg(dj, **model))


def test_a_cost_limit_needs_a_price():
    check_set_budgets(_cfg(critic=True, max_cost_usd=0.5))
    check_set_budgets(_cfg(critic=True, model="openai/local-model", max_tokens_per_set=9000))
    with pytest.raises(ParameterError) as info:
        check_set_budgets(_cfg(model="openai/local-model", max_cost_usd=0.5))
    text = str(info.value)
    assert "cannot be measured" in text and "openai/local-model" in text and "model.max_tokens_per_set" in text
    with pytest.raises(ParameterError, match="model.critic_model"):
        check_set_budgets(_cfg(critic=True, critic_model="openai/local-model", max_cost_usd=0.5))
    check_set_budgets(_cfg(critic=False, critic_model="openai/local-model", max_cost_usd=0.5))


def test_the_estimate_grows_with_the_set_and_respects_the_set_limits():
    kw = {"prompt_chars": 2000, "critic": True, "critic_every": 16, "dj": DJConfig()}
    short = estimate_set(model=ModelConfig(model=PRICED), bars=32, **kw)
    long = estimate_set(model=ModelConfig(model=PRICED), bars=128, **kw)
    assert 0 < short.tokens < long.tokens and 0 < short.cost_usd < long.cost_usd
    full = estimate_set(model=ModelConfig(model=PRICED), bars=128,
                        **{**kw, "dj": DJConfig(history="full", scaffold="dspy")})
    assert full.tokens > 2 * long.tokens  # every turn carries every turn before it
    assert estimate_set(model=ModelConfig(model="openai/local-model"), bars=32, **kw).cost_usd is None
    capped = estimate_set(model=ModelConfig(model=PRICED, max_tokens_per_set=5000, max_cost_usd=0.0001),
                          bars=128, **kw)
    assert capped.tokens == pytest.approx(5000) and capped.cost_usd <= 0.0001


# ------------------------------------------- the driver, over a sandbox that starts slowly
class SlowStartSandbox:
    """An in-process stand-in for the Deno sandbox: starting it "takes" ``startup_s`` on the test
    clock, and code calling ``crash_sandbox()`` ends it as a crashed Deno process would."""

    def __init__(self, clock: Clock, startup_s: float) -> None:
        self.clock, self.startup_s = clock, startup_s
        self.tools: dict = {}
        self.output_fields = None

    def start(self) -> None:
        self.clock.now += self.startup_s

    def execute(self, code: str, variables: dict | None = None) -> str:
        from rlmdj.dj.rlm.dspy_compat import CodeInterpreterError

        if "crash_sandbox()" in code:
            raise CodeInterpreterError("the sandbox process exited")
        printed: list[str] = []
        scope = {**self.tools, **(variables or {}), "print": lambda *a: printed.append(" ".join(map(str, a)))}
        exec(code, scope)  # noqa: S102 - the scripted model's code, as the sandbox would run it
        return "\n".join(printed)

    def shutdown(self) -> None:
        pass


TURNS = [
    "print(add('kick', 0.92, 'four_on_floor'))\nprint(play(4))",
    "crash_sandbox()",
    "print(add('hihat', 0.55, 'offbeat_8ths'))\nprint(play(4))",
    "print(play(4))",
    "print(play(4))",
]


def _rlm_set(make_session, monkeypatch, *, clock: Clock, lm, replay=None):
    """A 32-bar set through the real driver; every sandbox start-up takes 30 s on ``clock``."""
    from rlmdj.config.dj import SandboxConfig
    from rlmdj.dj.rlm import sandbox
    from rlmdj.dj.rlm.driver import RLMDriver, RLMSettings

    monkeypatch.setattr(sandbox, "_make_inner", lambda *a: SlowStartSandbox(clock, 30.0))
    settings = RLMSettings(dj=DJConfig(max_wall_s=3.5, sandbox=SandboxConfig(kind="local", timeout_s=30)),
                           model=ModelConfig(backoff_s=0.0))
    driver = RLMDriver(prompt_text="You are a techno DJ.", lm=lm, settings=settings, sleep=lambda s: None,
                       clock=clock, replay=replay)
    session = make_session(32)
    driver.perform(session)
    return driver, session


def test_sandbox_start_ups_do_not_spend_the_wall_budget_and_a_replay_stops_alike(make_session, monkeypatch):
    from rlmdj.dj.rlm.replay import ReplayLM, ReplaySource

    clock = Clock()
    lm = ScriptedLM(TURNS, on_call=lambda n: setattr(clock, "now", clock.now + 1.0))  # 1 s a turn
    played, session = _rlm_set(make_session, monkeypatch, clock=clock, lm=lm)
    report = played.report()
    # Requests at 0, 1, 2 and 3 s of the set's own time; the one at 4 s is refused. The 60 s of
    # start-ups (first and after the crash) count for nothing.
    assert lm.calls == 4 and played.stop_reason == "budget:wall"
    assert report.metrics["dj/sandbox_restarts"] == 1 and report.metrics["dj/sandbox_start_s"] == 60
    assert report.metrics["dj/budget_bars_held"] == 32 - 12 and session.finished

    # A replay stops at the recorded request, though its clock never moves.
    source = ReplaySource(Transcript.from_json(report.artifacts["dj/transcript.json"]))
    replayed, again = _rlm_set(make_session, monkeypatch, clock=Clock(), lm=ReplayLM(source, "main"),
                               replay=source)
    assert replayed.stop_reason == "budget:wall" and replayed.main.calls == 4
    assert again.audio().tobytes() == session.audio().tobytes()


# ------------------------------------------------------- slow: through the scripted server
SET_32 = [
    "print(add('kick', 0.92, 'four_on_floor'))\nprint(play(4))",
    "print(add('hihat', 0.55, 'offbeat_8ths'))\nprint(play(4))",
    "print(add('bassline', 0.65))\nprint(play(4))",
    "print(add('perc', 0.42, 'syncopated_a'))\nprint(play(4))",
    "print(play(4))",
    "print(play(4))",
    "print(play(4))",
    "print(play(4))",
]


def _play(compose_cfg, server: FakeOpenAI, *overrides: str):
    from rlmdj.experiments.jobs.run import run_set

    return run_set(compose_cfg("dj=rlm", "model=local", f"model.api_base={server.base_url}",
                               "prompt=baseline", "bars=32", *overrides))


def _main_requests(server: FakeOpenAI) -> int:
    return sum(1 for r in server.requests if CRITIC_MARKER not in json.dumps(r["messages"]))


def _full_length(client: MlflowClient, run_id: str, bars: int = 32, bpm: float = 128.0) -> None:
    audio = Path(client.download_artifacts(run_id, "audio/set.flac"))
    info = sf.info(str(audio))
    assert info.frames == round(bars * 4 * 60.0 / bpm * info.samplerate)


def _first_crossing(amounts: list[float], limit: float) -> int:
    """How many requests it takes for the running total of ``amounts`` to reach ``limit``."""
    total = 0.0
    for i, amount in enumerate(amounts):
        total += amount
        if total >= limit:
            return i + 1
    raise AssertionError(f"the limit {limit} was never reached: {total}")


@pytest.mark.slow
@pytest.mark.sandbox
def test_token_budget_sends_nothing_after_the_limit_and_keeps_the_set_length(tmp_path, compose_cfg):
    with FakeOpenAI(SET_32) as server:
        outcome = _play(compose_cfg, server, "model.max_tokens_per_set=9000")
    per_request = [u["total_tokens"] for u in server.usages]
    assert len(server.requests) == _first_crossing(per_request, 9000) < len(SET_32)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["dj.stop_reason"] == "budget:tokens"
    m = run.data.metrics
    assert m["dj/budget_tokens"] == 9000 and m["dj/autopilot_bars"] == 0
    assert m["dj/lm_calls"] + m.get("dj/critic_lm_calls", 0) == len(server.requests)
    assert m["dj/budget_bars_held"] == 32 - 4 * _main_requests(server)
    _full_length(client, outcome.run_id)
    transcript = json.loads(Path(client.download_artifacts(outcome.run_id, "dj/transcript.json")).read_text())
    stop = transcript["meta"]["budget_stop"]
    assert stop["which"] == "tokens" and stop["calls"] == len(server.requests)
    assert max(server.times) < stop["at"]


@pytest.mark.slow
@pytest.mark.sandbox
def test_cost_budget_from_the_price_table_sends_nothing_after_the_limit(tmp_path, compose_cfg):
    with FakeOpenAI(SET_32) as server:
        outcome = _play(compose_cfg, server, f"model.model={PRICED}", "model.max_cost_usd=0.003",
                        "guardrails.critic=false")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    calls = json.loads(Path(client.download_artifacts(outcome.run_id, "dj/transcript.json")).read_text())["calls"]
    costs = [c["cost"] if c["cost"] is not None else
             token_cost(PRICED, c["usage"]["prompt_tokens"], c["usage"]["completion_tokens"]) for c in calls]
    assert len(server.requests) == len(calls) == _first_crossing(costs, 0.003) < len(SET_32)
    run = client.get_run(outcome.run_id)
    assert run.data.tags["dj.stop_reason"] == "budget:cost"
    assert run.data.metrics["dj/cost_usd"] >= 0.003
    assert run.data.metrics["dj/budget_bars_held"] == 32 - 4 * len(calls)
    _full_length(client, outcome.run_id)


@pytest.mark.slow
@pytest.mark.sandbox
def test_wall_budget_sends_nothing_after_the_limit(tmp_path, compose_cfg):
    # Each answer takes 2 s, so at most 6 requests fit in the 12 s: the sandbox's start-up
    # (seconds, more on a busy machine) is not the set's time; its code and rendering are.
    with FakeOpenAI(SET_32, delay_s=2.0) as server:
        outcome = _play(compose_cfg, server, "dj.max_wall_s=12", "guardrails.critic=false")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    run = client.get_run(outcome.run_id)
    assert run.data.tags["dj.stop_reason"] == "budget:wall"
    assert 1 <= len(server.requests) <= 6
    assert run.data.metrics["dj/lm_calls"] == len(server.requests)
    assert run.data.metrics["dj/sandbox_start_s"] > 0
    assert run.data.metrics["dj/budget_bars_held"] == 32 - 4 * len(server.requests)
    _full_length(client, outcome.run_id)
    transcript = json.loads(Path(client.download_artifacts(outcome.run_id, "dj/transcript.json")).read_text())
    assert all(t < transcript["meta"]["budget_stop"]["at"] for t in server.times)

    # The replay stops where the set stopped, whatever the clock says now.
    from rlmdj.experiments.jobs.replay import replay_job

    replay_job(compose_cfg("experiment=replay", f"experiment.replay.run_id={outcome.run_id}"))
    (again,) = client.search_runs([run.info.experiment_id], filter_string="tags.`rlmdj.replay_of` != ''")
    assert again.info.status == "FINISHED" and again.data.tags["dj.stop_reason"] == "budget:wall"
    assert again.data.tags["rlmdj.render_sha256"] == run.data.tags["rlmdj.render_sha256"]
