"""rlmdj: an experiment platform for an LLM DJ.

Layers import one way: ``audio`` <- ``dj`` <- ``scoring`` / ``tracking`` <- ``experiments``
(``analysis`` and ``search`` beside ``tracking``; ``config`` under all of them):

- :mod:`rlmdj.audio`, :mod:`rlmdj.dj`, :mod:`rlmdj.scoring`, :mod:`rlmdj.tracking`,
  :mod:`rlmdj.analysis`, :mod:`rlmdj.search`, :mod:`rlmdj.experiments`: the layers;
  :mod:`rlmdj.config`: the typed schema of every setting; :mod:`rlmdj.optimize`: prompt
  optimisation (GEPA over the DJ's instructions), on top of ``experiments``.
- :mod:`~rlmdj.registry`: the one ``Registry`` every extension point is, and plug-in loading;
  :mod:`~rlmdj.validation`: what a registry entry's ``check(cfg)`` is written with.
- :mod:`~rlmdj.errors` (re-exported here), :mod:`~rlmdj.failures`: errors, and one line for each.
- :mod:`~rlmdj.axes`, :mod:`~rlmdj.seeding`, :mod:`~rlmdj.resources`: score axes, seeds, files.
- :mod:`~rlmdj.secrets`, :mod:`~rlmdj.masked_console`: secrets kept out of records and the terminal.
- :mod:`~rlmdj.cli`: the ``rlmdj`` command.
"""

from rlmdj.errors import ParameterError, RlmdjError

__all__ = ["ParameterError", "RlmdjError", "__version__"]
__version__ = "0.1.0"
