"""Language models for the RLM DJ: built from config, recorded, retried with backoff.

- :func:`build_lm` makes a ``dspy.LM`` from a LiteLLM model id. The API key is read from the
  environment variable the model config names; a missing key fails fast naming it. Keys are
  passed to DSPy only, never to params, tags or artifacts. ``rollout_id`` comes from the
  replica and the response cache is off by default, so replicas are never served from cache.
- :class:`RecordingLM` wraps any DSPy LM: it appends every request and response (with usage,
  cost and wall time) to a :class:`~rlmdj.dj.rlm.transcript.Transcript`, retries transient
  failures (rate limits, timeouts, server and transport errors) with exponential backoff, and
  counts calls — including any after the set ended, which the hard stop keeps at zero. With a
  :class:`~rlmdj.dj.rlm.budget.SetBudget` it sends nothing once the set's budget is spent, and
  prices calls the provider reported no cost for from LiteLLM's table.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dspy

from rlmdj.config.dj import ModelConfig
from rlmdj.dj.rlm.budget import SetBudget, token_cost
from rlmdj.dj.rlm.dspy_compat import history_usage, with_callbacks
from rlmdj.dj.rlm.transcript import Transcript
from rlmdj.errors import ParameterError

__all__ = [
    "LMSettings",
    "RecordingLM",
    "TRANSIENT_ERRORS",
    "api_key",
    "build_lm",
    "is_transient",
    "lm_failure_message",
]

log = logging.getLogger(__name__)


def _transient_types() -> tuple[type[BaseException], ...]:
    names = ("LMRateLimitError", "LMTimeoutError", "LMServerError", "LMTransportError")
    found: list[type[BaseException]] = [getattr(dspy, n) for n in names if hasattr(dspy, n)]
    try:
        import litellm

        found += [litellm.RateLimitError, litellm.Timeout, litellm.APIConnectionError,
                  litellm.InternalServerError, litellm.ServiceUnavailableError]
    except (ImportError, AttributeError):
        pass
    return tuple(found)


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = _transient_types()


def is_transient(exc: BaseException) -> bool:
    """Whether a failed LM call is worth retrying (rate limit, timeout, 5xx, network)."""
    return isinstance(exc, TRANSIENT_ERRORS)


def lm_failure_message(exc: BaseException) -> str | None:
    """One line for a model call that failed the run (``None``: not an LM failure).

    The CLI prints it instead of a traceback: provider errors are not bugs of rlmdj, and
    the note :class:`RecordingLM` adds says which LM, which server and how many attempts.
    """
    if not isinstance(exc, (dspy.LMError, *TRANSIENT_ERRORS)):
        return None
    notes = "; ".join(getattr(exc, "__notes__", None) or [])
    text = f"the model call failed: {type(exc).__name__}: {exc}"
    return f"{text} ({notes})" if notes else text


@dataclass(frozen=True)
class LMSettings:
    """One of the models the ``model`` group describes (main, critic or sub), as DSPy needs it.

    No defaults here: :meth:`from_config` reads them from :class:`~rlmdj.config.dj.ModelConfig`
    (retry policy stays there too; :class:`RecordingLM` applies it).
    """

    model: str
    api_key_env: str | None
    api_base: str | None
    temperature: float | None
    max_tokens: int | None
    cache: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, m: ModelConfig, which: str = "main") -> LMSettings:
        """The ``main``, ``critic`` or ``sub`` model of ``m``. The critic and sub models default
        to the main one; a named critic model uses the ``critic_*`` key, base and sampling."""
        if which not in ("main", "critic", "sub"):
            raise ValueError(f"which must be main, critic or sub, got {which!r}")
        model, key_env, base = m.model, m.api_key_env, m.api_base
        temperature, max_tokens = m.temperature, m.max_tokens
        if which == "critic":
            if m.critic_model:
                model, key_env, base = m.critic_model, m.critic_api_key_env, m.critic_api_base
            temperature, max_tokens = m.critic_temperature, m.critic_max_tokens
        elif which == "sub" and m.sub_model:
            model = m.sub_model
        return cls(model=str(model or ""), api_key_env=key_env, api_base=base,
                   temperature=temperature, max_tokens=max_tokens, cache=m.cache,
                   extra=dict(m.extra))


def api_key(settings: LMSettings, *, role: str = "model") -> str | None:
    """The key from ``settings.api_key_env``; missing → ParameterError naming the variable."""
    var = settings.api_key_env
    if not var:
        return None
    value = os.environ.get(var, "")
    if not value.strip():
        raise ParameterError(
            f"{role} {settings.model!r} needs an API key in the environment variable {var}; "
            f"set it (export {var}=...) or choose another model=..."
        )
    return value


def build_lm(settings: LMSettings, *, replica: int, role: str = "model") -> dspy.LM:
    """A ``dspy.LM`` for ``settings``; retries are left to :class:`RecordingLM` (recorded)."""
    if not settings.model:
        raise ParameterError(f"{role}: no LiteLLM model id configured (e.g. model=openai)")
    kwargs: dict[str, Any] = dict(settings.extra)
    key = api_key(settings, role=role)
    if key is not None:
        kwargs["api_key"] = key
    if settings.api_base:
        kwargs["api_base"] = settings.api_base
    return dspy.LM(
        settings.model,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        cache=settings.cache,
        num_retries=0,
        rollout_id=int(replica),
        **kwargs,
    )


MAX_OWN_HISTORY = 10_000  # entries kept in RecordingLM.history (the transcript keeps all)


class RecordingLM(dspy.BaseLM):
    """Delegates to ``inner``, records every attempt in ``transcript`` under ``label``.

    It overrides ``__call__`` rather than implementing ``forward``: it wraps an LM that runs
    DSPy's provider pipeline itself (``forward`` subclasses are deprecated in DSPy 3.4), and
    retries must see each attempt. Calls go through DSPy's own callback decorator (the one on ``BaseLM.__call__``), so
    ``dspy.configure(callbacks=[...])`` and ``callbacks=`` see every call, and each successful
    call is added to this LM's ``history`` with the usage and cost the inner LM reported.

    ``after_end()`` tells whether the set is already complete: calls made then are counted in
    ``calls_after_end`` (the hard-stop test asserts it stays zero). ``sleep`` is injectable so
    tests of the backoff run instantly.
    """

    def __init__(
        self,
        inner: dspy.BaseLM,
        transcript: Transcript,
        label: str,
        *,
        retries: int = ModelConfig.retries,
        backoff_s: float = ModelConfig.backoff_s,
        backoff_max_s: float = ModelConfig.backoff_max_s,
        after_end: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
        callbacks: list[Any] | None = None,
        budget: SetBudget | None = None,
    ) -> None:
        super().__init__(
            model=getattr(inner, "model", "unknown"),
            model_type=getattr(inner, "model_type", "chat"),
            cache=False,
            num_retries=0,
            callbacks=callbacks,
        )
        self.inner = inner
        self.kwargs = dict(getattr(inner, "kwargs", {}) or {})
        self.transcript = transcript
        self.label = label
        self.retries = max(0, int(retries))
        self.backoff_s = float(backoff_s)
        self.backoff_max_s = float(backoff_max_s)
        self.after_end = after_end
        self.sleep = sleep
        self.budget = budget
        self.calls = 0
        self.failed_attempts = 0
        self.calls_after_end = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost = 0.0
        self.cost_known = False
        self.started: list[float] = []
        self._lock = threading.Lock()

    @with_callbacks
    def __call__(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        if self.budget is not None:
            self.budget.check()  # a spent budget sends nothing (BudgetReached)
        with self._lock:
            self.calls += 1
            self.started.append(time.perf_counter())
            if self.after_end():
                self.calls_after_end += 1
        request = messages if messages is not None else [{"role": "user", "content": prompt}]
        options = {**self.kwargs, **kwargs}
        for attempt in range(self.retries + 1):
            if attempt and self.budget is not None:
                self.budget.check()  # the wall-clock budget may run out while backing off
            before = len(getattr(self.inner, "history", []) or [])
            t0 = time.perf_counter()
            try:
                outputs = self.inner(prompt, messages=messages, **kwargs)
            except Exception as exc:
                wall = time.perf_counter() - t0
                self.failed_attempts += 1
                self.transcript.append(
                    lm=self.label, model=self.model, messages=request, options=options,
                    error=f"{type(exc).__name__}: {exc}"[:2000], attempt=attempt, wall_s=wall,
                )
                if not is_transient(exc) or attempt >= self.retries:
                    exc.add_note(self._gave_up(attempt + 1, transient=is_transient(exc)))
                    raise
                delay = min(self.backoff_max_s, self.backoff_s * 2**attempt)
                retry_after = getattr(exc, "retry_after", None)
                if isinstance(retry_after, int | float) and retry_after > 0:
                    delay = min(self.backoff_max_s, max(delay, float(retry_after)))
                log.warning("%s LM call failed (%s); retry %d/%d in %.1f s",
                            self.label, type(exc).__name__, attempt + 1, self.retries, delay)
                self.sleep(delay)
                continue
            wall = time.perf_counter() - t0
            usage, cost = history_usage(self.inner, before)
            self._account(usage, cost)
            # The inner LM already wrote DSPy's global and module histories; this LM's own
            # history gets the call too, so inspecting either LM shows it.
            self.history.append({"prompt": prompt, "messages": messages, "kwargs": kwargs,
                                 "outputs": outputs, "usage": usage, "cost": cost,
                                 "model": self.model, "model_type": self.model_type,
                                 "timestamp": datetime.datetime.now().isoformat(),
                                 "uuid": str(uuid.uuid4())})
            del self.history[:-MAX_OWN_HISTORY]
            self.transcript.append(
                lm=self.label, model=self.model, messages=request, options=options,
                outputs=outputs, usage=usage, cost=cost, attempt=attempt, wall_s=wall,
            )
            return outputs
        raise AssertionError("unreachable")  # pragma: no cover

    async def acall(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        return self(prompt, messages=messages, **kwargs)

    def _gave_up(self, attempts: int, *, transient: bool) -> str:
        """The note a final failure carries: which LM, where, after how many attempts."""
        base = self.kwargs.get("api_base") or self.kwargs.get("base_url")
        where = f" at {base}" if base else ""
        if not transient:
            return f"{self.label} LM {self.model}{where}: not retried (not a transient failure)"
        return (f"{self.label} LM {self.model}{where}: gave up after {attempts} attempt(s) "
                f"(model.retries={self.retries})")

    def _account(self, usage: dict[str, Any], cost: float | None) -> None:
        n_in = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
        n_out = int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
        if cost is None and usage:  # not reported: LiteLLM's price table, when it knows the model
            cost = token_cost(self.model, n_in, n_out)
        with self._lock:
            self.input_tokens += n_in
            self.output_tokens += n_out
            if cost is not None:
                self.cost += cost
                self.cost_known = True
        if self.budget is not None:
            self.budget.spend(n_in + n_out, cost)
