"""Build the driver named by ``dj.driver`` from the composed config.

Each entry imports its driver lazily, so the offline drivers never import DSPy.
"""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig

from rlmdj.dj.driver import Driver
from rlmdj.errors import ParameterError

__all__ = ["DRIVERS", "build_driver"]


def _reference(cfg: DictConfig) -> Driver:
    from rlmdj.dj.reference import ReferenceDriver

    return ReferenceDriver()


def _random(cfg: DictConfig) -> Driver:
    from rlmdj.dj import guardrails as g
    from rlmdj.dj.random_driver import RandomDriver
    from rlmdj.seeding import seed_for

    # The same guardrails the LLM's tool layer applies, configured by the guardrails group.
    build = getattr(g, "guardrails_from_config", None)
    if build is not None:
        rails = build(cfg.guardrails)
    else:
        gcfg = cfg.get("guardrails") or {}
        switches = {k: bool(gcfg[k]) for k in ("gain_cap", "density", "loop_type") if k in gcfg}
        if "gain_caps" in gcfg:
            switches["gain_caps"] = dict(gcfg["gain_caps"])
        rails = g.Guardrails(g.GuardrailSettings(**switches))
    return RandomDriver(seed=seed_for(int(cfg.replica), "random_driver"), guardrails=rails)


def _rlm(cfg: DictConfig) -> Driver:
    from rlmdj.dj.rlm import rlm_driver_from_config

    return rlm_driver_from_config(cfg)


DRIVERS: dict[str, Callable[[DictConfig], Driver]] = {
    "reference": _reference,
    "random": _random,
    "rlm": _rlm,
}


def build_driver(cfg: DictConfig) -> Driver:
    """The driver for ``cfg.dj.driver``; an unknown name lists the available ones."""
    name = str(cfg.dj.driver)
    try:
        factory = DRIVERS[name]
    except KeyError:
        raise ParameterError(
            f"unknown dj driver {name!r}; available: {', '.join(sorted(DRIVERS))} (e.g. dj=reference)"
        ) from None
    return factory(cfg)
