"""Build the DJ's ears from the composed config: the ears scorer and the budgets.

This is the one place the ``dj`` package reaches the scoring package, lazily, when a driver is
built from config (a composition root); :mod:`rlmdj.dj.ears` itself only sees the scorer
protocol. ``ears.scorer`` names a scorer kind for the ears; ``null`` means the run's own.
Either way the run's scorer settings and OBJ weights apply, so ears and the final score agree.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.dj.ears import Ears, EarScorer, EarsSettings
from rlmdj.errors import ParameterError

__all__ = ["ears_enabled", "ears_from_config", "ears_scorer", "ears_settings"]


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


def ears_scorer(cfg: DictConfig) -> EarScorer:
    """The ears scorer: ``ears.scorer`` (a kind) over the run's ``scorer`` settings, else the run's."""
    from rlmdj.scoring.factory import build_scorer

    node: dict[str, Any] = OmegaConf.to_container(cfg.scorer, resolve=True)  # type: ignore[assignment]
    kind = OmegaConf.select(cfg, "ears.scorer", default=None)
    if not kind:
        return build_scorer(node)
    node["name"] = str(kind)
    try:
        return build_scorer(node)
    except ParameterError as exc:
        raise ParameterError(f"ears.scorer={kind}: {exc}") from None


def ears_from_config(cfg: DictConfig) -> Ears | None:
    """:class:`Ears` for ``ears=on``, else ``None``."""
    if not ears_enabled(cfg):
        return None
    return Ears(scorer=ears_scorer(cfg), settings=ears_settings(cfg))
