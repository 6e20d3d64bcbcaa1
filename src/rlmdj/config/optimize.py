"""Schema of ``experiment.optimize``: what ``rlmdj experiment=optimize_prompt`` optimises with.

GEPA rewrites the RLM DJ's instructions (``prompt=<name>``): a candidate is played on *briefs*
(a palette, a set length in ``bars`` and a seed) drawn from ``palettes`` into train, validation
and held-out sets with no palette in two sets. ``palettes`` empty: the curated palettes, else a
fresh screening of ``experiment.screen.n`` palettes; ``seed`` deals them (null: a fixed seed of its own). ``minibatch`` train briefs per reflection;
a candidate's minibatch comparison adds replicas up to ``max_replicas`` per decision at level
``alpha`` (paired, replica-aware); ``val_replicas`` replicas per validation brief feed the lower
confidence bound the final choice is made by; ``confirm_max_pairs`` held-out pairs at most
confirm it against the starting prompt (``confirm_delta``: the smallest OBJ gain worth having). ``reflection_model`` is any LiteLLM id (null: the DJ's
``model.model``), its key in the environment variable ``reflection_api_key_env`` (null: the
provider's usual variable, or none with ``reflection_api_base``). Budgets, each a hard stop
with its reason recorded: ``max_metric_calls`` sets played, ``max_cost_usd`` (every LM,
reflection included) and ``max_wall_s``. The chosen prompt is written as
``prompts/<name>_opt_<k>.txt`` (``out_name`` replaces ``<name>``).
"""

from __future__ import annotations

# OmegaConf structured configs are written with typing.Optional, as in config/core.py.
# ruff: noqa: UP045
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["OptimizeConfig"]


@dataclass
class OptimizeConfig:
    """``experiment.optimize.*`` (see the module docstring)."""

    palettes: list[str] = field(default_factory=list)
    n_train: int = 4
    n_val: int = 3
    n_heldout: int = 3
    bars: int = 32
    seed: Optional[int] = None
    minibatch: int = 4
    max_replicas: int = 10
    val_replicas: int = 2
    alpha: float = 0.05
    confirm_max_pairs: int = 48
    confirm_delta: float = 0.3
    reflection_model: Optional[str] = None
    reflection_api_key_env: Optional[str] = None
    reflection_api_base: Optional[str] = None
    reflection_temperature: Optional[float] = 1.0
    reflection_max_tokens: Optional[int] = 8000
    max_metric_calls: int = 150
    max_cost_usd: Optional[float] = None
    max_wall_s: Optional[float] = None
    out_name: Optional[str] = None
