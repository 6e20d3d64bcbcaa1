"""Read the DJ's ears from the composed config: whether they are on, and the budgets.

The ears scorer is not built here: the ``dj`` layer knows no scoring package. The run's
assembly (:func:`rlmdj.experiments.assemble.ears_scorer`, from ``ears.scorer`` over the run's
``scorer`` settings) hands it to the driver builder as an
:data:`~rlmdj.dj.ears.EarScorerSource`, which :func:`ears_from_config` calls only for
``ears=on``.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from rlmdj.config.bind import bind
from rlmdj.config.core import RenderConfig
from rlmdj.config.ears import EarsConfig
from rlmdj.dj.ears import Ears, EarScorerSource, need_ear_scorer

__all__ = ["ears_enabled", "ears_from_config", "ears_normalize_dbfs", "ears_settings"]


def ears_settings(cfg: DictConfig) -> EarsConfig:
    """The ``ears`` group as its schema (the schema's defaults where the group is absent)."""
    return bind(OmegaConf.select(cfg, "ears"), EarsConfig, "ears")


def ears_enabled(cfg: DictConfig) -> bool:
    """True for ``ears=on`` (``ears.enabled``)."""
    return ears_settings(cfg).enabled


def ears_normalize_dbfs(cfg: DictConfig) -> float | None:
    """The peak level stretches are heard at: ``render.normalize_dbfs``, as the whole set is."""
    return bind(OmegaConf.select(cfg, "render"), RenderConfig, "render").normalize_dbfs


def ears_from_config(cfg: DictConfig, ear_scorer: EarScorerSource | None) -> Ears | None:
    """:class:`Ears` for ``ears=on`` (``ear_scorer`` is called then), else ``None``."""
    settings = ears_settings(cfg)
    if not settings.enabled:
        return None
    return Ears(scorer=need_ear_scorer(ear_scorer, "ears=on"), settings=settings,
                normalize_dbfs=ears_normalize_dbfs(cfg))
