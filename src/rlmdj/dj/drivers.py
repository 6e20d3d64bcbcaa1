"""The DJ drivers ``dj.driver`` can name, as a :class:`~rlmdj.registry.Registry` of builders.

A builder takes the composed config and returns a :class:`~rlmdj.dj.driver.Driver`. Built-ins
are lazy ``"module:function"`` entries, so the offline drivers never import DSPy. To add a
driver: write the class and its ``from_config(cfg)`` in ``rlmdj/dj/<name>.py``, add one line to
``DRIVERS``, and a ``conf/dj/<name>.yaml`` with ``name`` and ``driver`` set to it.
"""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig

from rlmdj.dj.driver import Driver
from rlmdj.registry import Registry

__all__ = ["DRIVERS", "DriverBuilder", "build_driver"]

DriverBuilder = Callable[[DictConfig], Driver]

DRIVERS: Registry[DriverBuilder] = Registry(
    "dj driver",
    key="dj.driver",
    example="dj=reference",
    entries={
        "reference": "rlmdj.dj.reference:from_config",
        "random": "rlmdj.dj.random_driver:from_config",
        "rlm": "rlmdj.dj.rlm:rlm_driver_from_config",
        "greedy": "rlmdj.dj.greedy:from_config",
    },
)


def build_driver(cfg: DictConfig) -> Driver:
    """The driver for ``cfg.dj.driver``; an unknown name lists the available ones."""
    return DRIVERS.get(str(cfg.dj.driver))(cfg)
