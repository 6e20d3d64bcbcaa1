"""Structured configs: the typed schema Hydra validates every override against.

Each config group has a dataclass schema here, the one place its defaults are written;
``conf/<group>/*.yaml`` files set only what an option changes. A typo'd key or a wrong type in an
override fails at composition with Hydra's message. :func:`register_configs` puts the schema and
the palette files (``palette=<file stem>``) in Hydra's ConfigStore, for the ``rlmdj`` command and
the compose API alike. :func:`bind` turns a composed node into its schema dataclass, which is what
components take.

The schema: :mod:`~rlmdj.config.root` (the root config), :mod:`~rlmdj.config.core` (samples,
render, palette, tracking, paths), :mod:`~rlmdj.config.dj`, :mod:`~rlmdj.config.ears`,
:mod:`~rlmdj.config.scorer`, :mod:`~rlmdj.config.experiment` (with
:mod:`~rlmdj.config.optimize`, the prompt optimisation's settings). Around it:
:mod:`~rlmdj.config.bind`, :mod:`~rlmdj.config.resolvers`, :mod:`~rlmdj.config.palettes` (palette
files as options) and :mod:`~rlmdj.config.override_check` (command-line keys checked first).

The schema modules themselves import only the standard library (and :mod:`rlmdj.errors`), so the
scoring server reads its defaults from them in an image without OmegaConf or Hydra (the Modal
app): there, only the registration and binding below are missing.
"""

try:
    from rlmdj.config.bind import bind
    from rlmdj.config.resolvers import register_resolvers
    from rlmdj.config.root import Config, register_configs
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by tests/config/test_single_source.py
    if exc.name not in ("omegaconf", "hydra"):
        raise
else:
    register_resolvers()

__all__ = ["Config", "bind", "register_configs", "register_resolvers"]
