"""Read the DJ's ears from the composed config: whether they are on, and the budgets.

The ears scorer is not built here: the ``dj`` layer knows no scoring package. The run's
assembly (:func:`rlmdj.experiments.assemble.ears_scorer`, from ``ears.scorer`` over the run's
``scorer`` settings) hands it to the driver builder as an
:data:`~rlmdj.dj.ears.EarScorerSource`, which :func:`ears_from_config` calls only for
``ears=on``.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from rlmdj.dj.ears import Ears, EarScorerSource, EarsSettings, need_ear_scorer

__all__ = ["ears_enabled", "ears_from_config", "ears_settings"]


def ears_enabled(cfg: DictConfig) -> bool:
    """True for ``ears=on`` (``ears.enabled``)."""
    return bool(OmegaConf.select(cfg, "ears.enabled", default=False))


def ears_settings(cfg: DictConfig) -> EarsSettings:
    """Budgets from ``ears.*`` (schema defaults where the group is absent)."""
    node = OmegaConf.select(cfg, "ears", default=None)
    get = (lambda k, d: node.get(k, d)) if node is not None else (lambda k, d: d)  # noqa: E731
    d = EarsSettings()
    normalize = OmegaConf.select(cfg, "render.normalize_dbfs", default=d.normalize_dbfs)
    return EarsSettings(
        max_listens=int(get("max_listens", d.max_listens)),
        max_auditions=int(get("max_auditions", d.max_auditions)),
        max_moves=int(get("max_moves", d.max_moves)),
        max_chars=int(get("max_chars", d.max_chars)),
        normalize_dbfs=None if normalize is None else float(normalize),
    )


def ears_from_config(cfg: DictConfig, ear_scorer: EarScorerSource | None) -> Ears | None:
    """:class:`Ears` for ``ears=on`` (``ear_scorer`` is called then), else ``None``."""
    if not ears_enabled(cfg):
        return None
    return Ears(scorer=need_ear_scorer(ear_scorer, "ears=on"), settings=ears_settings(cfg))
