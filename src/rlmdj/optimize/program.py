"""GEPA's view of the RLM DJ: a candidate is ``{"instructions": <prompt text>}``, an example is a
brief's replica, and evaluating one plays the set (:class:`~rlmdj.optimize.rollout.Rollouts`).

Why ``gepa.optimize`` with this adapter and not ``dspy.GEPA``: dspy.GEPA optimises the
instructions of a program's predictors and builds the reflective dataset from the traces of
those predictors' calls. The prompt here is not a predictor's instruction: it is the DJ prompt
file the RLM driver wraps in its own scaffold, and one "call" is a whole set of many RLM turns,
tool calls and a render. An adapter that plays the set and returns the set's own feedback
(:mod:`rlmdj.optimize.feedback`) optimises exactly the prompt text, with nothing of DSPy's
signature text around it.

A failed rollout reaches GEPA as ``-inf``: not a score but "no value". GEPA's comparisons stay
defined (a failure never joins the Pareto front, any real score beats it), the acceptance
criterion and the final selection read the rollouts themselves and drop failed pairs, and the
reflection sees the failure's message as that example's feedback.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from rlmdj.errors import ParameterError
from rlmdj.optimize.briefs import Brief, Splits
from rlmdj.optimize.rollout import Rollout, Rollouts

__all__ = ["COMPONENT", "FAILED", "DJAdapter", "Example", "ReflectionLM", "reflection_key", "scorer_for"]

COMPONENT = "instructions"
FAILED = -math.inf


@dataclass(frozen=True)
class Example:
    """One GEPA example: a brief's replica, in a split."""

    brief: Brief
    replica: int
    split: str


class DJAdapter:
    """``gepa.core.adapter.GEPAAdapter`` for the RLM DJ's prompt text."""

    propose_new_texts = None  # GEPA's own reflective proposer, with the reflection LM given

    def __init__(self, rollouts: Rollouts) -> None:
        self.rollouts = rollouts

    def evaluate(self, batch: list[Example], candidate: dict[str, str], capture_traces: bool = False) -> Any:
        from gepa import EvaluationBatch

        done = [self.rollouts.evaluate(candidate[COMPONENT], e.brief, e.replica, split=e.split) for e in batch]
        scores = [FAILED if r.failed or r.obj is None else float(r.obj) for r in done]
        return EvaluationBatch(outputs=done, scores=scores, trajectories=done if capture_traces else None)

    def make_reflective_dataset(self, candidate: dict[str, str], eval_batch: Any,
                                components_to_update: list[str]) -> dict[str, list[dict[str, Any]]]:
        rows = []
        for r in eval_batch.trajectories or eval_batch.outputs:
            rows.append({
                "Inputs": f"brief {r.brief} (palette, bars, seed), replica {r.replica}",
                "Generated Outputs": ("the set FAILED: " + r.error) if r.failed else f"a set scoring OBJ {r.obj:.3f}",
                "Feedback": r.feedback,
            })
        return {c: rows for c in components_to_update}


def scorer_for(rollouts: Rollouts, splits: Splits, train: list[Example]) -> Any:
    """``score(candidate, data_id, replica) -> OBJ`` for the acceptance test and the confirmation:
    ``data_id`` is a train example's index (GEPA's ids) or a brief id; a failed rollout raises
    :class:`~rlmdj.optimize.pairs.FailedRollout`."""
    from rlmdj.optimize.pairs import FailedRollout

    by_id = {b.id: (b, split) for split in ("train", "val", "heldout") for b in getattr(splits, split)}

    def score(candidate: dict[str, str], data_id: Any, replica: int) -> float:
        if isinstance(data_id, int):
            brief, split = train[data_id].brief, "train"
        else:
            brief, split = by_id[str(data_id)]
        r: Rollout = rollouts.evaluate(candidate[COMPONENT], brief, int(replica), split=split)
        if r.failed or r.obj is None:
            raise FailedRollout(r.error or "the set failed")
        return float(r.obj)

    return score


# ------------------------------------------------------------------------ the reflection model
def reflection_settings(cfg: DictConfig) -> tuple[str, str | None, str | None]:
    """``(model, key variable, api_base)`` of the reflection model; null settings take the DJ's."""
    s = cfg.experiment.optimize
    if s.reflection_model is None:
        return str(cfg.model.model or ""), cfg.model.api_key_env, cfg.model.api_base
    return str(s.reflection_model), s.reflection_api_key_env, s.reflection_api_base


def reflection_key(cfg: DictConfig) -> str | None:
    """The reflection model's API key from the environment (None: it needs none), or one
    ParameterError naming the key to set: the variable named, else the provider's usual one."""
    model, env, base = reflection_settings(cfg)
    key = "experiment.optimize.reflection_api_key_env"
    if not model:
        raise ParameterError("experiment.optimize.reflection_model is not set and the DJ has no model; "
                             "set model=... or experiment.optimize.reflection_model=<LiteLLM id>")
    if env:
        value = os.environ.get(str(env), "").strip()
        if not value:
            raise ParameterError(f"reflection model {model!r} needs an API key in the environment variable "
                                 f"{env} ({key}); export {env}=...")
        return value
    if base or cfg.experiment.optimize.reflection_model is None:
        return None  # a local server, or the DJ's own model (its key is the DJ's check)
    import litellm

    missing = list(litellm.validate_environment(model=model).get("missing_keys") or [])
    if missing:
        raise ParameterError(f"reflection model {model!r} needs {', '.join(missing)} in the environment "
                             f"(or name the variable with {key}=...)")
    return None


class ReflectionLM:
    """GEPA's reflection LM: a ``dspy.LM`` (retries, cost in its history), called with the
    proposal prompt, returning the text. ``cost_usd`` is what it has spent."""

    def __init__(self, cfg: DictConfig) -> None:
        import dspy

        model, _, base = reflection_settings(cfg)
        s = cfg.experiment.optimize
        kwargs: dict[str, Any] = {"temperature": s.reflection_temperature, "max_tokens": s.reflection_max_tokens,
                                  "cache": False, "num_retries": int(cfg.model.retries)}
        key = reflection_key(cfg)
        if key is None and s.reflection_model is None and cfg.model.api_key_env:
            key = os.environ.get(str(cfg.model.api_key_env))
        if key:
            kwargs["api_key"] = key
        if base:
            kwargs["api_base"] = base
        if s.reflection_model is None:
            kwargs.update(dict(cfg.model.extra or {}))
        self.lm = dspy.LM(model, **kwargs)
        self.model = model
        self.calls = 0

    def __call__(self, prompt: str | list[dict[str, Any]]) -> str:
        self.calls += 1
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        out = self.lm(messages=messages)
        first = out[0] if out else ""
        return str(first.get("text", "") if isinstance(first, dict) else first)

    @property
    def cost_usd(self) -> float:
        return float(sum(float(h.get("cost") or 0.0) for h in self.lm.history))
