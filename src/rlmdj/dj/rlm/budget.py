"""Hard budgets of one RLM set, LM prices, and what a set is expected to cost before it is played.

:class:`SetBudget` caps a set's tokens (``model.max_tokens_per_set``: prompt + completion of
every LM role), its cost (``model.max_cost_usd``) and its wall time (``dj.max_wall_s``). Every
:class:`~rlmdj.dj.rlm.lm.RecordingLM` asks it before each request: once a limit is reached the
request is refused with :class:`BudgetReached` and nothing goes over the wire, so a set can
overshoot a limit only by the one call that crossed it. The driver then plays the remaining bars
holding the mix as it stands (the scorers are duration-sensitive, so the set keeps its length)
and ends with the stop reason ``budget:<tokens|cost|wall>``.

The wall clock measures the set's own time: the model's requests, its code and the tools. It
starts when the first sandbox is ready, not when the budget is made: starting Deno and Pyodide
takes seconds that depend on the machine and its load, and would make one limit stop a set at
different turns on a fast and a slow machine. The sandbox reports its start-ups
(:meth:`SetBudget.sandbox_start`) rather than the clock waiting for the first LM request, so a
sandbox replaced after a crash or a hang is left out by the same rule (the hung execution before
it counts: it was the model's code). DSPy's RLM starts its sandbox before its first request;
should none report, the first request starts the clock. Start-ups show as ``dj/sandbox_start_s``.

A replay ignores the limits and stops where the recorded set stopped (the transcript's
``budget_stop``), so a budget hit replays byte-identically even when it was a wall-clock one.

Costs are the provider's reported cost where DSPy passes it on, otherwise LiteLLM's price table
(:func:`token_prices`); a model with no known price cannot have a cost limit
(:func:`check_set_budgets`). :func:`estimate_set` gives the forecast of a set from the prompt
size and the set length, for sweeps to show and budget before their first job.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rlmdj.config.dj import DJConfig, ModelConfig
from rlmdj.errors import ParameterError

__all__ = [
    "BudgetReached",
    "SetBudget",
    "SetEstimate",
    "check_set_budgets",
    "estimate_set",
    "token_cost",
    "token_prices",
    "unpriced_model",
]

# What a set is expected to ask, measured on sets played through the scripted server with the
# shipped prompts (a reply there is shorter than a real model's, so REPLY_TOKENS is a real one):
# the scaffold's own text around the prompt per ``dj.scaffold``, the palette and set plan the
# model reads, what one code turn adds to the history (its code, reasoning and tool output), the
# ledger a windowed history folds earlier turns into, one reply, the bars a turn plays (a
# cautious 4: more turns cost more), and the critic's request and reply.
CHARS_PER_TOKEN = 4.0
SCAFFOLD_TOKENS: dict[str, int] = {"lean": 500, "dspy": 1500}
CONTEXT_CHARS = 2000
TURN_HISTORY_TOKENS = 300
LEDGER_TOKENS = 300
REPLY_TOKENS = 200
BARS_PER_TURN = 4
CRITIC_REQUEST_TOKENS = 900
CRITIC_REPLY_TOKENS = 60


class BudgetReached(Exception):  # noqa: N818 - reads as the event it is: the budget was reached
    """A set's budget is spent: the LM request was not sent (``which``: tokens, cost or wall)."""

    def __init__(self, which: str, message: str) -> None:
        super().__init__(message)
        self.which = which


@functools.lru_cache(maxsize=64)
def token_prices(model: str) -> tuple[float, float] | None:
    """(USD per input token, per output token) of a LiteLLM model id; ``None`` when unknown.

    LiteLLM prints a provider-list banner to stdout for an id it cannot map (any local or
    self-hosted model); an unknown price is an ordinary answer here, so it is asked quietly.
    """
    import litellm

    loud, litellm.suppress_debug_info = litellm.suppress_debug_info, True
    try:
        info = litellm.get_model_info(model)
    except Exception:  # noqa: BLE001 - LiteLLM raises plain Exceptions for unmapped models
        return None
    finally:
        litellm.suppress_debug_info = loud
    rates = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not all(isinstance(r, int | float) and math.isfinite(r) for r in rates):
        return None
    return float(rates[0]), float(rates[1])  # type: ignore[arg-type]


def token_cost(model: str, input_tokens: int, output_tokens: int) -> float | None:
    """The cost of one call by the price table (``None``: the model has no known price)."""
    prices = token_prices(str(model))
    if prices is None:
        return None
    return input_tokens * prices[0] + output_tokens * prices[1]


def _limit(value: Any, key: str, example: Any, *, integer: bool = False) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParameterError(f"{key} must be a number or null (no limit), got {value!r} (e.g. {key}={example})")
    if integer and float(value) != int(value):
        raise ParameterError(f"{key} must be a whole number, got {value!r} (e.g. {key}={example})")
    if value <= 0:
        raise ParameterError(f"{key} must be positive (null: no limit), got {value!r} (e.g. {key}={example})")
    return float(value)


def unpriced_model(cfg: Any) -> tuple[str, str] | None:
    """``(config key, model id)`` of the first LM a set of ``cfg`` may call (main, critic, sub)
    that has no known price, or None: then its cost can be measured."""
    from rlmdj.validation import setting

    main = str(setting(cfg, "model.model"))
    models = [("model.model", main)]
    if setting(cfg, "guardrails.critic"):
        models.append(("model.critic_model", str(setting(cfg, "model.critic_model") or main)))
    if setting(cfg, "model.sub_model"):
        models.append(("model.sub_model", str(setting(cfg, "model.sub_model"))))
    return next(((k, m) for k, m in models if token_prices(m) is None), None)


def check_set_budgets(cfg: Any) -> None:
    """The per-set limits of a composed config are positive numbers or null, and a cost limit is
    measurable: every model the set may call has a price (else one line naming the model and
    suggesting the token limit)."""
    from rlmdj.validation import setting

    _limit(setting(cfg, "model.max_tokens_per_set"), "model.max_tokens_per_set", 200000, integer=True)
    _limit(setting(cfg, "dj.max_wall_s"), "dj.max_wall_s", 600)
    if _limit(setting(cfg, "model.max_cost_usd"), "model.max_cost_usd", 0.5) is None:
        return
    unpriced = unpriced_model(cfg)
    if unpriced is not None:
        raise ParameterError(
            f"model.max_cost_usd: the cost cannot be measured for {unpriced[0]}={unpriced[1]} (no "
            "price in LiteLLM's table); limit the set with model.max_tokens_per_set instead")


@dataclass
class SetBudget:
    """The limits of one set and what it has spent; thread-safe (the critic and ``llm_query``
    call from the sandbox's tool thread).

    ``stop_after_calls`` (a replay): refuse the request after that many LM calls, as ``which``
    did in the recorded set. ``meta`` (the transcript's) receives ``budget_stop`` when a limit
    is reached, which is what a replay reads back. ``started``: the ``clock`` reading the wall
    budget counts from (None until the first sandbox is ready or the first request);
    ``sandbox_s``: what every sandbox start-up took, of which ``paused_s`` fell after ``started``.
    """

    max_tokens: float | None = None
    max_cost_usd: float | None = None
    max_wall_s: float | None = None
    stop_after_calls: int | None = None
    which: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.perf_counter
    tokens: int = 0
    cost: float = 0.0
    calls: int = 0
    reached: str | None = None
    bars_held: int = 0
    sandbox_s: float = 0.0
    paused_s: float = 0.0
    started: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def for_set(cls, settings: Any, *, meta: dict[str, Any], recorded: Mapping[str, Any] | None = None,
                clock: Callable[[], float] = time.perf_counter) -> SetBudget:
        """The budget of a set played with ``settings`` (an ``RLMSettings``); ``recorded``: the
        meta of the transcript a replay serves, whose stop replaces the limits."""
        if recorded is not None:
            stop = recorded.get("budget_stop") or {}
            calls = stop.get("calls")
            return cls(stop_after_calls=int(calls) if calls is not None else None,
                       which=str(stop.get("which", "")), meta=meta, clock=clock)
        m, d = settings.model, settings.dj
        return cls(max_tokens=m.max_tokens_per_set, max_cost_usd=m.max_cost_usd,
                   max_wall_s=d.max_wall_s, meta=meta, clock=clock)

    @property
    def stop_reason(self) -> str | None:
        """``budget:<which>`` once a limit refused a request, else None."""
        return f"budget:{self.reached}" if self.reached else None

    def _over(self) -> tuple[str, str] | None:
        if self.stop_after_calls is not None:
            if self.calls >= self.stop_after_calls:
                return self.which or "replayed", "the recorded set stopped at its budget here"
            return None
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return "tokens", f"model.max_tokens_per_set={self.max_tokens:g}: {self.tokens} tokens used"
        if self.max_cost_usd is not None and self.cost >= self.max_cost_usd:
            return "cost", f"model.max_cost_usd={self.max_cost_usd:g}: ${self.cost:.4f} spent"
        wall = self.wall_s()
        if self.max_wall_s is not None and wall >= self.max_wall_s:
            return "wall", f"dj.max_wall_s={self.max_wall_s:g}: {wall:.1f} s elapsed"
        return None

    def wall_s(self) -> float:
        """Seconds counted against ``dj.max_wall_s`` so far: since :attr:`started`, less the
        sandbox start-ups after it (0 before the clock starts)."""
        if self.started is None:
            return 0.0
        return self.clock() - self.started - self.paused_s

    @contextlib.contextmanager
    def sandbox_start(self) -> Iterator[None]:
        """Time one sandbox start-up (the first or a replacement): it adds to :attr:`sandbox_s`
        and never to the wall budget, whose clock starts when the first one is ready."""
        began = self.clock()
        try:
            yield
        finally:
            ready = self.clock()
            with self._lock:
                self.sandbox_s += ready - began
                if self.started is None:
                    self.started = ready
                else:
                    self.paused_s += ready - max(began, self.started)

    def check(self) -> None:
        """Raise :class:`BudgetReached` instead of letting an LM request go out over a limit (the
        first request starts the wall clock if no sandbox has)."""
        with self._lock:
            if self.started is None:
                self.started = self.clock()
            over = self._over()
            if over is None:
                return
            which, why = over
            if self.reached is None:
                self.reached = which
                self.meta["budget_stop"] = {"which": which, "calls": self.calls,
                                            "at": round(time.time(), 6)}
        raise BudgetReached(which, f"the set's {which} budget is spent ({why}); no further LM request")

    def spend(self, tokens: int, cost: float | None) -> None:
        """Count one successful LM call."""
        with self._lock:
            self.calls += 1
            self.tokens += int(tokens)
            self.cost += float(cost or 0.0)

    def run(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        """``fn(**kwargs)``, or ``None`` when a refused request ended it (:attr:`reached` says why).

        DSPy may wrap the refusal (an adapter falling back to another); it is found in the chain.
        """
        try:
            return fn(**kwargs)
        except Exception as exc:
            if self.reached is None or not _caused_by_budget(exc):
                raise
            return None

    def hold(self, tools: Any) -> int:
        """After a budget stop, play the bars left with the mix as it stands: their number (0 when
        no budget was reached). The critic is an LM too, so it stays silent meanwhile."""
        if self.reached is None:
            return 0
        bars = int(tools.session.remaining)
        critic, tools.critic = tools.critic, None
        try:
            if bars > 0:
                tools.call("play", bars)
        finally:
            tools.critic = critic
        self.bars_held = bars
        return bars

    def metrics(self) -> dict[str, float]:
        """``dj/budget_bars_held``, the limits that were set (``dj/budget_<which>``) and
        ``dj/sandbox_start_s``, the start-up seconds the wall budget left out."""
        out = {"dj/budget_bars_held": float(self.bars_held), "dj/sandbox_start_s": round(self.sandbox_s, 3)}
        for name, value in (("tokens", self.max_tokens), ("cost_usd", self.max_cost_usd),
                            ("wall_s", self.max_wall_s)):
            if value is not None:
                out[f"dj/budget_{name}"] = float(value)
        return out


def _caused_by_budget(exc: BaseException | None) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, BudgetReached):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


@dataclass(frozen=True)
class SetEstimate:
    """What one set is expected to use: tokens in and out, and the cost (``None``: no price)."""

    input_tokens: float
    output_tokens: float
    cost_usd: float | None
    source: str

    @property
    def tokens(self) -> float:
        return self.input_tokens + self.output_tokens


def _history_tokens(turn: int, dj: DJConfig) -> float:
    """What the history adds to request ``turn`` (0-based): every turn before it, or the last
    ``history_window`` and the ledger of the others."""
    if dj.history == "window" and turn > dj.history_window:
        return dj.history_window * TURN_HISTORY_TOKENS + LEDGER_TOKENS
    return turn * TURN_HISTORY_TOKENS


def estimate_set(*, model: ModelConfig, dj: DJConfig, prompt_chars: int, bars: int, critic: bool,
                 critic_every: int) -> SetEstimate:
    """A set's tokens and cost from the prompt's size and the set length: one code turn per
    :data:`BARS_PER_TURN` bars plus a first look, each request carrying the scaffold, the prompt,
    the palette and plan, and the history ``dj.history`` keeps; a critic request every
    ``critic_every`` bars. Capped by the set's own token and cost limits."""
    turns = math.ceil(bars / BARS_PER_TURN) + 1
    scaffold = SCAFFOLD_TOKENS.get(dj.scaffold, max(SCAFFOLD_TOKENS.values()))
    base = scaffold + (prompt_chars + CONTEXT_CHARS) / CHARS_PER_TOKEN
    main_in = sum(base + _history_tokens(k, dj) for k in range(turns))
    main_out = turns * REPLY_TOKENS
    critics = bars // max(1, critic_every) if critic else 0
    critic_in, critic_out = critics * CRITIC_REQUEST_TOKENS, critics * CRITIC_REPLY_TOKENS
    cost: float | None = token_cost(str(model.model), int(main_in), int(main_out))
    if critics and cost is not None:
        extra = token_cost(str(model.critic_model or model.model), critic_in, critic_out)
        cost = None if extra is None else cost + extra
    return capped(SetEstimate(main_in + critic_in, main_out + critic_out, cost, "prompt size"), model)


def capped(e: SetEstimate, model: ModelConfig) -> SetEstimate:
    """``e`` limited by the set's ``model.max_tokens_per_set`` and ``model.max_cost_usd``."""
    scale = 1.0
    if model.max_tokens_per_set is not None and e.tokens > model.max_tokens_per_set:
        scale = float(model.max_tokens_per_set) / e.tokens
    cost = None if e.cost_usd is None else e.cost_usd * scale
    if cost is not None and model.max_cost_usd is not None:
        cost = min(cost, float(model.max_cost_usd))
    return SetEstimate(e.input_tokens * scale, e.output_tokens * scale, cost, e.source)
