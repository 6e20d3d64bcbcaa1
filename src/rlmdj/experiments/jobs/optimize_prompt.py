"""``rlmdj experiment=optimize_prompt``: optimise the RLM DJ's instructions (``prompt=<name>``) with GEPA.

The study (:mod:`rlmdj.optimize.study`) plays every candidate prompt on briefs as child runs,
accepts a rewrite only on a paired, replica-aware test, chooses the final prompt by its lower
confidence bound on validation and confirms it against the start on held-out briefs; the chosen
text becomes ``prompts/<name>_opt_<k>.txt``. This module is the job and its preflight check:
every bad setting is one line naming its key, before any LM call and before any run opens.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from omegaconf import DictConfig

from rlmdj.config.optimize import OptimizeConfig
from rlmdj.errors import ParameterError

__all__ = ["check", "optimize_job"]

_KEY = "experiment.optimize"


def check(cfg: DictConfig) -> None:
    """The common checks and the RLM DJ's (model, key, prompt file), then ``experiment.optimize.*``:
    ranges, alpha in (0, 0.5), the reflection model's key, enough palettes for the three sets and
    a metric-call budget that holds one GEPA iteration."""
    from rlmdj.config import bind
    from rlmdj.experiments.cli.preflight import check_common, check_driver
    from rlmdj.optimize.budget import iteration_calls
    from rlmdj.optimize.program import reflection_key
    from rlmdj.validation import number, setting

    check_common(cfg)
    if str(setting(cfg, "dj.driver")) != "rlm":
        raise ParameterError(f"experiment=optimize_prompt optimises the RLM DJ's prompt; dj.driver must be rlm, "
                             f"got {setting(cfg, 'dj.driver')!r} (e.g. dj=rlm)")
    if not setting(cfg, "prompt.path"):
        raise ParameterError("prompt: experiment=optimize_prompt needs a prompt to start from, "
                             f"got prompt={setting(cfg, 'prompt.name')} (e.g. prompt=baseline)")
    check_driver(cfg)  # model, its key, the prompt file
    if not setting(cfg, "tracking.enabled"):
        raise ParameterError("tracking.enabled=false: the study keeps its candidates, state and sets in MLflow; "
                             "set tracking.enabled=true")
    for name, lo in (("n_train", 1), ("n_val", 1), ("n_heldout", 1), ("minibatch", 1), ("max_replicas", 1),
                     ("val_replicas", 1), ("confirm_max_pairs", 2)):
        number(cfg, f"{_KEY}.{name}", lo=lo, hi=10_000, integer=True, example=getattr(OptimizeConfig, name))
    number(cfg, f"{_KEY}.bars", lo=1, hi=4096, integer=True, example=OptimizeConfig.bars)
    number(cfg, f"{_KEY}.seed", lo=0, hi=2**32 - 1, integer=True, example=0, optional=True)
    alpha = number(cfg, f"{_KEY}.alpha", example=OptimizeConfig.alpha)
    if not 0 < float(alpha or 0) < 0.5:
        raise ParameterError(f"{_KEY}.alpha must be between 0 and 0.5, both excluded, got {alpha:g} "
                             f"(e.g. {_KEY}.alpha={OptimizeConfig.alpha})")
    number(cfg, f"{_KEY}.max_metric_calls", lo=1, integer=True, example=OptimizeConfig.max_metric_calls)
    number(cfg, f"{_KEY}.max_cost_usd", lo=0, example=5, optional=True)
    number(cfg, f"{_KEY}.max_wall_s", lo=1, example=3600, optional=True)
    number(cfg, f"{_KEY}.reflection_temperature", lo=0, hi=2, example=1.0, optional=True)
    number(cfg, f"{_KEY}.reflection_max_tokens", lo=1, integer=True, example=8000, optional=True)
    s = bind(cfg.experiment.optimize, OptimizeConfig, _KEY)
    if s.minibatch > s.n_train:
        raise ParameterError(f"{_KEY}.minibatch ({s.minibatch}) must be at most {_KEY}.n_train ({s.n_train})")
    need = iteration_calls(s)
    if s.max_metric_calls < need:
        raise ParameterError(f"{_KEY}.max_metric_calls={s.max_metric_calls} is below one GEPA iteration ({need} "
                             f"sets: validation of the start and of one candidate, {s.val_replicas} replica(s) "
                             f"of {s.n_val} briefs each, and two minibatches of {s.minibatch}); "
                             f"e.g. {_KEY}.max_metric_calls={max(need, OptimizeConfig.max_metric_calls)}")
    _check_decidable(s)
    if s.out_name is not None and not s.out_name.replace("_", "").replace("-", "").isalnum():
        raise ParameterError(f"{_KEY}.out_name={s.out_name!r}: letters, digits, '_' and '-' only")
    reflection_key(cfg)
    _check_reflection_lm(cfg)
    _check_palettes(cfg, s)


def _fewest_pairs(multiplier: Callable[..., float], alpha: float, prior_effect: float) -> int:
    """The fewest pairs at which a confidence sequence can exclude anything at all."""
    return next(n for n in range(2, 100_000)
                if math.isfinite(multiplier(n, alpha=alpha, prior_effect=prior_effect)))


def _check_decidable(s: OptimizeConfig) -> None:
    """Caps too small for the tests ever to decide: at a few pairs an anytime-valid bound is
    still infinite whatever the data say, so every child would be rejected as undecided and the
    confirmation would end undecided however large the gain."""
    from rlmdj.analysis.sequential import cs_multiplier, lower_multiplier
    from rlmdj.optimize.acceptance import PRIOR_EFFECT
    from rlmdj.optimize.confirmation import CONFIRM_PRIOR_EFFECT

    need = _fewest_pairs(lower_multiplier, s.alpha, PRIOR_EFFECT)
    if s.minibatch * s.max_replicas < need:
        raise ParameterError(
            f"{_KEY}.max_replicas={s.max_replicas} with {_KEY}.minibatch={s.minibatch} allows "
            f"{s.minibatch * s.max_replicas} pair(s) per acceptance decision; the paired test at alpha={s.alpha:g} "
            f"cannot accept with fewer than {need}, so no rewrite could be accepted "
            f"(e.g. {_KEY}.max_replicas={-(-need // s.minibatch)})")
    need = _fewest_pairs(cs_multiplier, s.alpha, CONFIRM_PRIOR_EFFECT)
    if s.confirm_max_pairs < need:
        raise ParameterError(
            f"{_KEY}.confirm_max_pairs={s.confirm_max_pairs}: the held-out confirmation at alpha={s.alpha:g} "
            f"cannot reach a verdict with fewer than {need} pairs "
            f"(e.g. {_KEY}.confirm_max_pairs={max(need, OptimizeConfig.confirm_max_pairs)})")


def _check_reflection_lm(cfg: DictConfig) -> None:
    """The reflection model can be built with these settings (DSPy refuses some, e.g. a reasoning
    model's temperature or token limit), checked here rather than after the run opened."""
    import dspy

    from rlmdj.optimize.program import ReflectionLM

    try:
        ReflectionLM(cfg)
    except (ValueError, TypeError, dspy.LMError) as exc:
        raise ParameterError(f"{_KEY}.reflection_model: {str(exc).splitlines()[0]}") from None


def _check_palettes(cfg: DictConfig, s: object) -> None:
    from rlmdj.optimize.briefs import needed_palettes, palette_files

    need = needed_palettes(s)  # type: ignore[arg-type]
    files = palette_files(cfg, s)  # type: ignore[arg-type]
    if files:
        if len(files) < need:
            where = f"{_KEY}.palettes" if s.palettes else f"{_KEY}.palettes (empty: the curated palettes)"  # type: ignore[attr-defined]
            raise ParameterError(f"{where}: {len(files)} palettes, the train, validation and held-out sets need "
                                 f"{need} (one each, none in two sets); name more or lower "
                                 f"{_KEY}.n_train/n_val/n_heldout")
        return
    screened = int(cfg.experiment.screen.n)
    if screened < need:
        raise ParameterError(f"{_KEY}.palettes is empty and no palette is curated: a fresh screening of "
                             f"experiment.screen.n={screened} palettes cannot fill the three sets ({need}); "
                             f"e.g. experiment.screen.n={max(need, 20)}")


def optimize_job(cfg: DictConfig) -> float | None:
    """Run the study, print its final table; returns the chosen prompt's validation LCB."""
    from rlmdj.optimize.study import run_study

    return run_study(cfg)
