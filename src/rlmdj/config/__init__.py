"""Structured configs: the typed schema Hydra validates every override against.

Each config group has a dataclass schema here, the one place its defaults are written;
``conf/<group>/*.yaml`` files set only what an option changes. A typo'd key or a wrong type in an
override fails at composition with Hydra's message. :func:`register_configs` puts the schema and
the palette files (``palette=<file stem>``) in Hydra's ConfigStore, for the ``rlmdj`` command and
the compose API alike.
"""

from rlmdj.config.resolvers import register_resolvers
from rlmdj.config.root import Config, register_configs

register_resolvers()

__all__ = ["Config", "register_configs", "register_resolvers"]
