"""Structured configs: the typed schema Hydra validates every override against.

Each config group has a dataclass schema here; ``conf/<group>/*.yaml`` files set its values.
A typo'd key or a wrong type in an override fails at composition with Hydra's message.
"""

from rlmdj.config.resolvers import register_resolvers
from rlmdj.config.root import Config, register_configs

register_resolvers()

__all__ = ["Config", "register_configs", "register_resolvers"]
