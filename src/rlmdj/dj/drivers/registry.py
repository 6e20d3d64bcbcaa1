"""The DJ drivers ``dj.driver`` can name, as a :class:`~rlmdj.registry.Registry` of builders.

A builder takes the composed config and, keyword-only, ``ear_scorer``: an
:data:`~rlmdj.dj.ears.EarScorerSource` the run's assembly injects
(:func:`rlmdj.experiments.assemble.make_driver`), since this layer builds no scorers. A driver
that hears (``dj=greedy``, ``dj=rlm ears=on``) calls it; the others ignore it. Built-ins are lazy
``"module:function"`` entries, so the offline drivers never import DSPy; so are their checks,
which the preflight runs for the driver ``dj.driver`` names. To add a driver: write the class,
its ``from_config(cfg, *, ear_scorer=None)`` and its ``check(cfg)`` in
``rlmdj/dj/drivers/<name>.py`` and add one line to ``DRIVERS`` (``dj=<name>`` is then an option;
docs/architecture.md, "Add a DJ driver").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from omegaconf import DictConfig

from rlmdj.dj.drivers.base import Driver
from rlmdj.registry import Registry

if TYPE_CHECKING:
    from rlmdj.dj.ears import EarScorerSource

__all__ = ["DRIVERS", "DriverBuilder", "build_driver"]


class DriverBuilder(Protocol):
    """``builder(cfg, *, ear_scorer)``: the driver ``cfg`` describes, hearing through ``ear_scorer``."""

    def __call__(self, cfg: DictConfig, *, ear_scorer: EarScorerSource | None = None) -> Driver: ...


DRIVERS: Registry[DriverBuilder] = Registry(
    "dj driver",
    key="dj.driver",
    example="dj=reference",
    entries={
        "reference": "rlmdj.dj.drivers.reference:from_config",
        "random": "rlmdj.dj.drivers.random:from_config",
        "rlm": "rlmdj.dj.rlm.driver:rlm_driver_from_config",
        "greedy": "rlmdj.dj.drivers.greedy:from_config",
    },
    checks={
        "random": "rlmdj.dj.tools.registry:check_tools",
        "rlm": "rlmdj.dj.rlm_inputs:check",
        "greedy": "rlmdj.dj.drivers.greedy:check",
    },
)


def build_driver(cfg: DictConfig, *, ear_scorer: EarScorerSource | None = None) -> Driver:
    """The driver for ``cfg.dj.driver``; an unknown name lists the available ones.

    ``ear_scorer`` builds the ears scorer for a driver that hears; without it such a driver
    cannot be built (the run passes :func:`rlmdj.experiments.assemble.ears_scorer`).
    """
    return DRIVERS.get(str(cfg.dj.driver))(cfg, ear_scorer=ear_scorer)
