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


DRIVERS: dict[str, Callable[[DictConfig], Driver]] = {
    "reference": _reference,
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
