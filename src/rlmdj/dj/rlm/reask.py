"""Re-ask the model when its reply cannot be parsed, within the run's retry budget.

DSPy's ``ChatAdapter`` already retries a reply it cannot parse once through its JSON fallback;
when that fails too it raises ``AdapterParseError`` and the RLM run dies with a traceback. A
reply in the wrong format is a transient failure of the model like a rate limit, so
:class:`ReaskingAdapter` asks again (the same request, a new sample) up to ``retries`` times,
counts the re-asks, and then fails with :class:`ModelReplyError`: one line that says how many
replies were unparsable and what the last one looked like.

``flat=True`` (the lean scaffold) leaves the instructions unindented: DSPy's ``ChatAdapter``
indents every line of them by eight spaces, some 700 characters of a baseline request.
"""

from __future__ import annotations

import logging
from typing import Any

import dspy

from rlmdj.config.dj import ModelConfig
from rlmdj.dj.rlm.dspy_compat import AdapterParseError, flat_task_description
from rlmdj.errors import EnvironmentProblem

__all__ = ["ModelReplyError", "ReaskingAdapter"]

log = logging.getLogger(__name__)


class ModelReplyError(EnvironmentProblem):
    """The model kept answering in a format DSPy cannot parse."""


class ReaskingAdapter(dspy.ChatAdapter):
    """``ChatAdapter`` that re-asks up to ``retries`` times after an unparsable reply."""

    def __init__(self, retries: int = ModelConfig.retries, *, flat: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retries = max(0, int(retries))
        self.flat = flat
        self.reasks = 0

    def format_task_description(self, signature: Any) -> str:
        if self.flat:
            return flat_task_description(signature)
        return super().format_task_description(signature)

    def _unparsable(self, exc: AdapterParseError, attempt: int) -> None:
        """Count a re-ask after unparsable reply ``attempt`` (from 0), or raise
        :class:`ModelReplyError` once the retries are spent."""
        if attempt == self.retries:
            reply = " ".join(str(getattr(exc, "lm_response", "") or "").split())[:160]
            raise ModelReplyError(
                f"the model's reply could not be parsed {attempt + 1} time(s) in a row (model.retries="
                f"{self.retries}); last reply began: {reply!r}. Check that model=... is a chat "
                "model that follows instructions, or raise model.max_tokens if replies are cut off"
            ) from exc
        self.reasks += 1
        log.warning("unparsable model reply; asking again (%d/%d)", attempt + 1, self.retries)

    def __call__(self, lm: Any, lm_kwargs: dict[str, Any], signature: Any, demos: list[dict[str, Any]],
                 inputs: dict[str, Any]) -> list[dict[str, Any]]:
        for attempt in range(self.retries + 1):
            try:
                return super().__call__(lm, lm_kwargs, signature, demos, inputs)
            except AdapterParseError as exc:
                self._unparsable(exc, attempt)
        raise AssertionError("unreachable")

    async def acall(self, lm: Any, lm_kwargs: dict[str, Any], signature: Any,
                    demos: list[dict[str, Any]], inputs: dict[str, Any]) -> list[dict[str, Any]]:
        for attempt in range(self.retries + 1):
            try:
                return await super().acall(lm, lm_kwargs, signature, demos, inputs)
            except AdapterParseError as exc:
                self._unparsable(exc, attempt)
        raise AssertionError("unreachable")
